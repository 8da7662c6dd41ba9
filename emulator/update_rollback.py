"""A stack whose update rollback failed (UPDATE_ROLLBACK_FAILED), and ContinueUpdateRollback,
CloudFormation's documented way on from there, which moto lacks.

On AWS a rollback fails when a resource cannot be put back (say, something it depends on was
deleted by hand); the stack then takes neither updates nor deletes until ContinueUpdateRollback
brings it to UPDATE_ROLLBACK_COMPLETE. Tests put a stack there with the `rollback_failed`
fault (annex_emulator.faults): {stack name: reason}.
"""

from __future__ import annotations

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import EmptyResult

from annex_emulator.stack_events import enter_stack_status

FAILED = "UPDATE_ROLLBACK_FAILED"


def fail_rollback(account: str, stacks: dict[str, str]) -> None:
    """Put each named stack (every region) in UPDATE_ROLLBACK_FAILED for its reason."""
    for backend in cloudformation_backends[account].values():
        for stack in list(backend.stacks.values()):
            if stack.name in stacks and stack.status != "DELETE_COMPLETE":
                enter_stack_status(stack, "UPDATE_ROLLBACK_IN_PROGRESS", "")
                enter_stack_status(stack, FAILED, stacks[stack.name])


def continue_update_rollback(self: CloudFormationResponse) -> EmptyResult:
    name = self._get_param("StackName") or ""
    stack = self.cloudformation_backend.get_stack(name)
    if stack.status != FAILED:
        # As CloudFormation answers it (ValidationError, HTTP 400).
        raise ValidationError(
            message=f"Stack {stack.name} is in {stack.status} state and can not continue "
            "update rollback."
        )
    enter_stack_status(stack, "UPDATE_ROLLBACK_IN_PROGRESS", "")
    enter_stack_status(stack, "UPDATE_ROLLBACK_COMPLETE", "")
    return EmptyResult()
