"""What `annex-cdk setup` would change, per stack: resources and properties, not a JSON dump.

Pure: templates in (the deployed one from GetTemplate, the desired one from synth), a
structured `StackDiff` out (diff_model.py), rendered as stable text lines or as JSON-ready
data. No AWS calls and no aws_cdk import, so it costs nothing beyond the synth and the reads
the CLI does anyway. This module walks stacks and resources and follows replacements through
references (references.py); values are compared in value_diff.py and shown by value_text.py;
what an update replaces or loses is update_effects.py.

A stack counts as changed exactly when its normalised templates differ, as `engine.decide`
judges it; every difference lands somewhere in the structured result (unknown template
sections and resource attributes are diffed generically), so `diff` exits 0 exactly when
`setup` would leave every stack alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from annex_cdk.templates.diff_model import Change, Replacement, ResourceDiff, StackDiff
from annex_cdk.templates.load import normalise
from annex_cdk.templates.references import references
from annex_cdk.templates.update_effects import (
    DATA_BEARING,
    REPLACING_PROPERTIES,
    replacement_danger,
)
from annex_cdk.templates.value_diff import as_list, diff_value, path_text
from annex_cdk.templates.value_text import MISSING, fmt
from annex_stacks.stack_specs import in_deployment_order

#: The order in which a resource's parts are shown; anything else comes after, sorted.
_ATTRIBUTE_ORDER: Final = (
    "Type",
    "Properties",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "DependsOn",
    "Condition",
    "CreationPolicy",
    "UpdatePolicy",
    "Metadata",
)


def diff_all(desired: Mapping[str, Any], deployed: Mapping[str, Any | None]) -> list[StackDiff]:
    """Every stack that is desired or deployed, in deployment order, then by name.

    A stack that is deployed but no longer synthesized (the key pair stack once the user brings
    their own key) is a removal.
    """
    stacks = in_deployment_order({*desired, *(n for n, t in deployed.items() if t is not None)})
    return [diff_stack(n, deployed.get(n), desired.get(n)) for n in stacks]


def diff_stack(name: str, deployed: Any | None, desired: Any | None) -> StackDiff:
    """What converging stack `name` from `deployed` (None: absent) to `desired` changes."""
    old = normalise(deployed) if deployed is not None else None
    new = normalise(desired) if desired is not None else None
    if old is None and new is None:
        return StackDiff(name, "unchanged")
    if old is None or new is None:
        return _whole_stack(name, old, new)
    result = StackDiff(name, "unchanged")
    old_res, new_res = old.get("Resources", {}), new.get("Resources", {})
    for lid in sorted({*old_res, *new_res}):
        rd = _diff_resource(lid, old_res.get(lid), new_res.get(lid))
        if rd is not None:
            result.resources.append(rd)
    result.outputs = _diff_outputs(old.get("Outputs", {}), new.get("Outputs", {}))
    for section in sorted({*old, *new} - {"Resources", "Outputs"}):
        result.template.extend(
            diff_value("Template", [section], old.get(section, MISSING), new.get(section, MISSING))
        )
    _propagate_replacements(result, new_res, new.get("Outputs", {}))
    if old != new and not (result.resources or result.outputs or result.template):
        # Outputs or sections that differ only in an order that means nothing: setup still
        # sends the new template, so this still counts as a change.
        result.template.append(_with(_SAME_CONTENT, attribute="Template"))
    if result.resources or result.outputs or result.template:
        result.action = "update"
    return result


def _whole_stack(name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> StackDiff:
    """A stack created or deleted as a whole: list its resources and outputs, not their
    properties (all of them are new, or all go)."""
    template = new if new is not None else old
    assert template is not None
    status = "added" if new is not None else "removed"
    result = StackDiff(name, "create" if new is not None else "delete")
    for lid, res in sorted(template.get("Resources", {}).items()):
        rd = ResourceDiff(lid, str(res.get("Type")), status)
        if status == "removed":
            rd.danger = _deletion_danger(res)
        result.resources.append(rd)
    for key, out in sorted(template.get("Outputs", {}).items()):
        value = out.get("Value") if isinstance(out, dict) else out
        sign = "+" if status == "added" else "-"
        result.outputs.append(
            Change(
                "Outputs",
                key,
                status,
                f"{sign} {fmt(value)}",
                old=out if status == "removed" else MISSING,
                new=out if status == "added" else MISSING,
            )
        )
    return result


def _deletion_danger(res: Mapping[str, Any]) -> str | None:
    texts = DATA_BEARING.get(str(res.get("Type")))
    if texts is None or res.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate"):
        return None  # a retained resource outlives its stack: nothing is lost
    return texts[1]


def _diff_resource(lid: str, old: Any, new: Any) -> ResourceDiff | None:
    if old is None:
        return ResourceDiff(lid, str(new.get("Type")), "added")
    if new is None:
        return ResourceDiff(lid, str(old.get("Type")), "removed", danger=_deletion_danger(old))
    if old == new:
        return None
    old_type, new_type = str(old.get("Type")), str(new.get("Type"))
    rd = ResourceDiff(lid, new_type, "modified", old_type=old_type)
    replacing = REPLACING_PROPERTIES.get(new_type, frozenset())
    reasons: list[str] = []
    if old_type != new_type:
        rd.changes.append(
            Change(
                "Type",
                "Type",
                "modified",
                f"{old_type} → {new_type}",
                old_type,
                new_type,
                causes_replacement=True,
            )
        )
        reasons.append(f"Type changed ({old_type} → {new_type})")
    attributes = sorted({*old, *new} - {"Type"}, key=_attribute_rank)
    for attribute in attributes:
        a, b = old.get(attribute, MISSING), new.get(attribute, MISSING)
        if attribute == "Properties":
            a = {} if a is MISSING else a
            b = {} if b is MISSING else b
            changes = diff_value("Properties", [], a, b)
        elif attribute == "DependsOn":
            changes = diff_value("DependsOn", ["DependsOn"], as_list(a), as_list(b))
        else:
            changes = diff_value(attribute, [attribute], a, b)
        for change in changes:
            if attribute == "Metadata":
                # CloudFormation never updates a resource for its Metadata alone.
                change = _with(change, cosmetic=True)
            elif attribute == "Properties" and _top(change.path) in replacing:
                change = _with(change, causes_replacement=True)
            rd.changes.append(change)
    tops = dict.fromkeys(
        _top(c.path) for c in rd.changes if c.causes_replacement and c.attribute == "Properties"
    )
    if tops:
        reasons.append(", ".join(tops) + " changed")
    if reasons:
        rd.replacement = Replacement.YES
        rd.replacement_reasons = reasons
        # What is lost is what the old resource held.
        rd.danger = replacement_danger(old_type) or replacement_danger(new_type)
    if not rd.changes:
        rd.changes.append(_SAME_CONTENT)
    return rd


#: What is left when two values differ only in the order of an unordered list (or "x" vs
#: ["x"]): CloudFormation still gets a new template, so it is reported, as cosmetic.
_SAME_CONTENT: Final = Change(
    "Properties",
    "(order)",
    "modified",
    "same content in another order or form (no effect)",
    cosmetic=True,
)


def _attribute_rank(attribute: str) -> tuple[int, str]:
    try:
        return (_ATTRIBUTE_ORDER.index(attribute), attribute)
    except ValueError:
        return (len(_ATTRIBUTE_ORDER), attribute)


def _diff_outputs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for key in sorted({*old, *new}):
        if key not in old:
            changes.append(
                Change("Outputs", key, "added", f"+ {fmt(_output_value(new[key]))}", new=new[key])
            )
        elif key not in new:
            changes.append(
                Change("Outputs", key, "removed", f"- {fmt(_output_value(old[key]))}", old=old[key])
            )
        else:
            changes.extend(diff_value("Outputs", [key], old[key], new[key]))
    return changes


def _output_value(output: Any) -> Any:
    return output.get("Value") if isinstance(output, dict) else output


def _propagate_replacements(
    result: StackDiff, resources: Mapping[str, Any], outputs: Mapping[str, Any]
) -> None:
    """A replaced resource gets a new physical ID (and ARN): whatever refers to it may change,
    and a replacing property that refers to it may replace its owner in turn (e.g. a function
    replaced → its Lambda::Permission too). Repeat until nothing new is replaced."""
    diffs = {r.logical_id: r for r in result.resources}
    replaced = {r.logical_id for r in result.resources if r.replacement is not Replacement.NO}
    noted: set[tuple[str, str]] = set()
    grew = True
    while grew:
        grew = False
        for lid in sorted(resources):
            rd = diffs.get(lid)
            if rd is not None and rd.status != "modified":
                continue  # an added resource is new anyway
            props = resources[lid].get("Properties", {})
            replacing = REPLACING_PROPERTIES.get(str(resources[lid].get("Type")), frozenset())
            for path, targets in references(props, []):
                hit = sorted(targets & replaced - {lid})
                text = path_text(path)
                if not hit or (lid, text) in noted:
                    continue
                noted.add((lid, text))
                if rd is not None and any(
                    _covers(c.path, text) for c in rd.changes if c.attribute == "Properties"
                ):
                    continue  # the value changes anyway, and says so
                if rd is None:
                    # Unchanged in the template, but CloudFormation updates it all the same.
                    rd = ResourceDiff(lid, str(resources[lid].get("Type")), "modified")
                    diffs[lid] = rd
                    result.resources.append(rd)
                top = _top(text)
                value = _get(props, path)
                rd.changes.append(
                    Change(
                        "Properties",
                        text,
                        "may-change",
                        f"{fmt(value)} may change ({', '.join(hit)} replaced)",
                        value,
                        value,
                        causes_replacement=top in replacing,
                    )
                )
                if top in replacing and rd.replacement is Replacement.NO:
                    rd.replacement = Replacement.MAYBE
                    rd.replacement_reasons.append(
                        f"{top} refers to {', '.join(hit)}, which is replaced"
                    )
                    rd.danger = replacement_danger(rd.type)
                    replaced.add(lid)
                    grew = True
    for rd in result.resources:
        rd.changes.sort(key=lambda c: (_attribute_rank(c.attribute), _sort_path(c.path)))
    result.resources.sort(key=lambda r: r.logical_id)
    existing = {c.path.split(".")[0] for c in result.outputs}
    for key in sorted(outputs):
        out = outputs[key]
        value = _output_value(out)
        targets = {t for _, ts in references(value, []) for t in ts} & replaced
        if targets and key not in existing:
            result.outputs.append(
                Change(
                    "Outputs",
                    f"{key}.Value",
                    "may-change",
                    f"{fmt(value)} may change ({', '.join(sorted(targets))} replaced)",
                    value,
                    value,
                )
            )
    result.outputs.sort(key=lambda c: _sort_path(c.path))


def _top(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _covers(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith((outer + ".", outer + "["))


def _sort_path(path: str) -> tuple[str, ...]:
    return tuple(re.split(r"[.\[]", path))


def _get(value: Any, path: list[str]) -> Any:
    for part in path:
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


def _with(change: Change, **updates: Any) -> Change:
    return replace(change, **updates)
