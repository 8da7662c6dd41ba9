"""CloudFormation's own verdict on an update (a described change set) laid over the template
diff: replacement (True / Conditional), the causing properties and their resolved values come
from CloudFormation, as `cdk diff` shows them; the template diff keeps its property lines.

Where the change set cannot say (a Modify change without Replacement or Details, as an
endpoint that does not model them returns), the template diff stays, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from annex_cdk.templates.diff_model import Replacement, ResourceDiff, StackDiff
from annex_cdk.templates.update_effects import deletion_danger_of_type, replacement_danger
from annex_cdk.templates.value_text import short_value

CHANGE_SET = "change-set"
TEMPLATE = "template"
#: Why the template diff is shown although a change set was made.
NO_DETAILS = "the change set has no per-resource replacement details"
_REPLACEMENT = {"True": Replacement.YES, "Conditional": Replacement.MAYBE, "False": Replacement.NO}
_STATUS = {"Add": "added", "Remove": "removed", "Modify": "modified", "Import": "added"}


def can_say(changes: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the change set carries per-resource verdicts: every Modify change has its
    Replacement and its Details (the capability test, not a guess about the endpoint)."""
    for change in changes:
        rc = change.get("ResourceChange") or {}
        if rc.get("Action") == "Modify" and (
            rc.get("Replacement") not in _REPLACEMENT or "Details" not in rc
        ):
            return False
    return True


def from_template(diff: StackDiff, note: str) -> StackDiff:
    """The template diff, saying why CloudFormation was not asked (or could not say)."""
    return replace(diff, source=TEMPLATE, source_note=note)


def with_change_set(diff: StackDiff, changes: Sequence[Mapping[str, Any]]) -> StackDiff:
    """The stack's diff with CloudFormation's verdicts; `changes` must pass can_say()."""
    verdicts = {
        rc["LogicalResourceId"]: rc
        for c in changes
        if (rc := c.get("ResourceChange")) and rc.get("LogicalResourceId")
    }
    resources: list[ResourceDiff] = []
    for rd in diff.resources:
        rc = verdicts.pop(rd.logical_id, None)
        if rc is None and rd.status == "modified":
            # CloudFormation leaves it alone (a Metadata-only difference, say).
            resources.append(replace(rd, replacement=Replacement.NO, replacement_reasons=[]))
            continue
        resources.append(_judged(rd, rc) if rc is not None else rd)
    for rc in verdicts.values():  # changed through a reference the template diff cannot see
        status = _STATUS.get(rc.get("Action", ""), "modified")
        rd = ResourceDiff(rc["LogicalResourceId"], str(rc.get("ResourceType")), status)
        resources.append(_judged(rd, rc))
    # A change only CloudFormation sees (a removal through a condition, say) changes the stack.
    action = "update" if diff.action == "unchanged" and verdicts else diff.action
    return replace(diff, action=action, resources=resources, source=CHANGE_SET, source_note=None)


def _judged(rd: ResourceDiff, rc: Mapping[str, Any]) -> ResourceDiff:
    if rc.get("Action") == "Remove":
        return replace(rd, danger=rd.danger or deletion_danger_of_type(rd.type))
    if rc.get("Action") != "Modify":
        return rd
    replacement = _REPLACEMENT[rc["Replacement"]]
    reasons = [_reason(d) for d in rc.get("Details", []) if _recreates(d)]
    if replacement is not Replacement.NO and not reasons:
        reasons = ["CloudFormation replaces it"]
    danger = (
        replacement_danger(rd.old_type or rd.type) if replacement is not Replacement.NO else None
    )
    return replace(rd, replacement=replacement, replacement_reasons=reasons, danger=danger)


def _recreates(detail: Mapping[str, Any]) -> bool:
    return (detail.get("Target") or {}).get("RequiresRecreation") in ("Always", "Conditionally")


def _reason(detail: Mapping[str, Any]) -> str:
    """`BucketName: "a" → "b" (Always)`, with CloudFormation's resolved values when given,
    and what caused a dynamic change (`via Bucket.Arn`)."""
    target = detail.get("Target") or {}
    what = target.get("Name") or target.get("Path") or target.get("Attribute") or "?"
    text = str(what)
    before, after = target.get("BeforeValue"), target.get("AfterValue")
    if before is not None or after is not None:
        text += f": {short_value(before)} → {short_value(after)}"
    text += f" ({target.get('RequiresRecreation')}"
    if detail.get("Evaluation") == "Dynamic" or detail.get("CausingEntity"):
        text += f", via {detail.get('CausingEntity') or detail.get('ChangeSource')}"
    return text + ")"
