"""Stack updates in CloudFormation's order, with rollback (replaces ResourceMap.update).

moto deletes removed resources first, never forgets them (re-adding a logical id later is
silently skipped), ignores resources that must follow a replaced one, and has no rollback.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.parsing import ResourceMap

from annex_emulator.resource_properties import EmulatorResourceError
from annex_emulator.resource_schemas import check_properties
from annex_emulator.stack_events import (
    enter_stack_status,
    failure_reason,
    mark_failed,
    resource_event,
    stack_failure_reason,
)
from annex_emulator.stack_operation import (
    Operation,
    deletion_mode,
    is_resource,
    operation,
    physical_id,
    stack_of,
)
from annex_emulator.template_dependencies import dependencies, dependency_order


def _condition_holds(resource_map: ResourceMap, resource_json: dict[str, Any]) -> bool:
    condition = resource_json.get("Condition")
    return not condition or bool(resource_map.lazy_condition_map[condition])


def _replaced(old: Any, new: Any) -> bool:
    return new is not old and physical_id(new) != physical_id(old)


class UpdateFailed(Exception):
    """Raised by ResourceMap.update after it rolled the resources back."""

    def __init__(self, logical_id: str | None, reason: str, rolled_back: bool) -> None:
        super().__init__(reason)
        self.logical_id = logical_id
        self.reason = reason
        self.rolled_back = rolled_back


@dataclass
class _UpdateProgress:
    current: str | None = None
    #: (logical id, object before, object after) for every resource updated so far.
    modified: list[tuple[str, Any, Any]] = field(default_factory=list)
    replaced: set[str] = field(default_factory=set)


def _update_resource(
    resource_map: ResourceMap, logical_id: str, resource_json: dict[str, Any]
) -> Any:
    stack = stack_of(resource_map)
    resource_type = str(resource_json.get("Type", ""))
    resource_event(stack, logical_id, resource_type, "UPDATE_IN_PROGRESS")
    token = operation.set(Operation(stack, logical_id))
    try:
        resource_class = parsing.resource_class_from_type(resource_type)
        update = getattr(resource_class, "update_from_cloudformation_json", None)
        if update is None or getattr(update, "__isabstractmethod__", False):
            # moto would store None for the resource and break every later Ref to it.
            raise EmulatorResourceError(
                "NotUpdatable", f"The annex-cdk emulator cannot update {resource_type}."
            )
        properties = parsing.clean_json(resource_json.get("Properties") or {}, resource_map)
        check_properties(logical_id, resource_type, properties, resource_map._region_name)
        new_resource = parsing.parse_and_update_resource(
            logical_id,
            resource_json,
            resource_map,
            account_id=resource_map._account_id,
            region_name=resource_map._region_name,
        )
    except Exception as exc:
        mark_failed(exc, logical_id)
        resource_event(
            stack, logical_id, resource_type, "UPDATE_FAILED", reason=failure_reason(exc)
        )
        raise
    finally:
        operation.reset(token)
    resource_map._parsed_resources[logical_id] = new_resource
    resource_event(stack, logical_id, resource_type, "UPDATE_COMPLETE", new_resource)
    return new_resource


def _load_template(
    resource_map: ResourceMap, template: dict[str, Any], inputs: dict[str, Any]
) -> None:
    resource_map._template = template
    resource_map.input_parameters = inputs
    resource_map.load_mapping()
    resource_map.load_parameters()
    resource_map.load_conditions()
    # A stack under REVIEW_IN_PROGRESS (CREATE change set) has the empty template {}.
    resource_map._resource_json_map = template.get("Resources", {})


def resource_map_update(
    self: ResourceMap, template: dict[str, Any], parameters: dict[str, Any] | None = None
) -> None:
    """Replaces ResourceMap.update with CloudFormation's order and rollback.

    moto deletes removed resources first, never forgets them (re-adding a logical id later is
    silently skipped), ignores resources that must follow a replaced one, and has no rollback.
    AWS creates and updates in dependency order, deletes removed resources and old copies of
    replaced ones only after everything else succeeded, and on failure updates back.
    """
    diff = self.build_resource_diff(template, parameters)
    old_template, old_json, old_inputs = (
        self._template,
        self._resource_json_map,
        self.input_parameters,
    )
    new_json = template["Resources"]
    for logical_id in diff["Modify"]:
        if old_json[logical_id].get("Type") != new_json[logical_id].get("Type"):
            raise ValidationError(
                message=f"Update of resource type is not permitted. The new template modifies "
                f"resource type of resource {logical_id}."
            )
    existed = {k for k, v in self._parsed_resources.items() if is_resource(v)}
    try:
        # moto keeps the old inputs when an update passes no parameters; so do we, but only
        # those the new template still declares (AWS drops the others with the declaration).
        declared = template.get("Parameters", {})
        kept = {k: v for k, v in (old_inputs or {}).items() if k in declared}
        _load_template(self, template, parameters or kept)
    except Exception:
        _load_template(self, old_template, old_inputs)
        raise  # a template/parameter error: AWS rejects the call itself
    self.annex_frozen = False
    deps = dependencies(new_json)
    progress = _UpdateProgress()
    removals = [(k, old_json[k]) for k in diff["Remove"] if k in existed]
    try:
        for logical_id in dependency_order(new_json, deps):
            resource_json = new_json[logical_id]
            current = self._parsed_resources.get(logical_id)
            if not _condition_holds(self, resource_json):
                if is_resource(current):  # its condition turned false: remove it
                    removals.append((logical_id, old_json.get(logical_id, resource_json)))
                continue
            if not is_resource(current):
                self._parsed_resources.pop(logical_id, None)
                progress.current = logical_id
                _ = self[logical_id]  # creates it (through create_resource)
                continue
            if logical_id in diff["Modify"] or deps[logical_id] & progress.replaced:
                progress.current = logical_id
                updated = _update_resource(self, logical_id, resource_json)
                progress.modified.append((logical_id, current, updated))
                if _replaced(current, updated):
                    progress.replaced.add(logical_id)
        progress.current = None
    except Exception as exc:
        failed = getattr(exc, "annex_failed_resource", None) or progress.current
        # Nothing existed before only when a CREATE change set runs through here.
        status = "ROLLBACK" if not old_json else "UPDATE_ROLLBACK"
        verb = "update" if failed in existed else "create"
        reason = stack_failure_reason(verb, [failed] if failed else [], exc)
        stack = stack_of(self)
        if stack is not None:  # announced before the rollback's own resource events, as on AWS
            enter_stack_status(stack, f"{status}_IN_PROGRESS", reason)
        rolled_back = _roll_back_update(self, old_template, old_json, old_inputs, existed, progress)
        raise UpdateFailed(failed, reason, rolled_back) from exc

    # Clean-up: old copies of replaced resources (their UpdateReplacePolicy decides), then the
    # removed resources. As on AWS, a failure here is an event, not a failed update.
    for logical_id, old, new in reversed(progress.modified):
        if _replaced(old, new):
            old_resource_json = dict(old_json.get(logical_id) or new_json[logical_id])
            old_resource_json["DeletionPolicy"] = old_resource_json.get(
                "UpdateReplacePolicy", "Delete"
            )
            with contextlib.suppress(Exception):
                self._delete_resource(old, old_resource_json)
    order = dependency_order(old_json, dependencies(old_json))
    for logical_id, resource_json in sorted(
        removals, key=lambda r: -order.index(r[0]) if r[0] in order else 0
    ):
        resource = self._parsed_resources.pop(logical_id, None)
        if is_resource(resource):
            with contextlib.suppress(Exception):
                self._delete_resource(resource, resource_json)


def _roll_back_update(
    self: ResourceMap,
    old_template: dict[str, Any],
    old_json: dict[str, Any],
    old_inputs: dict[str, Any],
    existed: set[str],
    progress: _UpdateProgress,
) -> bool:
    """Update back to the previous template; True if every step succeeded."""
    new_json = self._resource_json_map
    _load_template(self, old_template, old_inputs)
    ok = True
    discard: list[tuple[str, Any, dict[str, Any]]] = []
    in_place: list[str] = []
    for logical_id, old, new in progress.modified:
        if _replaced(old, new):
            self._parsed_resources[logical_id] = old  # the old copy was never deleted
            discard.append((logical_id, new, new_json[logical_id]))
        elif logical_id not in in_place:
            in_place.append(logical_id)
    # The resource that failed may be half-updated: update it back too.
    failed = progress.current
    if failed and failed not in in_place and failed in old_json and failed in existed:
        in_place.append(failed)
    for logical_id in reversed(in_place):
        try:
            _update_resource(self, logical_id, old_json[logical_id])
        except Exception:
            ok = False
    # Delete what the failed update created: added resources, new copies of replaced ones.
    token = deletion_mode.set("undo-create")
    try:
        for logical_id, resource in list(self._parsed_resources.items()):
            if is_resource(resource) and logical_id not in existed:
                del self._parsed_resources[logical_id]
                try:
                    self._delete_resource(resource, new_json.get(logical_id) or {})
                except Exception:
                    ok = False
        for _logical_id, resource, resource_json in reversed(discard):
            try:
                self._delete_resource(resource, resource_json)
            except Exception:
                ok = False
    finally:
        deletion_mode.reset(token)
    return ok
