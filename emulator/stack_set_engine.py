"""StackSet operations as CloudFormation runs them: in the background, instance by instance.

An operation is accepted at once (QUEUED, then RUNNING) and ends SUCCEEDED, FAILED or STOPPED.
Each account and Region gets a result (SUCCEEDED, FAILED with the stack's own reason, or
CANCELLED when the operation stopped before reaching it). The instance's status follows the
real outcome of its stack: CURRENT when the stack reached the StackSet's template, OUTDATED when
its create or update failed (a rolled-back stack is not CURRENT), INOPERABLE when its delete
failed. Creates and updates run the stack in the target account and Region through the
emulator's CloudFormation engine, so a resource that cannot be created there (a key pair name
already taken) fails that instance and no other.

Operation preferences: Regions in the order given (RegionOrder), sequentially unless
RegionConcurrencyType is PARALLEL; FailureToleranceCount/Percentage per Region: past it the
Region stops (its remaining accounts CANCELLED) and the operation FAILS, and with sequential
Regions the later Regions are not attempted. One operation runs at a time per StackSet: another
request meanwhile is refused (OperationInProgressException) unless ManagedExecution is active,
which queues it. Automatic deployments always queue.

Each instance step waits `STEP_SECONDS` and passes the fault hold point `StackSetInstance`
(`annex_emulator.faults`), so a test can catch an operation RUNNING, or stop it, at a moment it
chooses rather than racing a timer.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import Stack, cloudformation_backends
from moto.core.utils import utcnow

from annex_emulator import faults, organization
from annex_emulator.stack_drift import stack_drift
from annex_emulator.stack_set_model import Instance, Operation, Result, StackSet, all_stack_sets

#: What each instance step takes at least: StackSet operations are never instantaneous on AWS.
STEP_SECONDS = 0.05
#: The hold point a test names in `hold_actions` to hold every instance step.
HOLD_POINT = "StackSetInstance"
#: Stack states in which the stack holds the StackSet's template.
_DONE = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})


class OperationInProgress(ValidationError):
    code = "OperationInProgressException"


def submit(stack_set: StackSet, operation: Operation, *, queue: bool = False) -> None:
    """Start `operation`, or queue it behind the running one (ManagedExecution, automatic
    deployment); else refuse it as AWS does while another operation runs."""
    with stack_set.lock:
        busy = stack_set.busy()
        if not (queue or stack_set.managed_execution):
            refuse_if_busy(stack_set)
        stack_set.operations.append(operation)
        if busy:
            return
    threading.Thread(
        target=_drain, args=(stack_set,), name=f"stackset-{stack_set.name}", daemon=True
    ).start()


def refuse_if_busy(stack_set: StackSet) -> None:
    if stack_set.busy():
        raise OperationInProgress(
            message=f"Another Operation on StackSet {stack_set.arn} is in progress"
        )


def stop(stack_set: StackSet, operation: Operation) -> None:
    with stack_set.lock:
        if operation.status == "QUEUED":
            _cancel(operation.results, "Operation was stopped")
            _end(stack_set, operation, "STOPPED")
        elif operation.status == "RUNNING":
            operation.stop_requested = True
            operation.status = "STOPPING"


def _drain(stack_set: StackSet) -> None:
    """Run the StackSet's queued operations, one at a time, until none is left."""
    while True:
        with stack_set.lock:
            operation = next((o for o in stack_set.operations if o.status == "QUEUED"), None)
            if operation is None:
                return
            operation.status = "RUNNING"
        try:
            _run(stack_set, operation)
        except Exception as exc:  # the operation fails; the emulator keeps serving
            with stack_set.lock:
                _cancel(operation.results, "Operation failed")
                operation.reason = f"Internal failure: {exc}"
                _end(stack_set, operation, "FAILED")


def _end(stack_set: StackSet, operation: Operation, status: str) -> None:
    operation.status = status
    operation.ended = utcnow()
    if operation.action == "DETECT_DRIFT":
        _record_drift(stack_set, status)


def _cancel(results: list[Result], reason: str) -> None:
    for result in results:
        if result.status in ("PENDING", "RUNNING"):
            result.status = "CANCELLED"
            result.reason = reason


def _tolerance(preferences: dict[str, Any], accounts: int) -> int:
    if "FailureToleranceCount" in preferences:
        return int(preferences["FailureToleranceCount"])
    if "FailureTolerancePercentage" in preferences:
        return math.floor(accounts * int(preferences["FailureTolerancePercentage"]) / 100)
    return 0


def _regions(operation: Operation) -> list[str]:
    seen = list(dict.fromkeys(r.region for r in operation.results))
    order = [r for r in operation.preferences.get("RegionOrder", []) if r in seen]
    return order + [r for r in seen if r not in order]


def _run(stack_set: StackSet, operation: Operation) -> None:
    regions = _regions(operation)
    parallel = operation.preferences.get("RegionConcurrencyType") == "PARALLEL"
    failed_regions: list[str] = []

    def run_region(region: str) -> None:
        results = [r for r in operation.results if r.region == region]
        allowed = _tolerance(operation.preferences, len(results))
        failures = 0
        for result in results:
            if operation.stop_requested:
                break
            if failures > allowed:
                _cancel([result], "Failure tolerance exceeded in this Region")
                continue
            faults.hold_point(HOLD_POINT)
            time.sleep(STEP_SECONDS)
            if operation.stop_requested:
                break
            result.status = "RUNNING"
            _step(stack_set, operation, result)
            failures += result.status == "FAILED"
        if failures > allowed:
            failed_regions.append(region)

    if parallel:
        threads = [threading.Thread(target=run_region, args=(r,), daemon=True) for r in regions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for index, region in enumerate(regions):
            run_region(region)
            if failed_regions or operation.stop_requested:
                later = {r for r in regions[index + 1 :]}
                _cancel([r for r in operation.results if r.region in later], "Operation stopped")
                break
    with stack_set.lock:
        if operation.stop_requested:
            _cancel(operation.results, "Operation was stopped")
            _end(stack_set, operation, "STOPPED")
        elif failed_regions:
            operation.reason = (
                f"The operation exceeded the failure tolerance in {', '.join(failed_regions)}"
            )
            _end(stack_set, operation, "FAILED")
        else:
            _end(stack_set, operation, "SUCCEEDED")


# --- one account and Region --------------------------------------------------------------------


def _backend(account: str, region: str) -> Any:
    return cloudformation_backends[account][region]


def _stack(instance: Instance) -> Stack | None:
    if instance.stack_id is None:
        return None
    stack = _backend(instance.account, instance.region).stacks.get(instance.stack_id)
    return stack  # type: ignore[no-any-return]  # moto's backend lookups are unannotated


def _step(stack_set: StackSet, operation: Operation, result: Result) -> None:
    key = (result.account, result.region)
    with stack_set.lock:
        instance = stack_set.instances.get(key)
        if instance is None and operation.action in ("CREATE", "UPDATE"):
            instance = Instance(result.account, result.region, result.ou)
            stack_set.instances[key] = instance
        if instance is None:  # deleted meanwhile
            result.status = "SUCCEEDED"
            return
        if operation.overrides is not None:
            instance.overrides = resolve_parameters(operation.overrides, instance.overrides)
        instance.last_operation = operation.id
        instance.detailed = "RUNNING"
    if operation.action == "DELETE":
        _delete(stack_set, instance, result, retain=operation.retain_stacks)
    elif operation.action == "DETECT_DRIFT":
        _detect_drift(instance, result)
    else:
        _deploy(stack_set, instance, result)


def resolve_parameters(given: list[dict[str, Any]], previous: dict[str, str]) -> dict[str, str]:
    """Parameters as CloudFormation reads them: a value, or UsePreviousValue for the old one."""
    found = {}
    for parameter in given:
        key = parameter["ParameterKey"]
        if parameter.get("UsePreviousValue"):
            if key in previous:
                found[key] = previous[key]
        else:
            found[key] = str(parameter.get("ParameterValue", ""))
    return found


def _parameters(stack_set: StackSet, instance: Instance) -> dict[str, str]:
    return {**stack_set.parameters, **instance.overrides}


def _deploy(stack_set: StackSet, instance: Instance, result: Result) -> None:
    """Create the instance's stack, or update it to the StackSet's template and parameters."""
    backend = _backend(instance.account, instance.region)
    stack = _stack(instance)
    if stack is not None and stack.status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
        backend.delete_stack(stack.stack_id)  # a stack that never existed is made anew
        stack = None
    parameters = _parameters(stack_set, instance)
    try:
        if stack is None:
            stack = backend.create_stack(
                name=stack_set.stack_name(),
                template=stack_set.template,
                parameters=parameters,
                tags=dict(stack_set.tags),
            )
            instance.stack_id = stack.stack_id
        else:
            backend.update_stack(
                name=stack.stack_id,
                template=stack_set.template,
                role_arn=None,
                parameters=[
                    {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
                ],
                tags=dict(stack_set.tags),
            )
    except ValidationError as exc:
        if "No updates are to be performed" not in str(exc):
            _outcome(instance, result, "FAILED", exc.message)
            return
    if stack.status in _DONE:
        _outcome(instance, result, "SUCCEEDED", None)
    else:
        _outcome(instance, result, "FAILED", _failure(stack))


def _failure(stack: Stack) -> str:
    """The reason StackSets gives for a failed stack: its first failed resource, as AWS words it."""
    for event in stack.events:
        if event.resource_status.endswith("_FAILED") and event.logical_resource_id != stack.name:
            return (
                f"ResourceLogicalId:{event.logical_resource_id}, "
                f"ResourceType:{event.resource_type}, "
                f"ResourceStatusReason:{event.resource_status_reason}."
            )
    return str(stack.status_reason or f"Stack {stack.name} ended {stack.status}")


def _outcome(instance: Instance, result: Result, status: str, reason: str | None) -> None:
    result.status = status
    result.reason = reason
    instance.detailed = status
    instance.reason = reason
    instance.status = "CURRENT" if status == "SUCCEEDED" else "OUTDATED"


def _delete(stack_set: StackSet, instance: Instance, result: Result, *, retain: bool) -> None:
    stack = _stack(instance)
    if stack is not None and not retain and stack.status != "DELETE_COMPLETE":
        _backend(instance.account, instance.region).delete_stack(stack.stack_id)
        if stack.status == "DELETE_FAILED":
            result.status = "FAILED"
            result.reason = stack.status_reason
            instance.status = instance.detailed = "INOPERABLE"
            instance.reason = stack.status_reason
            return
    with stack_set.lock:
        stack_set.instances.pop((instance.account, instance.region), None)
    result.status = "SUCCEEDED"


def _detect_drift(instance: Instance, result: Result) -> None:
    stack = _stack(instance)
    if stack is None or stack.status not in _DONE | {"UPDATE_ROLLBACK_COMPLETE"}:
        instance.drift = "UNKNOWN"
        result.status = "FAILED"
        result.reason = "The stack instance has no stack to check"
    else:
        instance.drift = stack_drift(stack)
        result.status = "SUCCEEDED"
    instance.drift_checked = utcnow()
    instance.detailed = "SUCCEEDED" if instance.status == "CURRENT" else instance.detailed


def _record_drift(stack_set: StackSet, status: str) -> None:
    instances = list(stack_set.instances.values())
    stack_set.drift_checked = utcnow()
    if any(i.drift == "DRIFTED" for i in instances):
        stack_set.drift_status = "DRIFTED"
    elif instances and all(i.drift == "IN_SYNC" for i in instances):
        stack_set.drift_status = "IN_SYNC"
    else:
        stack_set.drift_status = "NOT_CHECKED" if not instances else stack_set.drift_status
    failed = sum(i.drift == "UNKNOWN" for i in instances)
    if status != "SUCCEEDED":
        stack_set.drift_detection_status = "FAILED" if status == "FAILED" else "STOPPED"
    else:
        stack_set.drift_detection_status = "PARTIAL_SUCCESS" if failed else "COMPLETED"


# --- automatic deployment ----------------------------------------------------------------------


def account_placed(management: str, account: str, old: str | None, new: str) -> None:
    """An account was created in, or moved to, `new`: deploy the StackSets whose target OUs now
    hold it, and remove (or, with RetainStacksOnAccountRemoval, let go of) the instances of
    those it left, as automatic deployment does."""
    org = organization.organization_of(account)
    if org is None:
        return
    now = organization.ancestors(org, new)
    before = organization.ancestors(org, old) if old else []
    for stack_set in all_stack_sets():
        auto = stack_set.auto_deployment or {}
        if (
            stack_set.status != "ACTIVE"
            or stack_set.permission_model != "SERVICE_MANAGED"
            or not auto.get("Enabled")
            or organization.management_account(stack_set.account) != management
        ):
            continue
        joined = [ou for ou in stack_set.targets if ou in now]
        was_in = [ou for ou in stack_set.targets if ou in before]
        if joined and not was_in:
            ou = joined[0]
            results = [Result(account, region, ou) for region in stack_set.targets[ou]]
            submit(stack_set, new_operation("CREATE", results), queue=True)
        elif was_in and not joined:
            results = [
                Result(account, i.region, i.ou)
                for i in stack_set.instances.values()
                if i.account == account
            ]
            retain = bool(auto.get("RetainStacksOnAccountRemoval"))
            operation = new_operation("DELETE", results, retain_stacks=retain)
            submit(stack_set, operation, queue=True)


def new_operation(action: str, results: list[Result], **kwargs: Any) -> Operation:
    return Operation(id=str(uuid.uuid4()), action=action, results=results, **kwargs)
