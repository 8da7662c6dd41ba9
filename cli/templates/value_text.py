"""How the diff shows a template value in one line: JSON scalars as JSON, intrinsic functions
as ${Fn::GetAtt X.Arn}, long texts by size and hash, large structures by their shape; and the
same values for --json (no absent marker, no multi-kilobyte code)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

SHORT: Final = 80  # longest value rendered in full


class _Missing:
    """An absent value (a property not set), distinct from JSON null."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def intrinsic(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, dict) and len(value) == 1:
        [(key, arg)] = value.items()
        if key == "Ref" or key.startswith("Fn::"):
            return key, arg
    return None


def is_plain_dict(value: Any) -> bool:
    return isinstance(value, dict) and intrinsic(value) is None


def fmt(value: Any, limit: int = SHORT) -> str:
    """A value as one short line: JSON scalars as JSON, intrinsics as ${Fn::GetAtt X.Arn},
    long texts by size and hash, large structures by their shape."""
    text = _render(value)
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        if "\n" in value:
            return _long_text(value)
        return json.dumps(value[: limit - 16] + "…", ensure_ascii=False) + f" ({len(value)} chars)"
    if is_plain_dict(value):
        keys = sorted(value)
        shown = ", ".join(keys[:4]) + (", …" if len(keys) > 4 else "")
        return f"{{{shown}}} ({len(keys)} keys)"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    return text[: limit - 1] + "…"


def fmt_bare(value: Any) -> str:
    """As fmt, without quotes around a plain string (for names and CIDRs inside a summary)."""
    if isinstance(value, str) and not is_long(value):
        return value
    return fmt(value)


def _render(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    fn = intrinsic(value)
    if fn is not None:
        return _render_intrinsic(*fn)
    if isinstance(value, str):
        return _long_text(value) if "\n" in value else json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(k)}: {_render(v)}" for k, v in sorted(value.items()))
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    return json.dumps(value)


def _render_intrinsic(name: str, arg: Any) -> str:
    if name == "Ref":
        return f"${{Ref {arg}}}"
    if name == "Fn::GetAtt":
        target = ".".join(str(a) for a in arg) if isinstance(arg, list) else str(arg)
        return f"${{Fn::GetAtt {target}}}"
    if name == "Fn::Sub":
        text, local = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, None)
        extra = f" {_render(local)}" if local else ""
        return f"${{Fn::Sub {_render(text)}{extra}}}"
    if name == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list):
        delimiter, parts = arg
        if delimiter == "":
            return f"${{Fn::Join {' + '.join(_render(p) for p in parts)}}}"
        return f"${{Fn::Join {json.dumps(delimiter)} {_render(parts)}}}"
    return f"${{{name} {_render(arg)}}}"


def _long_text(text: str) -> str:
    return f"<{text.count(chr(10)) + 1} lines, {len(text.encode())} bytes, sha256 {sha(text)}>"


def is_long(text: str) -> bool:
    return "\n" in text or len(text) > SHORT


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def json_value(value: Any) -> Any:
    """For --json: values as they are, but no absent marker and no multi-kilobyte code."""
    if value is MISSING:
        return None
    if isinstance(value, str) and "\n" in value:
        return {"bytes": len(value.encode()), "sha256": hashlib.sha256(value.encode()).hexdigest()}
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


def short_value(value: Any) -> str:
    """A value as one short line (as the diff shows values)."""
    return fmt(value)
