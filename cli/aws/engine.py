"""The deploy engine: converge each HTCondorAnnex-* stack on its synthesized template, concurrently.

Decisions (`decide`) are pure functions of the stack's live state and templates, so they are
unit-tested without AWS; `Engine` carries them out with boto3 CloudFormation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any, TypeVar

from annex_cdk.aws.parallel import at_once
from annex_cdk.console import ResourceEvent
from annex_cdk.errors import AnnexError, Interrupted, StackBlockedError, StackFailedError, annotate
from annex_cdk.templates.load import body as template_body
from annex_cdk.templates.load import normalise
from annex_stacks import names, stack_specs

CAPABILITIES = ["CAPABILITY_IAM"]

_T = TypeVar("_T")

# Stable states a stack can be updated from.
UPDATABLE = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
    }
)
# States an update cannot start from, where the only way on is delete and re-create. Such a
# stack holds no resources that a successful deployment made (or none at all).
REPLACEABLE = frozenset(
    {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "REVIEW_IN_PROGRESS", "DELETE_FAILED"}
)
#: A stack whose last create or update succeeded (the two statuses check-setup calls OK).
DEPLOYED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE"})
#: Stack-level statuses that open an operation (REVIEW_IN_PROGRESS: a change set's new stack).
OPERATION_STARTS = frozenset(
    {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "REVIEW_IN_PROGRESS"}
)
#: An update whose rollback failed: CloudFormation takes neither updates nor deletes until
#: ContinueUpdateRollback brings it to UPDATE_ROLLBACK_COMPLETE.
ROLLBACK_FAILED = "UPDATE_ROLLBACK_FAILED"
DELETED = "DELETE_COMPLETE"
IMPORTED = "IMPORT_COMPLETE"
IMPORT_CHANGE_SET = "annex-cdk-import"


def import_template(template: Mapping[str, Any], logical_ids: Iterable[str]) -> dict[str, Any]:
    """The template of an import: only the resources imported (an import creates nothing),
    each with a DeletionPolicy (CloudFormation requires one), and no Outputs (an import may
    not change them); the update that follows brings the rest of the template."""
    wanted = set(logical_ids)
    resources = {
        lid: {**res, "DeletionPolicy": "Retain"}
        for lid, res in template.get("Resources", {}).items()
        if lid in wanted
    }
    kept = {k: v for k, v in template.items() if k not in ("Resources", "Outputs")}
    return {**kept, "Resources": resources}


class Action(Enum):
    CREATE = "create"
    UPDATE = "update"
    SKIP = "unchanged"
    REPLACE = "replace"
    #: UPDATE_ROLLBACK_FAILED: ContinueUpdateRollback, then the update.
    CONTINUE_ROLLBACK = "continue-rollback"
    BLOCKED = "blocked"
    BUSY = "busy"
    #: Deployed but no longer synthesized (the key pair stack once the user brings their own
    #: key): setup leaves it in place, and `destroy` removes it.
    KEEP = "kept"


@dataclass(frozen=True)
class StackState:
    name: str
    status: str | None = None  # None: the stack does not exist
    stack_id: str | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None
    #: The stack's parameter values (a StackSet's security group takes its CIDRs so).
    parameters: Mapping[str, str] = field(default_factory=dict)
    #: When the stack last changed: its LastUpdatedTime, else its CreationTime (ISO 8601).
    changed_at: str | None = None

    @property
    def exists(self) -> bool:
        return self.status is not None and self.status != DELETED


def _ends_operation(events: list[dict[str, Any]], status: str | None) -> bool:
    """Whether the newest of the events (newest first) is the stack's own `status` event."""
    return bool(events) and (
        events[0].get("LogicalResourceId") == events[0].get("StackName")
        and events[0].get("ResourceStatus") == status
    )


def _iso(when: Any) -> str | None:
    """boto3 parses CloudFormation's times into datetimes; kept as text, they compare exactly."""
    return when.isoformat() if hasattr(when, "isoformat") else (str(when) if when else None)


def way_on(status: str | None) -> str:
    """What setup does with a stack in `status` it cannot simply update: the one sentence
    that `diff` shows and setup's refusal hints, so the two never disagree."""
    if status in REPLACEABLE:
        return "setup --yes deletes and re-creates it"
    if status == ROLLBACK_FAILED:
        return (
            "setup --yes continues its rollback (CloudFormation's ContinueUpdateRollback), "
            "then updates it"
        )
    if status and status.endswith("_IN_PROGRESS"):
        return "setup waits for nothing: re-run when its operation has ended"
    return "setup cannot change it: fix it in the CloudFormation console, then re-run"


def decide(state: StackState, deployed: Any | None, desired: Mapping[str, Any]) -> Action:
    """What to do with one stack, given its live state and its deployed template."""
    if not state.exists:
        return Action.CREATE
    status = state.status or ""
    if status in UPDATABLE:
        if deployed is not None and normalise(deployed) == normalise(desired):
            # UPDATE_ROLLBACK_COMPLETE with the desired template still needs no update.
            return Action.SKIP
        return Action.UPDATE
    if status in REPLACEABLE:
        return Action.REPLACE
    if status == ROLLBACK_FAILED:
        return Action.CONTINUE_ROLLBACK
    if status.endswith("_IN_PROGRESS"):
        return Action.BUSY
    return Action.BLOCKED  # e.g. UPDATE_ROLLBACK_FAILED: needs a human


@dataclass(frozen=True)
class Live:
    state: StackState
    template: Any | None


def plan(
    templates: Mapping[str, Mapping[str, Any]], live: Mapping[str, Live]
) -> dict[str, tuple[StackState, Action]]:
    """What converging each synthesized stack takes, and the deployed ones no longer wanted.

    `setup` carries this out and `diff` shows it: one plan, so they cannot disagree.
    """
    todo = {
        name: (live[name].state, decide(live[name].state, live[name].template, template))
        for name, template in templates.items()
    }
    for name, lv in live.items():
        if name not in todo and lv.state.exists:
            todo[name] = (lv.state, Action.KEEP)
    return todo


@dataclass
class StackResult:
    name: str
    action: Action
    status: str
    outputs: dict[str, str]
    seconds: float
    reason: str | None = None
    #: The stack as this run's operation left it (None: no operation, e.g. skipped).
    state: StackState | None = None


#: progress(stack, status, detail): called from worker threads.
Progress = Callable[[str, str, str], None]


def _quiet(stack: str, status: str, detail: str) -> None:
    return None


def _quiet_resource(event: ResourceEvent) -> None:
    return None


#: A resource's statuses that end its part in an operation (n of CDK's n/N).
_RESOURCE_ENDS = ("_COMPLETE", "_FAILED", "_SKIPPED")


@dataclass
class _Count:
    """n/N of one operation: the resources that reached an end state, of `total`."""

    ended: set[str]
    total: int


class Engine:
    """Drives CloudFormation for a set of independent stacks."""

    POLL_FIRST = 0.05
    POLL_MAX = 3.0

    def __init__(self, cfn: Any, *, progress: Progress = _quiet, stack_sets: bool = False) -> None:
        self.cfn = cfn
        self.progress = progress
        # In a member account of an organization the stacks are a StackSet's
        # (StackSet-<name>-<id>): the readers (write-config, check-setup) find them there when
        # no HTCondorAnnex-* stack exists. Setup and destroy never act on them: they act on
        # names, and setup refuses to run beside them (ops/stack_ownership.py).
        self.stack_sets = stack_sets
        self._listed: list[dict[str, Any]] | None = None
        self._listing = threading.Lock()
        # A progress with a `resource` method (console.StackProgress) gets one ResourceEvent
        # per resource event as well; a plain callable gets the stack lines only.
        self.on_resource: Callable[[ResourceEvent], None] = getattr(
            progress, "resource", _quiet_resource
        )
        self.stop = threading.Event()
        # The AWS call each worker thread made last, so that an unexpected error names it.
        self._calls = threading.local()
        events = getattr(getattr(cfn, "meta", None), "events", None)
        if events is not None:
            events.register("before-call.cloudformation", self._note_call)

    def _note_call(self, model: Any = None, **_: Any) -> None:
        self._calls.last = f"cloudformation {getattr(model, 'name', model)}"

    def _annotated(self, stack: str, work: Callable[[], _T]) -> _T:
        """Run one stack's work; an unexpected error learns the stack and the last AWS call."""
        self._calls.last = None
        try:
            return work()
        except Exception as err:
            annotate(err, stack=stack, call=getattr(self._calls, "last", None))
            raise

    # --- reading -------------------------------------------------------------------------
    def state(self, name: str) -> StackState:
        from botocore.exceptions import ClientError

        try:
            [stack] = self.cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError as err:
            if "does not exist" not in str(err):
                raise
            found = self.stack_set_stack(name) if self.stack_sets else None
            if found is None:
                return StackState(name)
            stack = found
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        parameters = {
            p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
        }
        return StackState(
            name,
            stack["StackStatus"],
            stack["StackId"],
            outputs,
            stack.get("StackStatusReason"),
            parameters,
            _iso(stack.get("LastUpdatedTime") or stack.get("CreationTime")),
        )

    def _all_stacks(self) -> list[dict[str, Any]]:
        """Every stack of the account and Region (DescribeStacks without a name), listed once."""
        from botocore.exceptions import ClientError

        with self._listing:
            if self._listed is None:
                listed: list[dict[str, Any]] = []
                kwargs: dict[str, Any] = {}
                try:
                    while True:
                        page = self.cfn.describe_stacks(**kwargs)
                        listed.extend(page.get("Stacks", []))
                        if not page.get("NextToken"):
                            break
                        kwargs["NextToken"] = page["NextToken"]
                except ClientError as err:
                    # `annex-cdk policy` reads stacks by name only (HTCondorAnnex-*): a caller
                    # holding just it sees no StackSet-* stack, and a missing stack is missing.
                    if err.response.get("Error", {}).get("Code") != "AccessDenied":
                        raise
                self._listed = listed
            return self._listed

    def stack_set_stacks(self) -> dict[str, list[dict[str, Any]]]:
        """The stacks StackSets made here (StackSet-*, not deleted), by the annex stack each
        carries (its tag; `org deploy` tags its StackSets so)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for stack in self._all_stacks():
            carried = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}.get(names.TAG_STACK)
            if (
                carried
                and stack["StackName"].startswith(names.STACK_SET_STACK_PREFIX)
                and stack.get("StackStatus") != DELETED
            ):
                found.setdefault(carried, []).append(stack)
        return found

    def stack_set_stack(self, name: str) -> dict[str, Any] | None:
        """The stack a StackSet made here for stack `name`, with that stack's outputs."""
        wanted = (
            set(stack_specs.spec(name).outputs) if name in stack_specs.MANAGED_STACKS else set()
        )
        found = [
            stack
            for stack in self.stack_set_stacks().get(name, [])
            if wanted <= {o["OutputKey"] for o in stack.get("Outputs", [])}
        ]
        if len(found) > 1:
            raise AnnexError(
                f"{len(found)} StackSets made {name} here: "
                + ", ".join(s["StackName"] for s in found),
                hint="ask your organization's administrator which one is yours (annex-cdk org status)",
            )
        return found[0] if found else None

    def deployed_template(self, state: StackState) -> Any | None:
        if not state.exists:
            return None
        body = self.cfn.get_template(StackName=state.stack_id or state.name)["TemplateBody"]
        return normalise(body)

    def read_states(self, stacks: Iterable[str]) -> dict[str, StackState]:
        """Every stack's live state (no templates), read concurrently."""
        stacks = list(stacks)
        with ThreadPoolExecutor(max_workers=max(1, len(stacks))) as pool:
            states = pool.map(lambda n: self._annotated(n, lambda: self.state(n)), stacks)
            return dict(zip(stacks, states, strict=True))

    def read_all(self, stacks: Iterable[str]) -> dict[str, Live]:
        """Every stack's live state and deployed template, read concurrently."""

        def one(name: str) -> Live:
            def read() -> Live:
                state = self.state(name)
                return Live(state, self.deployed_template(state))

            return self._annotated(name, read)

        stacks = list(stacks)
        with ThreadPoolExecutor(max_workers=max(1, len(stacks))) as pool:
            futures = {name: pool.submit(one, name) for name in stacks}
            return {name: f.result() for name, f in futures.items()}

    def events_of(self, stack_id: str, since: str | None = None) -> list[dict[str, Any]]:
        """The events of the stack's current operation, oldest first.

        `since` is the newest event id before the operation began (its marker); without it,
        the operation is the latest one: everything from the stack's last starting event on.
        """
        events = self.cfn.describe_stack_events(StackName=stack_id)["StackEvents"]  # newest first
        current: list[dict[str, Any]] = []
        for event in events:
            if since is not None and event["EventId"] == since:
                break
            current.append(event)
            if (
                since is None
                and event.get("LogicalResourceId") == event.get("StackName")
                and event.get("ResourceStatus") in OPERATION_STARTS
            ):
                break
        return list(reversed(current))

    def marker(self, stack_id: str | None) -> str | None:
        """The newest event id of a stack, taken before an operation: its events come after."""
        from botocore.exceptions import ClientError

        if not stack_id:
            return None
        try:
            events = self.cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        except ClientError:
            return None
        return events[0]["EventId"] if events else None

    def failure_reason(self, stack_id: str, since: str | None = None) -> str | None:
        """The first resource failure of the stack's current (else latest) operation."""
        events = self.events_of(stack_id, since)
        failed = [
            e
            for e in events
            if e.get("ResourceStatus", "").endswith("_FAILED")
            and e.get("ResourceStatusReason")
            and e.get("LogicalResourceId") != e.get("StackName")
        ]
        if failed:
            first = failed[0]
            return f"{first['LogicalResourceId']}: {first['ResourceStatusReason']}"
        reasons = [e.get("ResourceStatusReason") for e in events if e.get("ResourceStatusReason")]
        return reasons[-1] if reasons else None

    # --- acting --------------------------------------------------------------------------
    def converge(
        self,
        templates: Mapping[str, Mapping[str, Any]],
        plan: Mapping[str, tuple[StackState, Action]],
        *,
        replace_ok: bool,
        imports: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> dict[str, StackResult]:
        """Carry out the plan, all stacks at once. Raises after every stack has settled.

        `imports`: by stack to create, the resources (CloudFormation's ResourcesToImport
        entries) that exist already and that the new stack takes over instead of creating.
        """
        for name, (state, action) in plan.items():
            if action is Action.BUSY:
                raise StackBlockedError(
                    f"{name} is busy ({state.status}); wait for that operation to end, then re-run"
                )
            needs_consent = action in (Action.REPLACE, Action.CONTINUE_ROLLBACK)
            if action is Action.BLOCKED or (needs_consent and not replace_ok):
                cause = (
                    self.failure_reason(state.stack_id or name)
                    or state.reason
                    or "no reason recorded"
                )
                raise StackBlockedError(
                    f"{name} is in {state.status} ({cause})", hint=way_on(state.status)
                )
        results: dict[str, StackResult] = {}
        # Kept stacks are not this setup's: their outputs must not reach user_config or the PEM.
        work = {n: p for n, p in plan.items() if p[1] not in (Action.SKIP, Action.KEEP)}
        for name, (state, action) in plan.items():
            if action is Action.SKIP:
                results[name] = StackResult(
                    name, action, state.status or "", dict(state.outputs), 0.0
                )
                self.progress(name, state.status or "", "unchanged")
        if not work:
            return results
        pool = ThreadPoolExecutor(max_workers=len(work))
        futures: dict[Any, str] = {}
        try:
            # Submitting is inside the try: Ctrl-C can arrive as soon as the first stack starts.
            for name, (state, action) in work.items():
                work_fn = partial(
                    self._run, name, state, action, templates[name], (imports or {}).get(name)
                )
                futures[pool.submit(self._annotated, name, work_fn)] = name
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                for future in done:
                    results[futures[future]] = future.result()
        except KeyboardInterrupt:
            self.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            busy = sorted(n for n in work if n not in results)
            raise Interrupted(
                "interrupted; CloudFormation carries on with "
                + (", ".join(busy) or "nothing")
                + " on its own",
                hint="re-run the same command to continue from where it stopped",
            ) from None
        finally:
            pool.shutdown(wait=True)
        # Unchanged and stable (an update rolled back to what is wanted) is converged too.
        failed = [
            r
            for r in results.values()
            if r.status not in DEPLOYED and not (r.action is Action.SKIP and r.status in UPDATABLE)
        ]
        if failed:
            detail = "; ".join(
                f"{r.name}: {r.status} ({r.reason or 'no reason given'})" for r in failed
            )
            raise StackFailedError(
                detail, hint="the other stacks were left in place; re-run to continue"
            )
        return results

    def _run(
        self,
        name: str,
        state: StackState,
        action: Action,
        template: Mapping[str, Any],
        imports: list[dict[str, Any]] | None = None,
    ) -> StackResult:
        from botocore.exceptions import ClientError

        started = time.monotonic()
        body = template_body(template)
        if action is Action.REPLACE:
            self.progress(name, state.status or "", "deleting to replace it")
            mark = self.marker(state.stack_id)
            total = self._resource_count(state.stack_id or name)
            self.cfn.delete_stack(StackName=state.stack_id)
            final = self._wait(name, state.stack_id or name, since=mark, total=total)
            if final.status not in (None, DELETED):
                # Creating now would only fail with AlreadyExistsException: report the cause.
                reason = self.failure_reason(state.stack_id or name, mark)
                self.progress(name, final.status or "", reason or "")
                return StackResult(
                    name, Action.REPLACE, final.status or "", {}, time.monotonic() - started, reason
                )
            action = Action.CREATE
        if action is Action.CONTINUE_ROLLBACK:
            self.progress(name, state.status or "", "continuing its rollback")
            stack_id = state.stack_id or name
            mark = self.marker(stack_id)
            self.cfn.continue_update_rollback(StackName=stack_id)
            rolled_back = self._wait(name, stack_id, since=mark, total=0)
            if rolled_back.status != "UPDATE_ROLLBACK_COMPLETE":
                reason = self.failure_reason(stack_id, mark) or rolled_back.reason
                self.progress(name, rolled_back.status or "", reason or "")
                return StackResult(
                    name, action, rolled_back.status or "", {}, time.monotonic() - started, reason
                )
            state, action = rolled_back, Action.UPDATE
        mark = None
        if action is Action.CREATE and imports:
            # Resources that outlived an earlier stack (a retained bucket): a plain create
            # would fail on them (BucketAlreadyExists). Import them into a new stack, then
            # update it to the whole template below.
            stack_id = self._import(name, template, imports)
            imported = self._wait(name, stack_id, since=None, total=len(imports))
            if imported.status != IMPORTED:
                reason = self.failure_reason(stack_id) or imported.reason
                self.progress(name, imported.status or "", reason or "")
                return StackResult(
                    name, action, imported.status or "", {}, time.monotonic() - started, reason
                )
            state, action = imported, Action.UPDATE
        if action is Action.CREATE:
            self.progress(name, "CREATE_IN_PROGRESS", "creating")
            # As condor_annex: a failed creation deletes itself, so a re-run starts clean.
            stack_id = self.cfn.create_stack(
                StackName=name, TemplateBody=body, Capabilities=CAPABILITIES, OnFailure="DELETE"
            )["StackId"]
        else:
            self.progress(name, "UPDATE_IN_PROGRESS", "updating")
            stack_id = state.stack_id or name
            mark = self.marker(stack_id)
            try:
                self.cfn.update_stack(
                    StackName=stack_id, TemplateBody=body, Capabilities=CAPABILITIES
                )
            except ClientError as err:
                if "No updates are to be performed" not in str(err):
                    raise
                final = self.state(stack_id)
                self.progress(name, final.status or "", "unchanged")
                return StackResult(
                    name, Action.SKIP, final.status or "", dict(final.outputs), 0.0, state=final
                )
        final = self._wait(name, stack_id, since=mark, total=len(template.get("Resources", {})))
        reason = None if final.status in DEPLOYED else self.failure_reason(stack_id, mark)
        detail = (
            f"{time.monotonic() - started:.1f} s" if final.status in DEPLOYED else (reason or "")
        )
        self.progress(name, final.status or "", detail)
        return StackResult(
            name,
            action,
            final.status or "",
            dict(final.outputs),
            time.monotonic() - started,
            reason,
            final,
        )

    def _import(self, name: str, template: Mapping[str, Any], imports: list[dict[str, Any]]) -> str:
        """Start a new stack `name` that holds only the resources to import; its stack id."""
        ids = [i["LogicalResourceId"] for i in imports]
        self.progress(name, "IMPORT_IN_PROGRESS", "importing " + ", ".join(ids))
        body = template_body(import_template(template, ids))
        created = self.cfn.create_change_set(
            StackName=name,
            ChangeSetName=IMPORT_CHANGE_SET,
            ChangeSetType="IMPORT",
            TemplateBody=body,
            ResourcesToImport=imports,
            Capabilities=CAPABILITIES,
        )
        delay = self.POLL_FIRST
        while True:
            change_set = self.cfn.describe_change_set(ChangeSetName=created["Id"])
            if change_set["Status"] == "FAILED":
                raise StackFailedError(
                    f"{name}: CloudFormation refused to import {', '.join(ids)}: "
                    f"{change_set.get('StatusReason') or 'no reason given'}",
                    hint="delete or rename the resource, then re-run",
                )
            if change_set["Status"] == "CREATE_COMPLETE":
                break
            if self.stop.wait(delay):
                raise KeyboardInterrupt
            delay = min(delay * 1.6, self.POLL_MAX)
        self.cfn.execute_change_set(ChangeSetName=created["Id"])
        return str(created["StackId"])

    def _wait(self, name: str, stack_id: str, *, since: str | None, total: int) -> StackState:
        """Poll until the stack settles, quickly at first, reporting each new event of this
        operation: those after the marker `since` (None: a new stack, all of its events).
        `total`: the resources of the template being deployed (or deleted), CDK's N."""
        delay = self.POLL_FIRST
        seen: set[str] = set()
        count = _Count(set(), total)
        while True:
            # The state and the events in one round of calls (each thread names its own call
            # in an unexpected error). Events read beside the state that says the stack settled
            # may have missed the last ones: then they are read again (CloudFormation writes
            # the stack's own final event last).
            state, events = at_once(
                partial(self._annotated, name, partial(self.state, stack_id)),
                partial(self._annotated, name, partial(self._events, stack_id)),
                name="poll",
            )
            settled = state.status is None or not state.status.endswith("_IN_PROGRESS")
            if settled and not _ends_operation(events, state.status):
                events = self._events(stack_id)
            self._report_events(name, events, seen, since, count)
            if settled:
                return state
            if self.stop.wait(delay):
                return state
            delay = min(delay * 1.6, self.POLL_MAX)

    def _events(self, stack_id: str) -> list[dict[str, Any]]:
        """The stack's events, newest first."""
        events: list[dict[str, Any]] = self.cfn.describe_stack_events(StackName=stack_id)[
            "StackEvents"
        ]
        return events

    def _report_events(
        self,
        name: str,
        events: list[dict[str, Any]],
        seen: set[str],
        since: str | None,
        count: _Count,
    ) -> None:
        fresh: list[dict[str, Any]] = []
        for event in events:  # newest first, down to the marker
            if since is not None and event["EventId"] == since:
                break
            fresh.append(event)
        for event in reversed(fresh):
            if event["EventId"] in seen:
                continue
            seen.add(event["EventId"])
            logical_id = event.get("LogicalResourceId") or ""
            if logical_id == name:
                continue  # the stack's own events: its lines come from _run and delete
            status = event.get("ResourceStatus", "")
            if status.endswith(_RESOURCE_ENDS):
                count.ended.add(logical_id)  # by id: a replaced resource counts once
            self.on_resource(
                ResourceEvent(
                    stack=name,
                    done=len(count.ended),
                    total=count.total,
                    timestamp=event.get("Timestamp"),
                    status=status,
                    resource_type=event.get("ResourceType") or "",
                    logical_id=logical_id,
                    reason=event.get("ResourceStatusReason") or "",
                )
            )

    def _resource_count(self, stack_id: str) -> int:
        """The resources of a deployed stack, N for its deletion's progress lines."""
        from botocore.exceptions import ClientError

        try:
            found = self.cfn.describe_stack_resources(StackName=stack_id)["StackResources"]
        except ClientError:
            return 0
        return len(found)

    def delete(self, names: Iterable[str]) -> dict[str, StackResult]:
        """Delete stacks concurrently; a stack that does not exist counts as deleted."""
        targets = [(n, self.state(n)) for n in names]

        def one(name: str, state: StackState) -> StackResult:
            started = time.monotonic()
            if not state.exists:
                return StackResult(name, Action.SKIP, DELETED, {}, 0.0)
            self.progress(name, "DELETE_IN_PROGRESS", "deleting")
            mark = self.marker(state.stack_id)
            total = self._resource_count(state.stack_id or name)
            self.cfn.delete_stack(StackName=state.stack_id)
            final = self._wait(name, state.stack_id or name, since=mark, total=total)
            status = DELETED if final.status in (None, DELETED) else final.status
            reason = (
                None if status == DELETED else self.failure_reason(state.stack_id or name, mark)
            )
            self.progress(name, status, reason or f"{time.monotonic() - started:.1f} s")
            return StackResult(name, Action.REPLACE, status, {}, time.monotonic() - started, reason)

        with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
            futures = [pool.submit(self._annotated, n, partial(one, n, s)) for n, s in targets]
            return {r.name: r for r in (f.result() for f in futures)}
