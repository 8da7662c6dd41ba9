"""The differences between two template values, as readable changes at the deepest level that
still reads well: dict keys recurse, lists CloudFormation treats as unordered compare element by
element (matched by their key where they have one), long texts by size, hash and a short diff."""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final

from annex_cdk.templates.diff_model import Change
from annex_cdk.templates.value_text import MISSING, fmt, fmt_bare, is_long, is_plain_dict, sha

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


_MAX_DIFF_LINES: Final = 20  # show a text's unified diff only up to this many changed lines


def diff_value(attribute: str, path: list[str], old: Any, new: Any) -> list[Change]:
    """The differences between two JSON values, as readable changes at the deepest level that
    still reads well: dict keys recurse, unordered lists compare element-wise, intrinsic
    functions and scalars change as a whole."""
    if old == new:
        return []
    text = path_text(path)
    if old is MISSING:
        return [Change(attribute, text, "added", f"+ {fmt(new)}", new=new)]
    if new is MISSING:
        return [Change(attribute, text, "removed", f"- {fmt(old)}", old=old)]
    if is_plain_dict(old) and is_plain_dict(new):
        out: list[Change] = []
        for key in sorted({*old, *new}):
            out.extend(
                diff_value(attribute, [*path, key], old.get(key, MISSING), new.get(key, MISSING))
            )
        return out
    list_name = _last_key(path)
    if list_name in _UNORDERED and (isinstance(old, list) or isinstance(new, list)):
        # IAM accepts "Action": "x" and "Action": ["x"] alike.
        return _diff_unordered(attribute, path, list_name, as_list(old), as_list(new))
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(diff_value(attribute, [*path, f"[{i}]"], a, b))
        return out
    if isinstance(old, str) and isinstance(new, str) and (is_long(old) or is_long(new)):
        return [_text_change(attribute, text, old, new)]
    return [Change(attribute, text, "modified", f"{fmt(old)} → {fmt(new)}", old, new)]


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
            out.extend(diff_value(attribute, [*path, f"[{key}]"], a[key], b[key]))
    return out


def _element(attribute: str, path: list[str], name: str, kind: str, value: Any) -> Change:
    sign = "+" if kind == "added" else "-"
    return Change(
        attribute,
        path_text(path),
        kind,
        f"{sign} {_element_summary(name, value)}",
        old=value if kind == "removed" else MISSING,
        new=value if kind == "added" else MISSING,
    )


def _element_summary(name: str, value: Any) -> str:
    if not isinstance(value, dict):
        return fmt_bare(value)  # ARNs, action names, logical IDs: identifiers, not prose
    if name in ("SecurityGroupIngress", "SecurityGroupEgress"):
        # The rule's description is left out: a changed description shows as a change of
        # the matched rule (SecurityGroupIngress[tcp 22 from …].Description).
        rule = _rule_key(value, "from" if name == "SecurityGroupIngress" else "to")
        return rule or fmt(value)
    if name == "Statement":
        return _statement_summary(value)
    if name == "Tags" and "Key" in value:
        return f"{value['Key']}={fmt_bare(value.get('Value', ''))}"
    if name == "Policies" and "PolicyName" in value:
        statements = as_list(value.get("PolicyDocument", {}).get("Statement", []))
        return f"policy {value['PolicyName']} ({len(statements)} statements)"
    return fmt(value)


def _rule_key(rule: Any, direction: str) -> str | None:
    """`tcp 9618 from 203.0.113.0/24`: what a security group rule lets through, its identity."""
    if not isinstance(rule, dict):
        return None
    proto = str(rule.get("IpProtocol", "?"))
    proto = "all" if proto == "-1" else proto
    lo, hi = rule.get("FromPort"), rule.get("ToPort")
    ports = "" if lo is None and hi is None else f" {lo}" if lo == hi else f" {lo}-{hi}"
    peers = [
        fmt_bare(rule[k])
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
        parts.append(" " + ", ".join(fmt_bare(a) for a in as_list(st["Action"])))
    if "NotAction" in st:
        parts.append(" all but " + ", ".join(fmt_bare(a) for a in as_list(st["NotAction"])))
    if "Resource" in st:
        parts.append(" on " + ", ".join(fmt_bare(r) for r in as_list(st["Resource"])))
    if "NotResource" in st:
        parts.append(" on all but " + ", ".join(fmt_bare(r) for r in as_list(st["NotResource"])))
    if "Principal" in st:
        parts.append(" for " + fmt(st["Principal"], limit=120))
    if "Condition" in st:
        parts.append(" if " + fmt(st["Condition"], limit=120))
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
        f"sha256 {sha(old)} → {sha(new)}, {changed} line{'' if changed == 1 else 's'} changed)"
    )
    detail = tuple(lines) if changed <= _MAX_DIFF_LINES else ()
    return Change(attribute, path, "modified", summary, old, new, detail=detail)


def path_text(parts: list[str]) -> str:
    out = ""
    for part in parts:
        out += part if part.startswith("[") or not out else f".{part}"
    return out


def _last_key(path: list[str]) -> str:
    return next((p for p in reversed(path) if not p.startswith("[")), "") if path else ""


def as_list(value: Any) -> list[Any]:
    if value is MISSING or value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _str_field(element: Any, key: str) -> str | None:
    value = element.get(key) if isinstance(element, dict) else None
    return value if isinstance(value, str) else None
