"""Creating and deleting one resource, as CloudFormation does: events, strict types (an
unknown type fails the stack), injected faults, DeletionPolicy, "already gone" is deleted."""

from __future__ import annotations

from typing import Any

import moto
from moto.cloudformation import parsing
from moto.cloudformation.parsing import ResourceMap

from annex_emulator import faults as emulator_faults
from annex_emulator import stack_authorization
from annex_emulator.patches import ORIGINALS
from annex_emulator.resource_import import adopt, importing
from annex_emulator.resource_properties import EmulatorResourceError
from annex_emulator.resource_schemas import check_properties
from annex_emulator.resource_types import SKIPPED_TYPES
from annex_emulator.stack_events import failure_reason, is_not_found, mark_failed, resource_event
from annex_emulator.stack_operation import (
    Operation,
    deletion_mode,
    operation,
    physical_id,
    stack_of,
)
from annex_emulator.template_dependencies import dependencies


def create_resource(
    logical_id: str,
    resource_json: dict[str, Any],
    resources_map: ResourceMap,
    account_id: str,
    region_name: str,
) -> Any:
    """Wraps parsing.parse_and_create_resource: events, strict types, failure attribution.

    Every creation goes through here, including the lazy ones moto does while resolving a Ref.
    """
    if getattr(resources_map, "annex_frozen", False):
        # A failed or deleted stack: nothing may be created behind its back any more (moto
        # would create resources lazily when describe_stacks resolves its outputs).
        return None
    stack = stack_of(resources_map)
    resource_type = str(resource_json.get("Type", ""))
    condition = resource_json.get("Condition")
    if condition and not resources_map.lazy_condition_map[condition]:
        return None
    if resource_type in SKIPPED_TYPES or resource_type in parsing.NULL_MODELS:
        return None
    if (imports := importing.get()) and logical_id in imports:
        resource_event(stack, logical_id, resource_type, "IMPORT_IN_PROGRESS")
        try:
            _check_schema(logical_id, resource_json, resources_map, region_name)
        except Exception as exc:
            mark_failed(exc, logical_id)
            resource_event(
                stack, logical_id, resource_type, "IMPORT_FAILED", reason=failure_reason(exc)
            )
            raise
        resource = adopt(resource_type, imports[logical_id], account_id, region_name)
        resource.cf_resource_type = resource_type  # as moto's own creation sets them
        resource.logical_resource_id = logical_id
        resource_event(stack, logical_id, resource_type, "IMPORT_COMPLETE", resource)
        return resource
    resource_event(stack, logical_id, resource_type, "CREATE_IN_PROGRESS")
    token = operation.set(Operation(stack, logical_id))
    try:
        if not resource_type.startswith("Custom::") and (
            parsing.resource_class_from_type(resource_type) is None
        ):
            # moto skips unknown types with a warning and reports CREATE_COMPLETE anyway.
            raise EmulatorResourceError(
                "UnsupportedResourceType",
                f"The annex-cdk emulator (moto {moto.__version__}) cannot create "
                f"{resource_type}; teach it in annex_emulator.resource_types.",
            )
        _check_schema(logical_id, resource_json, resources_map, region_name)
        if injected := emulator_faults.failing_reason(resource_type):
            raise EmulatorResourceError("InvalidRequest", injected)
        if stack_authorization.acting.get() is not None:
            _authorize_create(logical_id, resource_json, resources_map, account_id, region_name)
        resource = ORIGINALS["parsing.parse_and_create_resource"](
            logical_id, resource_json, resources_map, account_id, region_name
        )
    except Exception as exc:
        first = mark_failed(exc, logical_id)
        reason = failure_reason(exc) if first else "Resource creation cancelled"
        resource_event(stack, logical_id, resource_type, "CREATE_FAILED", reason=reason)
        raise
    finally:
        operation.reset(token)
    resource_event(stack, logical_id, resource_type, "CREATE_COMPLETE", resource)
    return resource


def _authorize_create(
    logical_id: str,
    resource_json: dict[str, Any],
    resources_map: ResourceMap,
    account_id: str,
    region_name: str,
) -> None:
    """The caller of the stack operation must be allowed the calls the create makes; the name
    is the one the template gives or one of the shape CloudFormation generates."""
    resource_type = str(resource_json.get("Type", ""))
    properties = parsing.clean_json(resource_json.get("Properties") or {}, resources_map)
    name_property = parsing.resource_name_property_from_type(resource_type)
    name = properties.get(name_property) if name_property else None
    if not name:
        stack = stack_of(resources_map)
        stack_name = stack.name if stack is not None else "stack"
        name = parsing.generate_resource_name(resource_type, stack_name, logical_id)
    stack_authorization.authorize_create(
        resource_type, properties, str(name), account_id, region_name
    )


def _check_schema(
    logical_id: str, resource_json: dict[str, Any], resources_map: ResourceMap, region: str
) -> None:
    """The registry schema check CloudFormation makes on the resolved properties."""
    properties = parsing.clean_json(resource_json.get("Properties") or {}, resources_map)
    check_properties(logical_id, str(resource_json.get("Type", "")), properties, region)


def delete_resource(self: ResourceMap, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
    """Wraps ResourceMap._delete_resource: deletion policies, events, not-found is deleted."""
    stack = stack_of(self)
    logical_id = getattr(parsed_resource, "logical_resource_id", "")
    resource_type = str(resource_json.get("Type", ""))
    policy = resource_json.get("DeletionPolicy")
    if policy == "Retain" or (
        policy == "RetainExceptOnCreate" and deletion_mode.get() != "undo-create"
    ):
        resource_event(stack, logical_id, resource_type, "DELETE_SKIPPED", parsed_resource)
        return
    if waiting_for := _dependents_left(self, logical_id):
        # moto's ResourceMap.delete tries resources in a set's order and again until nothing
        # moves; CloudFormation never starts a resource's delete while a dependent is left.
        raise DependentsLeft(
            f"{logical_id} was not deleted: {', '.join(waiting_for)} depend on it and remain"
        )
    # moto's ResourceMap.delete retries failed deletes until nothing moves; AWS reports a
    # failure once, so a retry of an already-failed delete stays silent unless it succeeds.
    failed_before: set[str] = self.__dict__.setdefault("annex_failed_deletes", set())
    retry = logical_id in failed_before
    if not retry:
        resource_event(stack, logical_id, resource_type, "DELETE_IN_PROGRESS", parsed_resource)
    try:
        stack_authorization.authorize_delete(
            resource_type, physical_id(parsed_resource), self._account_id, self._region_name
        )
        ORIGINALS["ResourceMap._delete_resource"](self, parsed_resource, resource_json)
    except Exception as exc:
        if not is_not_found(exc):
            mark_failed(exc, logical_id)
            if not retry:
                failed_before.add(logical_id)
                resource_event(
                    stack,
                    logical_id,
                    resource_type,
                    "DELETE_FAILED",
                    parsed_resource,
                    failure_reason(exc),
                )
            raise
    failed_before.discard(logical_id)
    resource_event(stack, logical_id, resource_type, "DELETE_COMPLETE", parsed_resource)


class DependentsLeft(Exception):
    """A resource whose dependents are not deleted yet: CloudFormation deletes it after them."""


def _dependents_left(resource_map: ResourceMap, logical_id: str) -> list[str]:
    """During a whole stack's delete: the resources left that depend on `logical_id`."""
    if not resource_map.__dict__.get("annex_whole_stack_delete"):
        return []
    templates = resource_map._resource_json_map
    left = {
        other: templates[other]
        for other in resource_map._parsed_resources
        if other in templates and templates[other].get("DeletionPolicy") != "Retain"
    }
    deps = dependencies(left)
    return sorted(o for o, needs in deps.items() if o != logical_id and logical_id in needs)
