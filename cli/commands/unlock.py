"""`annex-cdk unlock`: shows who holds the lock, asks, and removes it (--yes: without asking)."""

from __future__ import annotations

import typer

from annex_cdk import console
from annex_cdk.commands.options import AwsOptions, Json, Yes, confirmer, with_options


@with_options
def unlock(aws: AwsOptions, json_out: Json = False, yes: Yes = False) -> None:
    """Remove the lock of a setup or destroy that died (exit 8 for every later run)."""
    from annex_cdk.aws.lock import describe
    from annex_cdk.ops.unlock import run_unlock

    report = run_unlock(aws.target(), confirm=confirmer(yes, "unlock"))
    holder = report.holder
    if json_out:
        document = {"region": report.region, "holder": holder, "removed": report.removed}
        console.emit_json(document, ok=report.ok)
    elif holder is None:
        console.result(f"No annex-cdk lock is held in {report.region}.")
    elif report.removed:
        console.result(f"Removed the lock of the annex-cdk {describe(dict(holder))}.")
    else:
        console.result("The lock was kept.")
    if not report.ok:
        raise typer.Exit(1)
