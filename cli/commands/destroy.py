"""`annex-cdk destroy`: asks first, unless --yes."""

from __future__ import annotations

from typing import Annotated

import typer

from annex_cdk import console
from annex_cdk.commands.options import AwsOptions, Json, Yes, confirmer, with_options
from annex_cdk.console import StackProgress
from annex_cdk.ops.destroy import run_destroy


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
) -> None:
    """Delete the stacks, the PEM and annex-cdk's config lines; then verify nothing is left."""
    with StackProgress(verbose=verbose) as progress:
        report = run_destroy(
            aws.target(),
            aws.paths(),
            force=force,
            confirm=confirmer(yes, "destroy"),
            progress=progress,
            keep_image=keep_image,
        )
    if json_out:
        console.emit_json(report)
    elif report["leftovers"]:
        for item in report["leftovers"]:
            console.result(f"still there: {item}")
    else:
        console.result(f"Nothing annex-cdk made is left in {report['region']}.")
        if report["images_removed"]:
            console.result(f"Deregistered: {', '.join(report['images_removed'])}.")
        if report["bucket_retained"]:
            console.result(f"(The bucket {report['bucket_retained']} was kept, as configured.)")
    if report["leftovers"]:
        raise typer.Exit(1)
