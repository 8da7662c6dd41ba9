"""What `annex-cdk setup` would change, per stack: resources and properties, not a JSON dump.

Pure: templates in (the deployed one from GetTemplate, the desired one from synth), a
structured `StackDiff` out, rendered as stable text lines or as JSON-ready data. No AWS calls
and no aws_cdk import, so it costs nothing beyond the synth and the reads the CLI does anyway.

A stack counts as changed exactly when its normalised templates differ, as `engine.decide`
judges it; every difference lands somewhere in the structured result (unknown template
sections and resource attributes are diffed generically), so `diff` exits 0 exactly when
`setup` would leave every stack alone.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Final

from annex_cdk.templates.cfn import SUB_VARIABLE
from annex_cdk.templates.load import normalise
from annex_cdk.templates.stack_report import stack_entry
from annex_stacks import names

# --- What CloudFormation does on update --------------------------------------------------------
#: Properties whose change replaces the resource ("Update requires: Replacement"), per type we
#: deploy. Taken from the AWS service spec database that `cdk diff` itself uses
#: (node_modules/aws-cdk/db.json.gz, `causesReplacement: yes`), which matches the CloudFormation
#: template reference; tests/unit/test_diff.py checks the two agree. Notably *not* here: an
#: instance profile's Roles, a security group's rules and any IAM::Policy property update in
#: place. Lambda::Permission has no update handler at all: every property replaces it.
REPLACING_PROPERTIES: Final[Mapping[str, frozenset[str]]] = {
    "AWS::S3::Bucket": frozenset(
        {"BucketName", "BucketNamePrefix", "BucketNamespace", "ObjectLockEnabled"}
    ),
    "AWS::S3::BucketPolicy": frozenset({"Bucket"}),
    "AWS::EC2::KeyPair": frozenset(
        {"KeyName", "KeyType", "KeyFormat", "PublicKeyMaterial", "Tags"}
    ),
    "AWS::EC2::SecurityGroup": frozenset({"GroupDescription", "GroupName", "VpcId"}),
    "AWS::Lambda::Function": frozenset({"FunctionName", "PackageType", "TenancyConfig"}),
    "AWS::Lambda::Permission": frozenset(
        {
            "Action",
            "EventSourceToken",
            "FunctionName",
            "FunctionUrlAuthType",
            "InvokedViaFunctionUrl",
            "Principal",
            "PrincipalOrgID",
            "SourceAccount",
            "SourceArn",
        }
    ),
    "AWS::IAM::Role": frozenset({"RoleName", "Path"}),
    "AWS::IAM::InstanceProfile": frozenset({"InstanceProfileName", "Path"}),
    "AWS::IAM::Policy": frozenset(),
    "AWS::Logs::LogGroup": frozenset({"LogGroupName"}),
    # The optional image stack: Image Builder's resources are immutable versions, so nearly
    # every property replaces them (an image rebuild is a replacement by design).
    "AWS::ImageBuilder::Component": frozenset(
        {
            "ChangeDescription",
            "Data",
            "Description",
            "KmsKeyId",
            "Name",
            "Platform",
            "SupportedOsVersions",
            "Tags",
            "Uri",
            "Version",
        }
    ),
    "AWS::ImageBuilder::ImageRecipe": frozenset(
        {
            "AdditionalInstanceConfiguration",
            "AmiTags",
            "AmiWatermarks",
            "BlockDeviceMappings",
            "Components",
            "Description",
            "Name",
            "ParentImage",
            "Tags",
            "Version",
            "WorkingDirectory",
        }
    ),
    "AWS::ImageBuilder::InfrastructureConfiguration": frozenset({"Name"}),
    "AWS::ImageBuilder::DistributionConfiguration": frozenset({"Name"}),
    "AWS::ImageBuilder::Image": frozenset(
        {
            "ContainerRecipeArn",
            "DistributionConfigurationArn",
            "EnhancedImageMetadataEnabled",
            "ImageRecipeArn",
            "ImageScanningConfiguration",
            "ImageTestsConfiguration",
            "InfrastructureConfigurationArn",
            "Tags",
            "Workflows",
        }
    ),
}

#: Resources whose replacement or deletion loses something a user cannot get back, and why.
#: (replaced, deleted)
DATA_BEARING: Final[Mapping[str, tuple[str, str]]] = {
    "AWS::S3::Bucket": (
        "a new, empty bucket; the config objects in the old one are lost to annexes",
        "the bucket and the annex config objects in it are deleted",
    ),
    "AWS::EC2::KeyPair": (
        "a new private key; the old PEM stops working",
        "the key pair and its private key are deleted; the PEM stops working",
    ),
}

#: Lists whose order CloudFormation ignores: compared as sets, element by element. The ones
#: with a key function are matched by that key first, so a changed element reads as
#: `Tags[Owner].Value: "a" → "b"` rather than as a removal plus an addition.
_KEYED: Final[Mapping[str, Callable[[Any], str | None]]] = {
    "Tags": lambda e: _str_field(e, "Key"),
    "Policies": lambda e: _str_field(e, "PolicyName"),
    "Statement": lambda e: _str_field(e, "Sid"),
    "SecurityGroupIngress": lambda e: _rule_key(e, "from"),
    "SecurityGroupEgress": lambda e: _rule_key(e, "to"),
}
_UNORDERED: Final = frozenset(
    {
        *_KEYED,
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "ManagedPolicyArns",
        "Roles",
        "Groups",
        "Users",
        "DependsOn",
    }
)

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
_SHORT: Final = 80  # longest value rendered in full
_MAX_DIFF_LINES: Final = 20  # show a text's unified diff only up to this many changed lines


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


class _Missing:
    """An absent value (a property not set), distinct from JSON null."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


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
            "old": _json_value(self.old),
            "new": _json_value(self.new),
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
        return [self.header(), *_change_lines(self.changes)]

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
            lines.extend(_change_lines(self.outputs))
        if self.template:
            lines.append("~ Template")
            lines.extend(_change_lines(self.template))
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


def _change_lines(changes: list[Change]) -> list[str]:
    lines: list[str] = []
    for change in changes:
        lines.append("    " + change.line())
        lines.extend("        " + d for d in change.detail)
    return lines


# --- Entry points ------------------------------------------------------------------------------
def diff_all(desired: Mapping[str, Any], deployed: Mapping[str, Any | None]) -> list[StackDiff]:
    """Every stack that is desired or deployed, in deployment order, then by name.

    A stack that is deployed but no longer synthesized (the key pair stack once the user brings
    their own key) is a removal.
    """
    order = {name: i for i, name in enumerate(names.ALL_STACKS)}
    stacks = sorted(
        {*desired, *(n for n, t in deployed.items() if t is not None)},
        key=lambda n: (order.get(n, len(order)), n),
    )
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
            _diff_value("Template", [section], old.get(section, MISSING), new.get(section, MISSING))
        )
    _propagate_replacements(result, new_res, new.get("Outputs", {}))
    if old != new and not (result.resources or result.outputs or result.template):
        # Outputs or sections that differ only in an order that means nothing: setup still
        # sends the new template, so this still counts as a change.
        result.template.append(_with(_SAME_CONTENT, attribute="Template"))
    if result.resources or result.outputs or result.template:
        result.action = "update"
    return result


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


# --- Stacks and resources ----------------------------------------------------------------------
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
                f"{sign} {_fmt(value)}",
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
            changes = _diff_value("Properties", [], a, b)
        elif attribute == "DependsOn":
            changes = _diff_value("DependsOn", ["DependsOn"], _as_list(a), _as_list(b))
        else:
            changes = _diff_value(attribute, [attribute], a, b)
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
        rd.danger = _replacement_danger(old_type) or _replacement_danger(new_type)
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


def _replacement_danger(resource_type: str) -> str | None:
    texts = DATA_BEARING.get(resource_type)
    return texts[0] if texts else None


def replacement_danger(resource_type: str) -> str | None:
    """What replacing a resource of this type loses (None: nothing), for change-set verdicts."""
    return _replacement_danger(resource_type)


def deletion_danger_of_type(resource_type: str) -> str | None:
    """What deleting a resource of this type loses; a change set does not say DeletionPolicy,
    so a retained resource is still named (the safe side)."""
    texts = DATA_BEARING.get(resource_type)
    return texts[1] if texts else None


def short_value(value: Any) -> str:
    """A value as one short line (as the diff shows values)."""
    return _fmt(value)


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
                Change("Outputs", key, "added", f"+ {_fmt(_output_value(new[key]))}", new=new[key])
            )
        elif key not in new:
            changes.append(
                Change(
                    "Outputs", key, "removed", f"- {_fmt(_output_value(old[key]))}", old=old[key]
                )
            )
        else:
            changes.extend(_diff_value("Outputs", [key], old[key], new[key]))
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
            for path, targets in _references(props, []):
                hit = sorted(targets & replaced - {lid})
                text = _path(path)
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
                        f"{_fmt(value)} may change ({', '.join(hit)} replaced)",
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
                    rd.danger = _replacement_danger(rd.type)
                    replaced.add(lid)
                    grew = True
    for rd in result.resources:
        rd.changes.sort(key=lambda c: (_attribute_rank(c.attribute), _sort_path(c.path)))
    result.resources.sort(key=lambda r: r.logical_id)
    existing = {c.path.split(".")[0] for c in result.outputs}
    for key in sorted(outputs):
        out = outputs[key]
        value = _output_value(out)
        targets = {t for _, ts in _references(value, []) for t in ts} & replaced
        if targets and key not in existing:
            result.outputs.append(
                Change(
                    "Outputs",
                    f"{key}.Value",
                    "may-change",
                    f"{_fmt(value)} may change ({', '.join(sorted(targets))} replaced)",
                    value,
                    value,
                )
            )
    result.outputs.sort(key=lambda c: _sort_path(c.path))


# --- Values ------------------------------------------------------------------------------------
def _diff_value(attribute: str, path: list[str], old: Any, new: Any) -> list[Change]:
    """The differences between two JSON values, as readable changes at the deepest level that
    still reads well: dict keys recurse, unordered lists compare element-wise, intrinsic
    functions and scalars change as a whole."""
    if old == new:
        return []
    text = _path(path)
    if old is MISSING:
        return [Change(attribute, text, "added", f"+ {_fmt(new)}", new=new)]
    if new is MISSING:
        return [Change(attribute, text, "removed", f"- {_fmt(old)}", old=old)]
    if _is_plain_dict(old) and _is_plain_dict(new):
        out: list[Change] = []
        for key in sorted({*old, *new}):
            out.extend(
                _diff_value(attribute, [*path, key], old.get(key, MISSING), new.get(key, MISSING))
            )
        return out
    list_name = _last_key(path)
    if list_name in _UNORDERED and (isinstance(old, list) or isinstance(new, list)):
        # IAM accepts "Action": "x" and "Action": ["x"] alike.
        return _diff_unordered(attribute, path, list_name, _as_list(old), _as_list(new))
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(_diff_value(attribute, [*path, f"[{i}]"], a, b))
        return out
    if isinstance(old, str) and isinstance(new, str) and (_is_long(old) or _is_long(new)):
        return [_text_change(attribute, text, old, new)]
    return [Change(attribute, text, "modified", f"{_fmt(old)} → {_fmt(new)}", old, new)]


def _diff_unordered(
    attribute: str, path: list[str], name: str, old: list[Any], new: list[Any]
) -> list[Change]:
    # Elements whose key (Sid, tag Key, rule) occurs once on each side are matched and
    # compared in depth; the rest are compared as multisets of canonical JSON, so duplicates
    # count and order does not.
    keyfn = _KEYED.get(name)
    matched: list[str] = []
    if keyfn is not None:
        a_keys = Counter(k for k in map(keyfn, old) if k is not None)
        b_keys = Counter(k for k in map(keyfn, new) if k is not None)
        matched = sorted(k for k in a_keys if a_keys[k] == 1 and b_keys.get(k) == 1)
    key_set = set(matched)

    def unmatched(items: list[Any]) -> list[Any]:
        return [e for e in items if keyfn is None or keyfn(e) not in key_set]

    a_count = Counter(_canonical(e) for e in unmatched(old))
    b_count = Counter(_canonical(e) for e in unmatched(new))
    out = [
        *(
            _element(attribute, path, name, "removed", json.loads(e))
            for e in sorted((a_count - b_count).elements())
        ),
        *(
            _element(attribute, path, name, "added", json.loads(e))
            for e in sorted((b_count - a_count).elements())
        ),
    ]
    if keyfn is not None:
        a = {keyfn(e): e for e in old if keyfn(e) in key_set}
        b = {keyfn(e): e for e in new if keyfn(e) in key_set}
        for key in matched:
            out.extend(_diff_value(attribute, [*path, f"[{key}]"], a[key], b[key]))
    return out


def _element(attribute: str, path: list[str], name: str, kind: str, value: Any) -> Change:
    sign = "+" if kind == "added" else "-"
    return Change(
        attribute,
        _path(path),
        kind,
        f"{sign} {_element_summary(name, value)}",
        old=value if kind == "removed" else MISSING,
        new=value if kind == "added" else MISSING,
    )


def _element_summary(name: str, value: Any) -> str:
    if not isinstance(value, dict):
        return _fmt_bare(value)  # ARNs, action names, logical IDs: identifiers, not prose
    if name in ("SecurityGroupIngress", "SecurityGroupEgress"):
        # The rule's description is left out: a changed description shows as a change of
        # the matched rule (SecurityGroupIngress[tcp 22 from …].Description).
        rule = _rule_key(value, "from" if name == "SecurityGroupIngress" else "to")
        return rule or _fmt(value)
    if name == "Statement":
        return _statement_summary(value)
    if name == "Tags" and "Key" in value:
        return f"{value['Key']}={_fmt_bare(value.get('Value', ''))}"
    if name == "Policies" and "PolicyName" in value:
        statements = _as_list(value.get("PolicyDocument", {}).get("Statement", []))
        return f"policy {value['PolicyName']} ({len(statements)} statements)"
    return _fmt(value)


def _rule_key(rule: Any, direction: str) -> str | None:
    """`tcp 9618 from 203.0.113.0/24`: what a security group rule lets through, its identity."""
    if not isinstance(rule, dict):
        return None
    proto = str(rule.get("IpProtocol", "?"))
    proto = "all" if proto == "-1" else proto
    lo, hi = rule.get("FromPort"), rule.get("ToPort")
    ports = "" if lo is None and hi is None else f" {lo}" if lo == hi else f" {lo}-{hi}"
    peers = [
        _fmt_bare(rule[k])
        for k in (
            "CidrIp",
            "CidrIpv6",
            "SourceSecurityGroupId",
            "SourceSecurityGroupName",
            "SourcePrefixListId",
            "DestinationSecurityGroupId",
            "DestinationPrefixListId",
        )
        if k in rule
    ]
    return f"{proto}{ports} {direction} {' '.join(peers) or '?'}"


def _statement_summary(st: Mapping[str, Any]) -> str:
    """`Allow s3:GetObject on arn:…`: an IAM statement in one line."""
    parts = [f"{st['Sid']}: " if "Sid" in st else "", str(st.get("Effect", "?"))]
    if "Action" in st:
        parts.append(" " + ", ".join(_fmt_bare(a) for a in _as_list(st["Action"])))
    if "NotAction" in st:
        parts.append(" all but " + ", ".join(_fmt_bare(a) for a in _as_list(st["NotAction"])))
    if "Resource" in st:
        parts.append(" on " + ", ".join(_fmt_bare(r) for r in _as_list(st["Resource"])))
    if "NotResource" in st:
        parts.append(" on all but " + ", ".join(_fmt_bare(r) for r in _as_list(st["NotResource"])))
    if "Principal" in st:
        parts.append(" for " + _fmt(st["Principal"], limit=120))
    if "Condition" in st:
        parts.append(" if " + _fmt(st["Condition"], limit=120))
    return "".join(parts)


def _text_change(attribute: str, path: str, old: str, new: str) -> Change:
    """A long text (inline Lambda code, mostly): sizes and hashes, and the diff if it is short."""
    what = "inline code" if path.endswith("ZipFile") else "text"
    lines = list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), "deployed", "desired", n=1, lineterm=""
        )
    )[2:]  # the ---/+++ header names nothing useful here
    changed = sum(1 for line in lines if line[:1] in "+-")
    summary = (
        f"{what} changed ({len(old.encode())} → {len(new.encode())} bytes, "
        f"sha256 {_sha(old)} → {_sha(new)}, {changed} line{'' if changed == 1 else 's'} changed)"
    )
    detail = tuple(lines) if changed <= _MAX_DIFF_LINES else ()
    return Change(attribute, path, "modified", summary, old, new, detail=detail)


# --- References --------------------------------------------------------------------------------


def _references(value: Any, path: list[str]) -> Iterator[tuple[list[str], set[str]]]:
    """(path, logical IDs referred to) for each intrinsic function in `value`, at the level
    where it sits; pseudo parameters (AWS::…) are not resources and are left out."""
    fn = _intrinsic(value)
    if fn is not None:
        targets = _targets(value)
        if targets:
            yield path, targets
        return
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _references(value[key], [*path, key])
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _references(item, [*path, f"[{i}]"])


def _targets(value: Any) -> set[str]:
    found: set[str] = set()
    fn = _intrinsic(value)
    if fn is not None:
        name, arg = fn
        if name == "Ref" and isinstance(arg, str):
            found.add(arg)
        elif name == "Fn::GetAtt":
            target = arg[0] if isinstance(arg, list) and arg else str(arg).split(".")[0]
            found.add(str(target))
        elif name == "Fn::Sub":
            text, local = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
            if isinstance(text, str):
                found |= {m.split(".")[0] for m in SUB_VARIABLE.findall(text)} - set(local or {})
            found |= _targets(local)
            return {t for t in found if not t.startswith("AWS::")}
        else:
            found |= _targets(arg)
    elif isinstance(value, dict):
        for item in value.values():
            found |= _targets(item)
    elif isinstance(value, list):
        for item in value:
            found |= _targets(item)
    return {t for t in found if not t.startswith("AWS::")}


# --- Formatting --------------------------------------------------------------------------------
def _intrinsic(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, dict) and len(value) == 1:
        [(key, arg)] = value.items()
        if key == "Ref" or key.startswith("Fn::"):
            return key, arg
    return None


def _is_plain_dict(value: Any) -> bool:
    return isinstance(value, dict) and _intrinsic(value) is None


def _fmt(value: Any, limit: int = _SHORT) -> str:
    """A value as one short line: JSON scalars as JSON, intrinsics as ${Fn::GetAtt X.Arn},
    long texts by size and hash, large structures by their shape."""
    text = _render(value)
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        if "\n" in value:
            return _long_text(value)
        return json.dumps(value[: limit - 16] + "…", ensure_ascii=False) + f" ({len(value)} chars)"
    if _is_plain_dict(value):
        keys = sorted(value)
        shown = ", ".join(keys[:4]) + (", …" if len(keys) > 4 else "")
        return f"{{{shown}}} ({len(keys)} keys)"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    return text[: limit - 1] + "…"


def _fmt_bare(value: Any) -> str:
    """As _fmt, without quotes around a plain string (for names and CIDRs inside a summary)."""
    if isinstance(value, str) and not _is_long(value):
        return value
    return _fmt(value)


def _render(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    fn = _intrinsic(value)
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
    return f"<{text.count(chr(10)) + 1} lines, {len(text.encode())} bytes, sha256 {_sha(text)}>"


def _is_long(text: str) -> bool:
    return "\n" in text or len(text) > _SHORT


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _json_value(value: Any) -> Any:
    """For --json: values as they are, but no absent marker and no multi-kilobyte code."""
    if value is MISSING:
        return None
    if isinstance(value, str) and "\n" in value:
        return {"bytes": len(value.encode()), "sha256": hashlib.sha256(value.encode()).hexdigest()}
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


# --- Small helpers -----------------------------------------------------------------------------
def _path(parts: list[str]) -> str:
    out = ""
    for part in parts:
        out += part if part.startswith("[") or not out else f".{part}"
    return out


def _top(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _covers(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith((outer + ".", outer + "["))


def _sort_path(path: str) -> tuple[str, ...]:
    return tuple(re.split(r"[.\[]", path))


def _last_key(path: list[str]) -> str:
    return next((p for p in reversed(path) if not p.startswith("[")), "") if path else ""


def _get(value: Any, path: list[str]) -> Any:
    for part in path:
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


def _as_list(value: Any) -> list[Any]:
    if value is MISSING or value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _str_field(element: Any, key: str) -> str | None:
    value = element.get(key) if isinstance(element, dict) else None
    return value if isinstance(value, str) else None


def _with(change: Change, **updates: Any) -> Change:
    return replace(change, **updates)
