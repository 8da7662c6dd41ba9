"""What a check found: one line per check, as condor_annex prints them, with the fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Check:
    name: str
    ok: bool
    line: str
    detail: str | None = None
    fix: str | None = None  # the exact command that repairs it


def fix_line(name: str, ok: bool, what: str, problem: str = "", fix: str | None = None) -> Check:
    """A `Checking <what>...` line; a finding carries its problem and, below it, the fix."""
    if ok:
        return Check(name, True, f"Checking {what}... OK.")
    line = f"Checking {what}... {problem}"
    if fix:
        line += f"\n\tfix: {fix}"
    return Check(name, False, line, problem, fix)


@dataclass
class CheckReport:
    region: str
    checks: list[Check] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # printed, but the setup can still work
    #: Each checked stack's entry, in the shape every command reports stacks in (stack_report).
    stacks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, check: Check) -> None:
        self.checks.append(check)
        self.lines.append(check.line)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.lines.append(f"Warning: {message}")

    def extend(self, part: CheckReport) -> None:
        """Add what `part` found (checks, lines, warnings, stacks) after what this report holds."""
        self.checks.extend(part.checks)
        self.lines.extend(part.lines)
        self.warnings.extend(part.warnings)
        self.stacks.update(part.stacks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "ok": self.ok,
            "warnings": list(self.warnings),
            "stacks": dict(self.stacks),
            "checks": [
                {"name": c.name, "ok": c.ok, "line": c.line, "detail": c.detail, "fix": c.fix}
                for c in self.checks
            ],
        }
