"""annex-cdk's on/off environment variables, read one way: a value that is neither on nor off
is a usage error naming the variable, never silently taken as either."""

from __future__ import annotations

import os

from annex_cdk.errors import UsageError

ON_WORDS = frozenset({"1", "true", "yes", "on"})
OFF_WORDS = frozenset({"0", "false", "no", "off"})


def env_flag(name: str) -> bool | None:
    """True or False as the variable says, None when it is unset or empty."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return None
    if value in ON_WORDS | OFF_WORDS:
        return value in ON_WORDS
    raise UsageError(
        f"{name}={os.environ[name]!r} is neither on nor off",
        hint=f"set {name} to one of {', '.join(sorted(ON_WORDS))} or "
        f"{', '.join(sorted(OFF_WORDS))}, or unset it",
    )
