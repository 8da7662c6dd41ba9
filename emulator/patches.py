"""Every patch the emulator puts on moto, recorded so that it can be undone, and the originals
the replacements call (`ORIGINALS["Class.attr"]`, or `"parsing.function"` for a module's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: The moto callables we replace, kept so the replacements can call them.
ORIGINALS: dict[str, Callable[..., Any]] = {}
#: (owner, attribute, what its own __dict__ held, or _ABSENT) for every patch, for remove_all().
_APPLIED: list[tuple[Any, str, Any]] = []
_ABSENT = object()
#: (owner, attribute) of the attributes moto lacked, which `add` supplied.
_ADDED: set[tuple[Any, str]] = set()


def applied() -> list[tuple[Any, str]]:
    """(owner, attribute) of every patch in place (not `add`), in the order they were applied."""
    return [(owner, name) for owner, name, _ in _APPLIED if (owner, name) not in _ADDED]


def patch(owner: Any, name: str, replacement: Any) -> None:
    key = f"{owner.__name__.rsplit('.', 1)[-1]}.{name}"
    _APPLIED.append((owner, name, vars(owner).get(name, _ABSENT)))
    ORIGINALS[key] = getattr(owner, name)
    setattr(owner, name, replacement)


def add(owner: Any, name: str, value: Any) -> None:
    """Give `owner` an attribute moto lacks (an API action it does not implement)."""
    if hasattr(owner, name):
        raise RuntimeError(f"{owner.__name__}.{name} exists: patch it instead")
    _APPLIED.append((owner, name, _ABSENT))
    _ADDED.add((owner, name))
    setattr(owner, name, value)


def added() -> set[tuple[Any, str]]:
    """(owner, attribute) of every attribute `add` gave moto."""
    return set(_ADDED)


def patch_property(owner: type, name: str, getter: Callable[[Any], Any]) -> None:
    _APPLIED.append((owner, name, vars(owner).get(name, _ABSENT)))
    ORIGINALS[f"{owner.__name__}.{name}"] = getattr(owner, name).fget
    setattr(owner, name, property(getter))


def remove_all() -> None:
    """Undo every patch, the last first."""
    while _APPLIED:
        owner, name, original = _APPLIED.pop()
        if original is _ABSENT:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    ORIGINALS.clear()
    _ADDED.clear()
