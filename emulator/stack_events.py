"""Resource-level stack events and failure reasons, worded as CloudFormation words them."""

from __future__ import annotations

import contextlib
from typing import Any

from moto.cloudformation.models import Event, Stack

from annex_emulator.stack_operation import physical_id


def _error_code(exc: BaseException) -> str:
    # moto's newer errors carry `code` (str); the older _RESTError family `error_type`.
    for attr in ("error_type", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value:
            return value
    return ""


def is_not_found(exc: BaseException) -> bool:
    """AWS's delete handlers treat an already-deleted resource as deleted; so do we."""
    code = _error_code(exc)
    return "NotFound" in code or code.startswith("NoSuch")


def failure_reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if getattr(exc, "before_handler", False):  # refused before any handler ran: no wrapping
        return message
    code = _error_code(exc)
    suffix = f" (ErrorCode: {code})" if code else ""
    return f'Resource handler returned message: "{message}"{suffix}'


def stack_failure_reason(verb: str, logical_ids: list[str], exc: BaseException) -> str:
    """A stack's reason: the resources that failed to `verb`, else the error itself."""
    if logical_ids:
        return f"The following resource(s) failed to {verb}: [{', '.join(logical_ids)}]. "
    return failure_reason(exc)


def enter_stack_status(stack: Stack, status: str, reason: str) -> None:
    """Put the stack in `status` for `reason`, with the stack event AWS records for it."""
    stack.status = status
    stack.status_reason = reason
    stack._add_stack_event(status, resource_status_reason=reason)


def mark_failed(exc: BaseException, logical_id: str) -> bool:
    """Remember the innermost resource that failed; False if an inner one was already marked."""
    if getattr(exc, "annex_failed_resource", None):
        return False
    with contextlib.suppress(AttributeError):
        exc.annex_failed_resource = logical_id
    return True


def resource_event(
    stack: Stack | None,
    logical_id: str,
    resource_type: str,
    status: str,
    resource: Any = None,
    reason: str | None = None,
) -> None:
    """Record a resource event as AWS does (moto records stack-level events only)."""
    if stack is None:
        return
    event = Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=physical_id(resource),
        resource_type=resource_type,
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )
    event.sendToSns(stack.account_id, stack.region_name, stack.notification_arns)
    stack.events.append(event)
