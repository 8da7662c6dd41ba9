"""What every resource type the emulator teaches shares: its error, reading template
properties, and remembering them for the next update (which compares old and new)."""

from __future__ import annotations

import copy
import json
from typing import Any

from moto.core.exceptions import ServiceException


class EmulatorResourceError(ServiceException):
    """A resource operation that fails; worded as AWS words it where AWS fails the same way."""

    code = "InvalidRequest"


def template_tags(properties: dict[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in properties.get("Tags") or []}


def is_true(value: Any) -> bool:
    # Template booleans arrive as JSON booleans or as the strings "true"/"false".
    return value is True or (isinstance(value, str) and value.lower() == "true")


def json_text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def previous_properties(resource: Any) -> dict[str, Any]:
    """The properties a resource was last created/updated with (stashed by our models)."""
    return getattr(resource, "annex_cfn_properties", None) or {}


def stash_properties(resource: Any, properties: dict[str, Any]) -> None:
    resource.annex_cfn_properties = copy.deepcopy(properties)


def refuse_custom_named_replacement(
    name_property: str, properties: dict[str, Any], previous: dict[str, Any]
) -> None:
    """AWS refuses to replace a resource whose explicit name stays the same (the names clash)."""
    name = properties.get(name_property)
    if name is not None and name == previous.get(name_property):
        raise EmulatorResourceError(
            "NotUpdatable",
            "CloudFormation cannot update a stack when a custom-named resource requires "
            f"replacing. Rename {name} and update the stack again.",
        )
