"""`annex-cdk unlock`: remove a setup/destroy lock whose holder will never release it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from annex_cdk.aws import lock
from annex_cdk.aws.session import AwsTarget
from annex_cdk.aws.ssm import Ssm


@dataclass(frozen=True)
class UnlockReport:
    region: str
    holder: Mapping[str, Any] | None  # the lock's holder as recorded; None: no lock
    removed: bool = False

    @property
    def ok(self) -> bool:
        return self.holder is None or self.removed


def run_unlock(target: AwsTarget, *, confirm: Callable[[str], bool]) -> UnlockReport:
    """Show the holder, ask, and remove exactly that holder's lock (not one taken since)."""
    ssm = Ssm(target)
    holder = ssm.lock_holder()
    if holder is None:
        return UnlockReport(target.region, None)
    removed = False
    if confirm(f"Remove the lock of the annex-cdk {lock.describe(holder)}?"):
        removed = ssm.release_lock(holder.get("token"))
    return UnlockReport(target.region, holder, removed)
