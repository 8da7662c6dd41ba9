"""The resource operation in progress: which stack and logical id a model works for, and how.

moto calls a model's create/update/delete with the resource's name and properties only; AWS
also puts the stack's tags on what a stack creates, and a rollback deletes differently from a
stack delete. These context variables carry what the calls do not.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from moto.cloudformation.models import Stack
from moto.cloudformation.parsing import ResourceMap


@dataclass
class Operation:
    stack: Stack | None
    logical_id: str


#: The stack and logical id a model's create/update runs for (models need it for stack tags).
operation: ContextVar[Operation | None] = ContextVar("annex_operation", default=None)
#: "delete" for stack deletes and update clean-up; "undo-create" when a rollback deletes what the
#: failed operation itself created (RetainExceptOnCreate resources are deleted only then).
deletion_mode: ContextVar[str] = ContextVar("annex_deletion_mode", default="delete")
#: CreateStack's OnFailure (DisableRollback=true counts as DO_NOTHING); moto ignores both.
create_on_failure: ContextVar[str] = ContextVar("annex_on_failure", default="ROLLBACK")


def stack_of(resource_map: ResourceMap) -> Stack | None:
    return getattr(resource_map, "annex_stack", None)


def is_resource(obj: Any) -> bool:
    """ResourceMap._parsed_resources also holds parameters, mappings and pseudo parameters."""
    return obj is not None and hasattr(obj, "logical_resource_id")


def physical_id(resource: Any) -> str:
    try:
        return str(getattr(resource, "physical_resource_id", "") or "")
    except Exception:  # a half-built object: the event still matters more than its id
        return ""


def stack_tags() -> dict[str, str]:
    """Stack-level tags plus the aws:cloudformation:* tags AWS puts on what a stack creates."""
    op = operation.get()
    if op is None or op.stack is None:
        return {}
    stack = op.stack
    return {
        **stack.tags,
        "aws:cloudformation:stack-name": stack.name,
        "aws:cloudformation:stack-id": stack.stack_id,
        "aws:cloudformation:logical-id": op.logical_id,
    }
