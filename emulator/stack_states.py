"""Stack states as on AWS: a failed create rolls back to ROLLBACK_COMPLETE, a failed delete
leaves DELETE_FAILED, updates and change sets end in their rollback states, "No updates are to
be performed.", OnFailure/DisableRollback, and no outputs for a failed or deleted stack."""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, Stack
from moto.cloudformation.parsing import ResourceMap
from moto.cloudformation.responses import CloudFormationResponse

from annex_emulator.change_sets import ChangeSetNotFound, find, resolve
from annex_emulator.patches import ORIGINALS
from annex_emulator.resource_import import importing
from annex_emulator.stack_events import enter_stack_status, failure_reason, stack_failure_reason
from annex_emulator.stack_operation import create_on_failure, deletion_mode, is_resource
from annex_emulator.stack_update import UpdateFailed


def _freeze(resource_map: ResourceMap) -> None:
    resource_map.annex_frozen = True


# Stack states in which AWS shows outputs; elsewhere moto would resolve them lazily and create
# (or fail to create) the resources they refer to.
_NO_OUTPUTS = frozenset(
    {
        "CREATE_PENDING",
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_FAILED",
        "ROLLBACK_COMPLETE",
        "DELETE_IN_PROGRESS",
        "DELETE_COMPLETE",
        "REVIEW_IN_PROGRESS",
    }
)
#: States AWS refuses UpdateStack in (moto checks ROLLBACK_COMPLETE only).
_NOT_UPDATABLE = frozenset(
    {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_FAILED", "DELETE_COMPLETE"}
)


def stack_outputs(self: Stack) -> list[dict[str, Any]] | None:
    if self.status in _NO_OUTPUTS:
        return None
    return ORIGINALS["Stack.outputs"](self)


def stack_resources(self: Stack) -> list[Any]:
    # moto yields None for types it skipped and would lazily create anything not yet created.
    parsed = self.resource_map._parsed_resources
    return [parsed[k] for k in self.resource_map.resources if is_resource(parsed.get(k))]


def stack_create_resource_map(self: Stack) -> ResourceMap:
    resource_map = ORIGINALS["Stack._create_resource_map"](self)
    resource_map.annex_stack = self  # events and stack tags need the stack
    return resource_map


def _as_dict(template: str | dict[str, Any]) -> dict[str, Any]:
    return template if isinstance(template, dict) else Stack.parse_template(template)


def stack_update(
    self: Stack,
    template: str,
    role_arn: str | None = None,
    parameters: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    if self.status in _NOT_UPDATABLE:
        raise ValidationError(
            message=f"Stack:{self.stack_id} is in {self.status} state and can not be updated."
        )
    if (
        # The template as sent, not template_dict: moto fills that in (an empty Properties),
        # and then an unchanged template looked changed.
        Stack.parse_template(template) == _as_dict(self.template)
        and (parameters or {}) == (self.parameters or {})
        and (tags is None or tags == self.tags)
    ):
        raise ValidationError(message="No updates are to be performed.")
    old_template = self.template
    try:
        ORIGINALS["Stack.update"](self, template, role_arn, parameters, tags)
    except UpdateFailed as exc:
        self.template = old_template
        self._parse_template()
        self.output_map = self._create_output_map()
        self.status_reason = exc.reason
        self.status = "UPDATE_ROLLBACK_COMPLETE" if exc.rolled_back else "UPDATE_ROLLBACK_FAILED"
        self._add_stack_event(self.status)
    except Exception:
        self.template = old_template  # rejected before anything changed
        self._parse_template()
        raise
    else:
        self.status_reason = None


def backend_create_stack(self: CloudFormationBackend, *args: Any, **kwargs: Any) -> Stack:
    """Wraps CloudFormationBackend.create_stack: a resource failure fails the stack as on AWS.

    moto lets the exception escape the API call (HTTP error) and leaves the stack registered in
    CREATE_IN_PROGRESS. AWS accepts the call and the stack ends CREATE_FAILED -> ROLLBACK_COMPLETE.
    """
    before = set(self.stacks)
    name = kwargs["name"] if "name" in kwargs else args[0]
    try:
        return ORIGINALS["CloudFormationBackend.create_stack"](self, *args, **kwargs)
    except Exception as exc:
        # By name as well: other stacks are being created concurrently (annex-cdk deploys all
        # at once), and failing one of those instead would be a fault AWS never makes.
        new = [
            stack
            for stack_id, stack in list(self.stacks.items())
            if stack_id not in before and stack.name == name
        ]
        if not new:
            raise  # rejected before a stack existed (template or parameter error): as on AWS
        stack = new[0]
        _fail_create(self, stack, exc)
        return stack


def _fail_create(backend: CloudFormationBackend, stack: Stack, exc: BaseException) -> None:
    resource_map = stack.resource_map
    failed = getattr(exc, "annex_failed_resource", None)
    reason = stack_failure_reason("create", [failed] if failed else [], exc)
    enter_stack_status(stack, "CREATE_FAILED", reason)
    on_failure = create_on_failure.get()
    if on_failure == "DO_NOTHING":
        _freeze(resource_map)
        return
    enter_stack_status(stack, "ROLLBACK_IN_PROGRESS", reason + "Rollback requested by user.")
    token = deletion_mode.set("undo-create")
    try:
        # Deletes only what this stack created: a resource that failed to create (say, a key
        # pair whose name was taken) is not in the map and is never touched.
        resource_map.delete()
    except Exception as rollback_exc:
        enter_stack_status(stack, "ROLLBACK_FAILED", failure_reason(rollback_exc))
        _freeze(resource_map)
        return
    finally:
        deletion_mode.reset(token)
    _freeze(resource_map)
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")
    if on_failure == "DELETE":
        backend.delete_stack(stack.stack_id)


def _find_stack(backend: CloudFormationBackend, name_or_stack_id: str) -> Stack | None:
    if name_or_stack_id in backend.stacks:
        return backend.stacks[name_or_stack_id]
    return next((s for s in backend.stacks.values() if s.name == name_or_stack_id), None)


def backend_delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
    """Wraps CloudFormationBackend.delete_stack: a failed delete keeps the stack, DELETE_FAILED.

    moto pops the stack before deleting its resources, so a failure (a non-empty bucket)
    escaped as an HTTP error and the stack vanished from every listing.
    """
    stack = _find_stack(self, name_or_stack_id)
    if stack is None:
        ORIGINALS["CloudFormationBackend.delete_stack"](self, name_or_stack_id)
        return
    stack.resource_map.__dict__.pop("annex_failed_deletes", None)  # a new delete attempt
    # CloudFormation deletes a stack's resources in reverse dependency order (resource_lifecycle
    # defers a resource while a resource that depends on it is left).
    stack.resource_map.__dict__["annex_whole_stack_delete"] = True
    try:
        ORIGINALS["CloudFormationBackend.delete_stack"](self, stack.stack_id)
    except Exception as exc:
        self.deleted_stacks.pop(stack.stack_id, None)
        self.stacks[stack.stack_id] = stack
        resource_map = stack.resource_map
        left = [
            k
            for k, v in resource_map._parsed_resources.items()
            if is_resource(v)
            and k in resource_map._resource_json_map
            and resource_map._resource_json_map[k].get("DeletionPolicy") != "Retain"
        ]
        enter_stack_status(stack, "DELETE_FAILED", stack_failure_reason("delete", left, exc))
        return
    finally:
        stack.resource_map.__dict__.pop("annex_whole_stack_delete", None)
    stack.status_reason = None
    _freeze(stack.resource_map)


def backend_execute_change_set(
    self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None
) -> None:
    """Wraps CloudFormationBackend.execute_change_set: failures and outputs as on AWS.

    moto let a failure escape as an HTTP error with the stack half-changed, and never re-read
    the executed template, so a stack created through a change set had no Outputs.
    """
    # The change set to execute: by id, else by name within the stack (CloudFormation's rule).
    change_set = find(self, change_set_name, stack_name)
    if change_set is None:
        raise ChangeSetNotFound(change_set_name)
    change_set_name = resolve(self, change_set_name, stack_name)
    stack = self.stacks.get(change_set.stack_id)
    if stack is None:
        ORIGINALS["CloudFormationBackend.execute_change_set"](self, change_set_name, stack_name)
        return
    try:
        if change_set.change_set_type == "IMPORT":
            _execute_import(stack, change_set)
        else:
            ORIGINALS["CloudFormationBackend.execute_change_set"](self, change_set_name, stack_name)
    except UpdateFailed as exc:
        change_set.execution_status = "EXECUTE_FAILED"
        stack.status_reason = exc.reason
        if change_set.change_set_type == "IMPORT":
            stack.status = (
                "IMPORT_ROLLBACK_COMPLETE" if exc.rolled_back else "IMPORT_ROLLBACK_FAILED"
            )
        elif change_set.change_set_type == "CREATE":
            stack.status = "ROLLBACK_COMPLETE" if exc.rolled_back else "ROLLBACK_FAILED"
            _freeze(stack.resource_map)
        else:
            stack.status = (
                "UPDATE_ROLLBACK_COMPLETE" if exc.rolled_back else "UPDATE_ROLLBACK_FAILED"
            )
        stack._add_stack_event(stack.status)
        return
    stack._parse_template()
    stack.output_map = stack._create_output_map()


def _execute_import(stack: Stack, change_set: Any) -> None:
    """An IMPORT change set: its resources are adopted, not created (resource_import)."""
    stack.status = "IMPORT_IN_PROGRESS"
    stack._add_stack_event("IMPORT_IN_PROGRESS", resource_status_reason="User Initiated")
    token = importing.set(getattr(change_set, "annex_imports", {}))
    try:
        change_set.apply()
    finally:
        importing.reset(token)
    stack._add_stack_event("IMPORT_COMPLETE")
    change_set.execution_status = "EXECUTE_COMPLETE"
    stack.status = "IMPORT_COMPLETE"
    stack.template = change_set.template


def response_create_stack(self: CloudFormationResponse) -> Any:
    """Wraps the CreateStack handler to honour DisableRollback and OnFailure (moto ignores them)."""
    on_failure = self._get_param("OnFailure") or "ROLLBACK"
    if str(self._get_param("DisableRollback", "false")).lower() == "true":
        on_failure = "DO_NOTHING"
    token = create_on_failure.set(on_failure)
    try:
        return ORIGINALS["CloudFormationResponse.create_stack"](self)
    finally:
        create_on_failure.reset(token)
