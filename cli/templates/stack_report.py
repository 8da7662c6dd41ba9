"""One JSON shape per stack, for every command that reports stacks (README: "JSON output").

`setup`, `diff`, `destroy` and `check-setup` all print `stacks` as an object keyed by stack
name whose values have the same six keys; a command adds its own keys beside them (`seconds`,
`reason`, `resources`...), never changes these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The status of a stack that does not exist (never created, or deleted before this run).
NOT_DEPLOYED = "NOT_DEPLOYED"
#: What a command did (setup, destroy) or would do (diff) to a stack; check-setup acts on none
#: and says null.
ACTIONS = (
    "create",
    "update",
    "replace",
    "continue-rollback",
    "delete",
    "unchanged",
    "kept",
    "blocked",
    "busy",
)
#: Actions that leave a stack as it was.
_UNCHANGING = frozenset({"unchanged", "kept", "blocked", "busy"})
#: The keys every stack entry has, in every command's document.
STACK_KEYS = ("name", "status", "action", "changed", "dangerous", "outputs")


def stack_entry(
    name: str,
    *,
    status: str | None,
    action: str | None,
    outputs: Mapping[str, str] | None = None,
    dangerous: bool = False,
    changed: bool | None = None,
    **details: Any,
) -> dict[str, Any]:
    """A stack's entry; `changed` follows from the action unless the command knows better."""
    if action is not None and action not in ACTIONS:
        raise ValueError(f"unknown stack action {action!r}")
    if changed is None:
        changed = action is not None and action not in _UNCHANGING
    return {
        "name": name,
        "status": status or NOT_DEPLOYED,
        "action": action,
        "changed": changed,
        "dangerous": dangerous,
        "outputs": dict(outputs or {}),
        **details,
    }
