"""JSON schemas of the documents `--json` prints (README: "JSON output"), for the tests.

Every document is an object with `schema_version` and `ok`; an error is ERROR whatever the
command. Every stack a command reports is STACK (cli/templates/stack_report.py), in `stacks`,
an object keyed by stack name.
"""

from __future__ import annotations

from typing import Any

from annex_cdk.console import SCHEMA_VERSION
from annex_cdk.templates.diff_model import Replacement
from annex_cdk.templates.stack_report import ACTIONS, NOT_DEPLOYED, STACK_KEYS

_VERSION = {"type": "integer", "const": SCHEMA_VERSION}
_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}
_MAYBE_STRING = {"type": ["string", "null"]}
_STRING_MAP = {"type": "object", "additionalProperties": _STRING}
_STACK_NAME = {"type": "string", "pattern": "^HTCondorAnnex-"}


def _document(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["schema_version", "ok", *required],
        "properties": {"schema_version": _VERSION, "ok": {"type": "boolean"}, **properties},
    }


STACK: dict[str, Any] = {
    "type": "object",
    "required": list(STACK_KEYS),
    "properties": {
        "name": _STACK_NAME,
        "status": {
            "type": "string",
            "anyOf": [{"const": NOT_DEPLOYED}, {"pattern": "^[A-Z_]+$"}],
        },
        "action": {"enum": [*ACTIONS, None]},
        "changed": {"type": "boolean"},
        "dangerous": {"type": "boolean"},
        "outputs": _STRING_MAP,
    },
}


def _stacks(**extra: Any) -> dict[str, Any]:
    """`stacks`: STACK per name, with a command's own keys beside the common ones."""
    stack = {**STACK, "properties": {**STACK["properties"], **extra}}
    return {
        "type": "object",
        "propertyNames": _STACK_NAME,
        "additionalProperties": stack,
    }


ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["schema_version", "ok", "error"],
    "additionalProperties": False,
    "properties": {
        "schema_version": _VERSION,
        "ok": {"const": False},
        "error": {
            "type": "object",
            "required": ["kind", "message", "exit_code", "hint"],
            "additionalProperties": False,
            "properties": {
                "kind": _STRING,
                "message": {"type": "string", "minLength": 1},
                "exit_code": {"type": "integer", "minimum": 1},
                "hint": _MAYBE_STRING,
                "log": _STRING,
            },
        },
    },
}

_LOCAL = {
    "type": ["object", "null"],
    "required": ["pem", "pem_action", "user_config", "user_config_action", "problems"],
    "properties": {"problems": _STRINGS, "user_config": _MAYBE_STRING, "pem": _MAYBE_STRING},
}

SETUP = _document(
    ["region", "account", "stacks", "local", "settings", "timings", "cdk_context"],
    {
        "region": _STRING,
        "account": _STRING,
        "stacks": _stacks(seconds={"type": "number"}, reason=_MAYBE_STRING),
        "local": _LOCAL,
        "settings": {"type": "object"},
        "timings": {"type": "object", "required": ["total_s"]},
        "cdk_context": _MAYBE_STRING,
    },
)

_CHANGE = {"type": "object", "required": ["path", "kind", "old", "new"]}
DIFF = _document(
    ["changed", "stacks", "blocked", "settings"],
    {
        "changed": {"type": "boolean"},
        "stacks": _stacks(
            summary=_STRING,
            counts={"type": "object", "additionalProperties": {"type": "integer"}},
            resources={
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["logical_id", "type", "status", "replacement", "dangerous"],
                    "properties": {
                        "replacement": {"enum": [r.value for r in Replacement]},
                        "changes": {"type": "array", "items": _CHANGE},
                    },
                },
            },
            output_changes={"type": "array", "items": _CHANGE},
            # Whose verdict the resources carry: CloudFormation's change set, or the template
            # diff with the reason why (README: diff).
            source={"enum": ["change-set", "template"]},
            source_note=_MAYBE_STRING,
            blocked=_MAYBE_STRING,
        ),
        "blocked": _STRING_MAP,
        "settings": {"type": "object"},
    },
)

DESTROY = _document(
    ["region", "stacks", "images_removed", "leftovers", "bucket_retained"],
    {
        "region": _STRING,
        "stacks": _stacks(seconds={"type": "number"}, action={"enum": ["delete", "unchanged"]}),
        "images_removed": _STRINGS,
        "leftovers": _STRINGS,
        "bucket_retained": _MAYBE_STRING,
    },
)

CHECK_SETUP = _document(
    ["region", "checks", "warnings", "stacks"],
    {
        "region": _STRING,
        "warnings": _STRINGS,
        "checks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "ok", "line", "detail", "fix"],
                "properties": {"ok": {"type": "boolean"}, "line": _STRING, "fix": _MAYBE_STRING},
            },
        },
        # check-setup changes nothing: every stack's action is null.
        "stacks": _stacks(action={"const": None}, changed={"const": False}, ok={"type": "boolean"}),
    },
)

WRITE_CONFIG = _document(["region", "local"], {"region": _STRING, "local": _LOCAL})

SYNTH = _document(
    ["outdir", "templates", "warnings"],
    {
        "outdir": _STRING,
        "templates": {
            "type": "object",
            "propertyNames": _STACK_NAME,
            "additionalProperties": _STRING,
        },
        "warnings": _STRINGS,
    },
)

_RESTART = {"type": "object", "required": ["needed", "ran", "output"]}
CONDOR_CONFIGURE = _document(
    ["config_file", "action", "settings", "effective", "password", "restart", "problems"],
    {
        "config_file": _STRING,
        "action": _STRING,
        "settings": _STRING_MAP,
        "effective": {"type": "object"},
        "restart": _RESTART,
        "problems": _STRINGS,
        "warnings": _STRINGS,
    },
)

CONDOR_UNCONFIGURE = _document(
    ["config_file", "action", "restart"],
    {"config_file": _STRING, "action": _STRING, "restart": _RESTART},
)

_KEY_FILE = {
    "type": ["object", "null"],
    "required": ["path", "action", "mode"],
    "properties": {"mode": {"type": "string", "pattern": "^0[0-7]{3}$"}},
}
CREDENTIALS = _document(
    ["source", "access_key_id", "access_key_file", "secret_key_file", "config_values", "changed"],
    {
        "source": _STRING,
        "access_key_id": _MAYBE_STRING,
        "access_key_file": _KEY_FILE,
        "secret_key_file": _KEY_FILE,
        "config_values": _STRING_MAP,
        "changed": {"type": "boolean"},
        "warnings": _STRINGS,
    },
)

CREDENTIALS_ROTATE = _document(
    ["user", "old_access_key_id", "access_key_id", "files"],
    {
        "user": _STRING,
        "old_access_key_id": _MAYBE_STRING,
        "access_key_id": _STRING,
        "files": _STRINGS,
    },
)

UNLOCK = _document(
    ["region", "holder", "removed"],
    {"region": _STRING, "holder": {"type": ["object", "null"]}, "removed": {"type": "boolean"}},
)

REHEARSE = _document(
    ["steps"],
    {
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["step", "seconds"],
                "properties": {"step": _STRING, "seconds": {"type": "number"}},
            },
        },
    },
)


_REGION_ERROR = {
    "type": "object",
    "required": ["ok", "error"],
    "properties": {
        "ok": {"const": False},
        "error": {
            "type": "object",
            "required": ["message", "hint", "exit_code"],
            "properties": {
                "message": _STRING,
                "hint": _MAYBE_STRING,
                "exit_code": {"type": "integer"},
            },
        },
    },
}


def regional(document: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A command run in several regions: `regions`, each region's own document (without its
    schema_version) or its error, and `ok` for all (docs/json-output.md)."""
    inner = {**document, "required": [k for k in document["required"] if k != "schema_version"]}
    return _document(
        ["regions", *extra],
        {
            "regions": {
                "type": "object",
                "minProperties": 2,
                "additionalProperties": {"oneOf": [_REGION_ERROR, inner]},
            },
            **extra,
        },
    )


_NUMBER_OR_NULL = {"type": ["number", "null"]}
SPEND = _document(
    ["region", "time", "guardrail", "now", "today", "caps", "deny", "lastRun", "heartbeat"],
    {
        "region": _STRING,
        "time": _STRING,
        "guardrail": {"type": "boolean"},
        "now": {
            "type": "object",
            "required": ["annexes", "instances", "vcpus"],
            "properties": {
                "annexes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "instances", "vcpus"],
                        "properties": {
                            "name": _STRING,
                            "instances": {"type": "integer"},
                            "vcpus": {"type": "integer"},
                        },
                    },
                },
                "instances": {"type": "integer"},
                "vcpus": {"type": "integer"},
            },
        },
        "today": {
            "type": "object",
            "required": ["day", "instanceHours", "dollars", "prices", "priceSource"],
            "properties": {
                "day": _STRING,
                "instanceHours": {"type": "number"},
                "dollars": _NUMBER_OR_NULL,
                "prices": {"type": "object", "additionalProperties": _NUMBER_OR_NULL},
                "priceSource": _STRING,
            },
        },
        "caps": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["cap", "limit", "value", "breached"],
                "properties": {
                    "cap": {
                        "enum": ["max_instances", "max_vcpus", "max_instance_hours", "max_dollars"]
                    },
                    "limit": {"type": "number"},
                    "value": _NUMBER_OR_NULL,
                    "breached": {"type": "boolean"},
                    "why": _STRING,
                },
            },
        },
        "deny": {
            "type": "object",
            "required": ["armed", "since"],
            "properties": {"armed": {"type": "boolean"}, "since": _MAYBE_STRING},
        },
        "lastRun": {
            "type": ["object", "null"],
            "required": ["time", "actions", "breaches"],
            "properties": {
                "time": _STRING,
                "actions": {
                    "type": "array",
                    "items": {"type": "object", "required": ["action"]},
                },
                "breaches": {"type": "array"},
            },
        },
        "heartbeat": {
            "type": "object",
            "required": ["parameter", "ageSeconds", "limitMinutes", "stale"],
            "properties": {
                "parameter": _STRING,
                "ageSeconds": _NUMBER_OR_NULL,
                "limitMinutes": {"type": ["integer", "null"]},
                "stale": {"type": "boolean"},
            },
        },
        "budget": {
            "type": ["object", "null"],
            "required": ["name", "limit", "actual", "forecast", "unit", "note"],
        },
        "notes": _STRINGS,
    },
)

HEARTBEAT = _document(
    ["region", "parameter", "written"],
    {"region": _STRING, "parameter": _STRING, "written": _STRING},
)
