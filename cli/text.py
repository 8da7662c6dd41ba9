"""Text from outside (AWS, files, the environment) made safe to print: no terminal control
sequences, no URL credentials. Every line annex-cdk prints or logs passes through here."""

from __future__ import annotations

import re
from typing import Any

# C0 controls but tab and newline, DEL, C1 controls (a lone 0x9b is a CSI on some terminals),
# and the bidirectional overrides and isolates that reorder what a line shows.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("[\t\n]")
# scheme://userinfo@host: the userinfo runs to the last @ before the path, query or fragment
# (`user:p@ss@host` hides `p@ss` too).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#]*@")
REDACTED = "***"


_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escaped(match: re.Match[str]) -> str:
    if (named := _NAMED.get(match.group())) is not None:
        return named
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def redact(text: str) -> str:
    """``text`` with the user and password of every URL in it replaced by ***."""
    return _USERINFO.sub(rf"\1{REDACTED}@", text)


def printable(text: str) -> str:
    """One line from outside, safe for a terminal: every control character (newline and tab
    included) as a visible escape, URL credentials redacted."""
    return _LINE_BREAKS.sub(_escaped, _CONTROL.sub(_escaped, redact(text)))


def printable_lines(text: str) -> str:
    """As printable, but newlines and tabs kept: for messages that are meant to span lines
    (condor_annex's tab-separated output)."""
    return _CONTROL.sub(_escaped, redact(text))


def redact_document(value: Any) -> Any:
    """A JSON document with redact applied to every string in it (keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_document(k): redact_document(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_document(v) for v in value]
    return value


#: What some Windows editors put before UTF-8 text; invisible, and never part of a key.
BOM = "\ufeff"
BOM_HINT = "save it without the byte order mark (e.g. sed -i '1s/^\\xEF\\xBB\\xBF//' FILE)"


def bom_problem(source: str) -> str:
    return (
        f"{source} starts with a UTF-8 byte order mark (BOM, bytes EF BB BF), which some "
        "editors add; AWS keys never hold one"
    )
