"""JSON schemas of the documents `--json` prints (README: "JSON output"), for the tests."""

from __future__ import annotations

from typing import Any

from annex_cdk.console import SCHEMA_VERSION

_VERSION = {"type": "integer", "const": SCHEMA_VERSION}

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
                "kind": {"type": "string"},
                "message": {"type": "string", "minLength": 1},
                "exit_code": {"type": "integer", "minimum": 1},
                "hint": {"type": ["string", "null"]},
                "log": {"type": "string"},
            },
        },
    },
}

SETUP: dict[str, Any] = {
    "type": "object",
    "required": ["schema_version", "ok", "region", "account", "stacks", "settings", "timings"],
    "properties": {
        "schema_version": _VERSION,
        "ok": {"type": "boolean"},
        "stacks": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["action", "status", "seconds", "outputs"],
                "properties": {
                    "action": {"enum": ["create", "update", "unchanged", "replace"]},
                    "status": {"type": "string"},
                    "seconds": {"type": "number"},
                    "outputs": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
        "cdk_context": {"type": ["string", "null"]},
    },
}

REHEARSE: dict[str, Any] = {
    "type": "object",
    "required": ["schema_version", "ok", "steps"],
    "properties": {
        "schema_version": _VERSION,
        "ok": {"type": "boolean"},
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["step", "seconds"],
                "properties": {"step": {"type": "string"}, "seconds": {"type": "number"}},
            },
        },
    },
}
