"""The diff's results: a `StackDiff` per stack, a `ResourceDiff` per resource, a `Change` per
difference, each rendered as stable text lines or as JSON-ready data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from annex_cdk.templates.stack_report import stack_entry
from annex_cdk.templates.value_text import MISSING, json_value

_COUNT_WORDS: Final = {
    "added": "added",
    "modified": "modified",
    "replaced": "replaced",
    "maybe_replaced": "may be replaced",
    "removed": "removed",
}


class Replacement(Enum):
    NO = "no"
    MAYBE = "conditional"  # a replacing property refers to a resource that is replaced
    YES = "yes"


@dataclass(frozen=True)
class Change:
    """One difference inside a resource, an output or the template's other sections.

    kind: "added" / "removed" (a property, key or unordered-list element), "modified", or
    "may-change" (unchanged text that refers to a resource that is replaced).
    """

    attribute: str  # "Properties", "DeletionPolicy", "Metadata", "Outputs", "Template", ...
    path: str  # relative to Properties; otherwise starts with the attribute or section name
    kind: str
    summary: str  # the readable value part: '+ tcp 22 from …', '"a" → "b"', 'inline code …'
    old: Any = MISSING
    new: Any = MISSING
    detail: tuple[str, ...] = ()  # e.g. a short unified diff of inline code
    cosmetic: bool = False
    causes_replacement: bool = False

    @property
    def label(self) -> str:
        return f"{self.path} (cosmetic)" if self.cosmetic else self.path

    def line(self) -> str:
        return f"{self.label}: {self.summary}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attribute": self.attribute,
            "path": self.path,
            "kind": self.kind,
            "summary": self.summary,
            "old": json_value(self.old),
            "new": json_value(self.new),
            "cosmetic": self.cosmetic,
            "causes_replacement": self.causes_replacement,
        }
        if self.detail:
            out["diff"] = list(self.detail)
        return out


@dataclass
class ResourceDiff:
    logical_id: str
    type: str  # the desired type, or the deployed one for a removal
    status: str  # "added" | "removed" | "modified"
    old_type: str | None = None
    changes: list[Change] = field(default_factory=list)
    replacement: Replacement = Replacement.NO
    replacement_reasons: list[str] = field(default_factory=list)
    danger: str | None = None  # why this loses data, when it does

    @property
    def dangerous(self) -> bool:
        return self.danger is not None

    @property
    def cosmetic_only(self) -> bool:
        return self.status == "modified" and all(c.cosmetic for c in self.changes)

    def header(self) -> str:
        what = f"{self.logical_id} ({self.type})"
        danger = f"DANGEROUS: {self.danger}" if self.danger else ""
        if self.status == "added":
            return f"+ {what}"
        if self.status == "removed":
            return f"- {what}" + (f" ({danger})" if danger else "")
        if self.replacement is not Replacement.NO:
            verb = "will be" if self.replacement is Replacement.YES else "may be"
            line = f"! {what} {verb} REPLACED: " + "; ".join(self.replacement_reasons)
            return line + (f" ({danger})" if danger else "")
        return f"~ {what}" + (" (cosmetic)" if self.cosmetic_only else "")

    def render(self) -> list[str]:
        return [self.header(), *change_lines(self.changes)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "logical_id": self.logical_id,
            "type": self.type,
            "old_type": self.old_type,
            "status": self.status,
            "replacement": self.replacement.value,
            "replacement_reasons": list(self.replacement_reasons),
            "dangerous": self.dangerous,
            "danger": self.danger,
            "changes": [c.as_dict() for c in self.changes],
        }


#: A stack deployed but no longer wanted, which setup leaves in place (not a change).
KEPT = "kept"


_KEPT_TEXT = "deployed, no longer managed by these settings; setup leaves it (destroy removes it)"


@dataclass
class StackDiff:
    stack: str
    action: str  # "create" | "update" | "delete" | "unchanged"
    resources: list[ResourceDiff] = field(default_factory=list)
    outputs: list[Change] = field(default_factory=list)
    template: list[Change] = field(default_factory=list)  # Description, Metadata, ...
    #: Where the resource verdicts come from: "template" (our template diff) or "change-set"
    #: (CloudFormation's, templates/change_set.py); the note says why not a change set.
    source: str = "template"
    source_note: str | None = None

    @property
    def changed(self) -> bool:
        return self.action not in ("unchanged", KEPT)

    @property
    def cosmetic_only(self) -> bool:
        """Only resource Metadata differs: CloudFormation does not update that on its own."""
        return (
            self.action == "update"
            and all(c.cosmetic for c in [*self.outputs, *self.template])
            and all(r.cosmetic_only for r in self.resources)
        )

    def by_status(self, status: str) -> list[ResourceDiff]:
        return [r for r in self.resources if r.status == status]

    @property
    def replaced(self) -> list[ResourceDiff]:
        return [r for r in self.resources if r.replacement is not Replacement.NO]

    @property
    def dangerous(self) -> list[ResourceDiff]:
        return [r for r in self.resources if r.dangerous]

    def resource(self, logical_id: str) -> ResourceDiff | None:
        return next((r for r in self.resources if r.logical_id == logical_id), None)

    def counts(self) -> dict[str, int]:
        """Resources by what happens to them; "modified" excludes the replaced ones."""
        kinds = Counter(r.replacement for r in self.resources)
        return {
            "added": len(self.by_status("added")),
            "modified": len(self.by_status("modified")) - len(self.replaced),
            "replaced": kinds[Replacement.YES],
            "maybe_replaced": kinds[Replacement.MAYBE],
            "removed": len(self.by_status("removed")),
            "dangerous": len(self.dangerous),
        }

    def summary(self) -> str:
        if not self.changed:
            return "no changes"
        parts = [
            f"{n} {_COUNT_WORDS[what]}"
            for what, n in self.counts().items()
            if n and what != "dangerous"
        ]
        if self.dangerous:
            parts.append(f"{len(self.dangerous)} DANGEROUS")
        if self.cosmetic_only:
            parts.append("cosmetic only")
        if not parts:
            parts.append("no resource changes")
        return f"{self.action} (" + ", ".join(parts) + ")"

    def render(self) -> list[str]:
        lines = [f"Stack {self.stack}: {self.summary()}"]
        for res in self.resources:
            lines.extend(res.render())
        if self.outputs:
            sign = {"create": "+", "delete": "-"}.get(self.action, "~")
            lines.append(f"{sign} Outputs")
            lines.extend(change_lines(self.outputs))
        if self.template:
            lines.append("~ Template")
            lines.extend(change_lines(self.template))
        return lines

    def source_line(self) -> str:
        if self.source == "change-set":
            return "replacements as CloudFormation's change set says"
        return "from the template diff" + (f": {self.source_note}" if self.source_note else "")

    def as_dict(
        self, *, status: str | None = None, outputs: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The stack's entry in `diff --json` (the shape every command uses), given its live
        status and outputs; the planned changes of its outputs are `output_changes`."""
        return stack_entry(
            self.stack,
            status=status,
            action=self.action,
            outputs=outputs,
            dangerous=bool(self.dangerous),
            changed=self.changed,
            summary=self.summary(),
            cosmetic_only=self.cosmetic_only,
            counts=self.counts(),
            resources=[r.as_dict() for r in self.resources],
            output_changes=[c.as_dict() for c in self.outputs],
            template=[c.as_dict() for c in self.template],
            source=self.source,
            source_note=self.source_note,
        )


def change_lines(changes: list[Change]) -> list[str]:
    lines: list[str] = []
    for change in changes:
        lines.append("    " + change.line())
        lines.extend("        " + d for d in change.detail)
    return lines


def any_changed(diffs: list[StackDiff]) -> bool:
    return any(d.changed for d in diffs)


def render_all(diffs: list[StackDiff]) -> list[str]:
    """Every stack's lines, a blank line between changed stacks, then a one-line total."""
    lines: list[str] = []
    for d in diffs:
        if lines and d.changed:
            lines.append("")
        if d.action == KEPT:
            lines.append(f"Stack {d.stack}: {_KEPT_TEXT}")
            continue
        lines.extend(d.render() if d.changed else [f"Stack {d.stack}: no changes"])
        if d.action == "update":  # only an update has a change set to ask for
            lines.append(f"  ({d.source_line()})")
    lines.append("")
    lines.append(total_line(diffs))
    return lines


def total_line(diffs: list[StackDiff]) -> str:
    changed = [d for d in diffs if d.changed]
    if not changed:
        return "No changes."
    totals: Counter[str] = Counter()
    for d in changed:
        totals.update(d.counts())
    parts = [f"{totals[k]} {word}" for k, word in _COUNT_WORDS.items() if totals[k]]
    text = f"{len(changed)} of {len(diffs)} stacks change" + (
        ": " + ", ".join(parts) if parts else ""
    )
    if totals["dangerous"]:
        text += f"; {totals['dangerous']} DANGEROUS (see lines marked DANGEROUS)"
    return text + "."
