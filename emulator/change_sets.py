"""Change sets by stack AND name, as CloudFormation keys them, and missing ones as it reports them.

moto looks a change set up by name alone, so when the CDK CLI deploys several stacks at once
(`cdk deploy --all --concurrency N`), each with a change set of the same name, it executed
and deleted other stacks' change sets and left stacks in REVIEW_IN_PROGRESS.

A change set that does not exist is `ChangeSetNotFound` (HTTP 404; the SDKs'
`ChangeSetNotFoundException`) for DescribeChangeSet and ExecuteChangeSet, as the CloudFormation
API reference lists it. moto answered "Stack with id NAME does not exist" (a ValidationError),
which the CDK CLI does not take for "gone": after a deployment it never made itself, its
`cdk deploy` first makes sure no change set of its name is left and failed there.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from moto.cloudformation.exceptions import CloudFormationError

from annex_emulator.patches import ORIGINALS

if TYPE_CHECKING:
    from moto.cloudformation.models import ChangeSet, CloudFormationBackend
    from moto.cloudformation.responses import CloudFormationResponse

#: The StackName the current request gave with its ChangeSetName.
change_set_stack: ContextVar[str | None] = ContextVar("annex_change_set_stack", default=None)


class ChangeSetNotFound(CloudFormationError):
    """CloudFormation's error for a change set name or id it does not know."""

    # The shape id in the service model: moto serializes it as the wire code
    # `ChangeSetNotFound` with the model's HTTP status, 404.
    code = "ChangeSetNotFoundException"

    def __init__(self, name: str) -> None:
        super().__init__(f"ChangeSet [{name}] does not exist")


def resolve(backend: CloudFormationBackend, name: str, stack_name: str | None = None) -> str:
    """The id of the change set `name` (an id, or a name within the stack `stack_name`)."""
    if name in backend.change_sets:
        return name
    stack = stack_name or change_set_stack.get()
    if not stack:
        return name
    matches = [
        cs_id
        for cs_id, cs in backend.change_sets.items()
        if cs.change_set_name == name
        and stack in (cs.stack_id, getattr(backend.stacks.get(cs.stack_id), "name", None))
    ]
    return matches[-1] if matches else name


def find(
    backend: CloudFormationBackend, name: str, stack_name: str | None = None
) -> ChangeSet | None:
    """The change set `name` (an id, or a name within the stack), or None."""
    change_set_id = resolve(backend, name, stack_name)
    if change_set_id in backend.change_sets:
        return backend.change_sets[change_set_id]
    named = [c for c in backend.change_sets.values() if c.change_set_name == change_set_id]
    return named[-1] if named else None


def backend_describe_change_set(self: CloudFormationBackend, change_set_name: str) -> Any:
    if find(self, change_set_name) is None:
        raise ChangeSetNotFound(change_set_name)
    return ORIGINALS["CloudFormationBackend.describe_change_set"](
        self, resolve(self, change_set_name)
    )


def backend_delete_change_set(self: CloudFormationBackend, change_set_name: str) -> None:
    """As on AWS, deleting a change set that does not exist succeeds (moto failed with an
    HTTP 500, which the CDK CLI retried for about 45 s before every `cdk diff`)."""
    change_set_id = resolve(self, change_set_name)
    by_name_only = change_set_stack.get() is None and any(
        cs.change_set_name == change_set_id for cs in self.change_sets.values()
    )
    if change_set_id not in self.change_sets and not by_name_only:
        return  # within the stack given, there is no such change set
    ORIGINALS["CloudFormationBackend.delete_change_set"](self, change_set_id)


def _with_stack(handler: str) -> Any:
    def wrapped(self: CloudFormationResponse) -> Any:
        token = change_set_stack.set(self._get_param("StackName"))
        try:
            return ORIGINALS[f"CloudFormationResponse.{handler}"](self)
        finally:
            change_set_stack.reset(token)

    wrapped.__name__ = handler
    return wrapped


response_describe_change_set = _with_stack("describe_change_set")
response_delete_change_set = _with_stack("delete_change_set")
response_execute_change_set = _with_stack("execute_change_set")
