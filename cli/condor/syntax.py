"""HTCondor config text as annex-cdk writes it: the errors, safe names and values, lines.

The base of cli/condor's config modules (block, parser, user_config, personal): what can be
written into an HTCondor config file so that HTCondor reads back exactly that, and how a file
splits into lines the way HTCondor splits it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REGION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: A newline or another control character: what no config line, value or path may hold.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# $(X), $ENV(X), $RANDOM_CHOICE(...), $$(X): anything HTCondor would expand or keep symbolic.
_MACRO_RE = re.compile(r"\$[A-Za-z_]*\(")


class ConfigError(Exception):
    """A config file cannot be rendered, parsed or checked; the message is one line."""


class ConfigValueError(ConfigError):
    """A region, key or value cannot be written safely as HTCondor config."""


class ConfigSyntaxError(ConfigError):
    """HTCondor refuses a config file; ``file``/``line`` locate it when HTCondor says where."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, detail: str = ""
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.detail = detail or message


class HTCondorUnavailableError(ConfigError):
    """The htcondor2 bindings cannot be run, so config cannot be checked."""


def check_region(region: str) -> None:
    """ConfigValueError unless ``region`` can name a block and prefix config keys."""
    if not isinstance(region, str) or not _REGION_RE.match(region):
        raise ConfigValueError(f"not a usable region name: {region!r}")


def check_key(key: str) -> None:
    """ConfigValueError unless ``key`` is a plain HTCondor config name."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ConfigValueError(f"not a usable HTCondor config key: {key!r}")


def check_value(key: str, value: str) -> None:
    """Refuse values that HTCondor would read back as something else."""
    if not isinstance(value, str):
        raise ConfigValueError(f"{key}: value must be a string, not {type(value).__name__}")
    problem = None
    if CONTROL_RE.search(value):
        problem = "contains a newline or another control character"
    elif value != value.strip():
        problem = "has leading or trailing whitespace, which HTCondor would drop"
    elif value.endswith("\\"):
        problem = "ends with a backslash, which HTCondor reads as a line continuation"
    elif _MACRO_RE.search(value):
        problem = "contains a $(...) macro reference, which HTCondor would expand"
    if problem:
        raise ConfigValueError(f"{key}: value {value!r} {problem}")


@dataclass(frozen=True)
class Line:
    """One line of a config text: its 1-based number and character offsets [start, end)."""

    number: int
    start: int
    end: int  # after the newline, if any
    content: str  # without the newline and a CR before it


def split_lines(text: str) -> list[Line]:
    """Split on LF only (HTCondor's view); a CR before it is not content."""
    out: list[Line] = []
    pos = 0
    while pos < len(text):
        nl = text.find("\n", pos)
        end = len(text) if nl < 0 else nl + 1
        raw = text[pos : end if nl < 0 else nl]
        out.append(Line(len(out) + 1, pos, end, raw.removesuffix("\r")))
        pos = end
    return out


#: Any ``<NAME>.`` in front of a key: a daemon's or a region's prefix.
ANY_PREFIX = r"[A-Za-z0-9_]+"


def find_assignments(
    text: str, key: str, *, prefix: str | None = ANY_PREFIX
) -> list[tuple[int, str]]:
    """(line number, prefix) of each line of ``text`` that sets ``key`` (``=`` or ``@=``).

    ``prefix`` is a regular expression for the ``PREFIX.`` a line may put before the key (None:
    the plain key only); the prefix comes back as written, "" for none. Case is ignored, as
    HTCondor ignores it.
    """
    group = rf"(?:(?P<prefix>{prefix})\.)?" if prefix else ""
    pattern = re.compile(rf"\s*{group}{re.escape(key)}\s*@?=", re.IGNORECASE)
    return [
        (line.number, m.groupdict().get("prefix") or "")
        for line in split_lines(text)
        if (m := pattern.match(line.content))
    ]
