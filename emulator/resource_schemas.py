"""CloudFormation's own check of every resource: its properties against the resource type's
registry schema (types, patterns, lengths, enums, required, no unknown properties), before
the resource is created, updated or imported. A resource that fails it fails as
CloudFormation fails it ("Properties validation failed ..."), so nothing passes the emulator
that CloudFormation would refuse.

The schemas are the ones cfn-lint ships (its copy of the CloudFormation registry, per region),
checked with its JSON-schema validator, which reads the schemas' Unicode patterns
(`\\p{L}`) as Java does. Where CloudFormation converts a value before checking it (a string of
digits for an integer, "true" for a boolean, a number for a string), so does this check.

The check is pure (the same type, region and properties always get the same verdict), so each
verdict is kept for the emulator's life: a test run deploys the same stacks hundreds of times.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from annex_emulator.resource_properties import EmulatorResourceError

_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_INTEGER = re.compile(r"^-?\d+$")


def _converts(instance: Any, wanted: Any) -> bool:
    """Whether CloudFormation turns ``instance`` into the schema's type before checking."""
    types = wanted if isinstance(wanted, list) else [wanted]
    for kind in types:
        if kind == "integer" and isinstance(instance, str) and _INTEGER.match(instance):
            return True
        if kind == "number" and isinstance(instance, str) and _NUMBER.match(instance):
            return True
        if (
            kind == "boolean"
            and isinstance(instance, str)
            and instance.lower() in ("true", "false")
        ):
            return True
        if kind == "string" and isinstance(instance, int | float | bool):
            return True
    return False


class PropertiesValidationError(EmulatorResourceError):
    """CloudFormation's schema check refused the properties; it runs before the resource's
    handler, so the event's reason is this message alone."""

    before_handler = True


def _path(error: Any) -> str:
    return "#/" + "/".join(str(p) for p in error.absolute_path)


#: Verdicts already reached, by (type, region, the properties as JSON): the failures, if any.
_VERDICTS: dict[tuple[str, str, str], tuple[str, ...]] = {}
_VERDICTS_LIMIT = 4096
_verdicts_lock = threading.Lock()


def check_properties(logical_id: str, resource_type: str, properties: Any, region: str) -> None:
    """Raise EmulatorResourceError if CloudFormation's schema check refuses ``properties``."""
    # JSON tells apart what the check tells apart (1 and "1", true and "true"); anything JSON
    # cannot hold is keyed by its repr.
    key = (resource_type, region, json.dumps(properties, sort_keys=True, default=repr))
    failures = _VERDICTS.get(key)
    if failures is None:
        failures = _failures(resource_type, properties, region)
        with _verdicts_lock:
            if len(_VERDICTS) >= _VERDICTS_LIMIT:
                _VERDICTS.clear()
            _VERDICTS[key] = failures
    if failures:
        raise PropertiesValidationError(
            "InvalidRequest",
            f"Properties validation failed for resource {logical_id} with message: "
            + "; ".join(failures),
        )


def _failures(resource_type: str, properties: Any, region: str) -> tuple[str, ...]:
    # cfn-lint loads here, at the first stack operation, not at the emulator's start: its
    # import is a quarter of that start's CPU, and many emulators never deploy a stack.
    from cfnlint.jsonschema import StandardValidator
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER
    from cfnlint.schema.manager import ResourceNotFoundError

    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    except ResourceNotFoundError:
        return ()  # not a registry type (Custom::...): CloudFormation has no schema to apply
    return tuple(
        sorted(
            f"{_path(e)}: {e.message}"
            for e in StandardValidator(schema=schema).iter_errors(properties or {})
            if not (e.validator == "type" and _converts(e.instance, e.validator_value))
        )
    )
