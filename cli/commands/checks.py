"""`annex-cdk check-setup` and `write-config`: they read the deployed stacks, never synthesize."""

from __future__ import annotations

from typing import Annotated

import typer

from annex_cdk import console
from annex_cdk.commands.options import AwsOptions, Json, NoLocal, aws_side_only, with_options
from annex_cdk.ops.check import run_check_setup
from annex_cdk.ops.write_config import run_write_config


@with_options
def check_setup(
    aws: AwsOptions,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep", help="Also compare the config, the stack outputs and the live resources."
        ),
    ] = False,
    htcondor_version: Annotated[
        str | None,
        typer.Option(
            "--htcondor-version",
            metavar="X.Y[.Z]",
            help="Check for this HTCondor (default: detected as `condor configure` does).",
        ),
    ] = None,
    json_out: Json = False,
    no_local: NoLocal = None,
) -> None:
    """condor_annex -check-setup's checks and output; exits non-zero when any check fails."""
    remote = aws_side_only(no_local)
    report = run_check_setup(
        aws.target(local=not remote),
        aws.local_paths(remote),
        deep=deep,
        htcondor_version=htcondor_version,
    )
    if json_out:
        console.emit_json(report.as_dict())
    else:
        for line in report.lines:
            console.result(line)
    if not report.ok:
        raise typer.Exit(1)


@with_options
def write_config(aws: AwsOptions, json_out: Json = False) -> None:
    """The post-deploy step alone, from the live stack outputs (after `cdk deploy --all`)."""
    report = run_write_config(aws.target(), aws.paths())
    if json_out:
        console.emit_json(report.as_dict())
    else:
        config = report.local.config
        console.result(f"user_config: {report.user_config} ({config.action if config else '-'})")
        if report.local.pem:
            console.result(f"SSH key: {report.local.pem} ({report.local.pem_action})")
    if not report.ok:
        raise typer.Exit(1)
