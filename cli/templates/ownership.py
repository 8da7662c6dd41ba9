"""Whose an HTCondorAnnex-* stack is, from its deployed template: annex-cdk's (its description
or recorded settings), condor_annex -setup's (its template's description and resources), or
someone else's. Only the first two are changed or deleted without a named consent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from annex_cdk.templates.diff_model import StackDiff
from annex_stacks import names

ANNEX_CDK, CONDOR_ANNEX = "annex-cdk", "condor_annex"


def foreign_reason(stack: str, ours: str, template: Mapping[str, Any] | None) -> str | None:
    """Why ``stack`` (deployed as ``template``) is someone else's, or None when it is annex-cdk's
    (``ours`` is its description) or condor_annex's."""
    if template is None:
        return None  # nothing deployed (or not readable): nothing of anyone's to take over
    description = template.get("Description")
    if description == ours or names.SETTINGS_METADATA in (template.get("Metadata") or {}):
        return None
    resources = {
        lid: resource.get("Type") for lid, resource in (template.get("Resources") or {}).items()
    }
    if not resources:  # REVIEW_IN_PROGRESS (a change set never run): nothing in it to lose
        return None
    if stack in names.CONDOR_ANNEX_TEMPLATES:
        expected_description, expected = names.CONDOR_ANNEX_TEMPLATES[stack]
        if description == expected_description and all(
            expected.get(lid) == rtype for lid, rtype in resources.items()
        ):
            return None
    shown = f"described as {description!r}" if description else "with no description"
    return (
        f"{stack} was made neither by annex-cdk nor by condor_annex -setup ({shown}, "
        f"{len(resources)} resource(s): {', '.join(sorted(resources)) or 'none'})"
    )


def marked_foreign(diff: StackDiff, reason: str) -> StackDiff:
    """``diff`` with every change to someone else's stack marked DANGEROUS, with why."""
    for resource in diff.resources:
        if resource.danger is None:
            resource.danger = f"not annex-cdk's: {reason}"
    return diff
