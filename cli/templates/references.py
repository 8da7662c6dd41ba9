"""What a template value refers to: the logical ids inside its intrinsic functions (Ref,
Fn::GetAtt, Fn::Sub, ...), so that a replaced resource marks what depends on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from annex_cdk.templates.cfn import SUB_VARIABLE
from annex_cdk.templates.value_text import intrinsic


def references(value: Any, path: list[str]) -> Iterator[tuple[list[str], set[str]]]:
    """(path, logical IDs referred to) for each intrinsic function in `value`, at the level
    where it sits; pseudo parameters (AWS::…) are not resources and are left out."""
    fn = intrinsic(value)
    if fn is not None:
        targets = _targets(value)
        if targets:
            yield path, targets
        return
    if isinstance(value, dict):
        for key in sorted(value):
            yield from references(value[key], [*path, key])
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from references(item, [*path, f"[{i}]"])


def _targets(value: Any) -> set[str]:
    found: set[str] = set()
    fn = intrinsic(value)
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
