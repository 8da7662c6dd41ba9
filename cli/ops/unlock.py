"""`annex-cdk unlock`: remove a setup/destroy lock whose holder will never release it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from annex_cdk.aws import lock
from annex_cdk.aws.session import AwsTarget
from annex_cdk.aws.ssm import Ssm


def run_unlock(target: AwsTarget, *, confirm: Callable[[str], bool]) -> dict[str, Any]:
    """Show the holder, ask, and remove exactly that holder's lock (not one taken since)."""
    ssm = Ssm(target)
    holder = ssm.lock_holder()
    report: dict[str, Any] = {"region": target.region, "holder": holder, "removed": False}
    if holder is None:
        return report
    if confirm(f"Remove the lock of the annex-cdk {lock.describe(holder)}?"):
        report["removed"] = ssm.release_lock(holder.get("token"))
    return report
