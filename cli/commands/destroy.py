"""`annex-cdk destroy`: asks first, unless --yes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from annex_cdk import console
from annex_cdk.commands.options import AwsOptions, Json, TakeOver, Yes, confirmer, with_options
from annex_cdk.commands.regional import document, finish, run_live, summarize
from annex_cdk.console import StackProgress
from annex_cdk.errors import AnnexError

if TYPE_CHECKING:
    from annex_cdk.aws.engine import StackResult
    from annex_cdk.ops.destroy import DestroyReport


@with_options
def destroy(
    aws: AwsOptions,
    force: Annotated[
        bool, typer.Option("--force", help="Even while annex instances exist.")
    ] = False,
    keep_image: Annotated[
        bool,
        typer.Option(
            "--keep-image",
            help="Keep the AMIs HTCondorAnnex-Image built (default: deregister them and their "
            "snapshots).",
        ),
    ] = False,
    json_out: Json = False,
    yes: Yes = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Add each resource event's reason.")
    ] = False,
    take_over: TakeOver = None,
) -> None:
    """Delete the stacks, the PEM and annex-cdk's config lines; then verify nothing is left."""
    from annex_cdk.ops.destroy import run_destroy

    targets = aws.targets()
    if len(targets) > 1:
        regions = ", ".join(t.region for t in targets)
        # One question for all regions, before any of them starts: a question must not share
        # the terminal with the regions' live table.
        if not confirmer(yes, "destroy")(
            f"Delete annex-cdk's stacks in {regions}, and annex-cdk's files and config lines "
            f"for those regions under {aws.paths().condor_dir}?"
        ):
            raise AnnexError("nothing deleted", hint="pass --yes to skip the question")
        outcomes = run_live(
            targets,
            verbose,
            lambda target, progress: run_destroy(
                target,
                aws.paths(),
                force=force,
                confirm=lambda question: True,  # asked above
                progress=progress,
                keep_image=keep_image,
                take_over=take_over or (),
            ),
        )
        if json_out:
            console.emit_json(document(outcomes, _destroy_document))
        else:
            summarize(outcomes, _destroy_line)
        finish(outcomes, all(o.report is not None and o.report.ok for o in outcomes))
        return
    with StackProgress(verbose=verbose) as progress:
        report = run_destroy(
            targets[0],
            aws.paths(),
            force=force,
            confirm=confirmer(yes, "destroy"),
            progress=progress,
            keep_image=keep_image,
            take_over=take_over or (),
        )
    if json_out:
        console.emit_json(_destroy_document(report))
    elif report.leftovers:
        for item in report.leftovers:
            console.result(f"still there: {item}")
    else:
        console.result(f"Nothing annex-cdk made is left in {report.region}.")
        if report.images_removed:
            console.result(f"Deregistered: {', '.join(report.images_removed)}.")
        if report.bucket_retained:
            console.result(f"(The bucket {report.bucket_retained} was kept, as configured.)")
    if report.leftovers:
        raise typer.Exit(1)


def _destroy_document(report: DestroyReport) -> dict[str, Any]:
    """destroy's --json document (tests/json_schemas.py: DESTROY)."""
    return {
        "region": report.region,
        "stacks": {name: _destroyed_stack(r) for name, r in report.stacks.items()},
        "bucket_objects_deleted": report.bucket_objects_deleted,
        "bucket_retained": report.bucket_retained,
        "images_removed": list(report.images_removed),
        "local": dict(report.local),
        "leftovers": list(report.leftovers),
        "ok": report.ok,
    }


def _destroyed_stack(r: StackResult) -> dict[str, Any]:
    from annex_cdk.aws.engine import Action
    from annex_cdk.templates.stack_report import stack_entry

    if r.action is Action.SKIP:  # never there: not reported as deleted
        return stack_entry(r.name, status=None, action="unchanged")
    # dangerous stays false: destroy asked before it deleted anything (--yes is that answer).
    return stack_entry(
        r.name, status=r.status, action="delete", seconds=round(r.seconds, 3), reason=r.reason
    )


def _destroy_line(report: DestroyReport) -> tuple[bool, str]:
    if report.leftovers:
        return False, "still there: " + "; ".join(report.leftovers)
    return True, "nothing annex-cdk made is left"
