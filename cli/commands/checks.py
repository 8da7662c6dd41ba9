"""`annex-cdk check-setup` and `write-config`: they read the deployed stacks, never synthesize.

Like every command module, this one imports its use cases when its command runs, not at start-up
(tests/unit/test_architecture.py: COMMAND_START_IMPORTS), so `--help` and shell completion load
none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from annex_cdk import console
from annex_cdk.commands.options import AwsOptions, Json, NoLocal, aws_side_only, with_options
from annex_cdk.commands.regional import (
    DefaultRegion,
    default_region,
    document,
    finish,
    run_each,
    summarize,
)

if TYPE_CHECKING:
    from annex_cdk.aws.session import AwsTarget
    from annex_cdk.ops.check_report import CheckReport
    from annex_cdk.ops.write_config import WriteConfigReport


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
    from annex_cdk.ops.check import run_check_setup

    remote = aws_side_only(no_local)
    targets = aws.targets(local=not remote)
    paths = aws.local_paths(remote)

    def check(target: AwsTarget) -> CheckReport:
        return run_check_setup(target, paths, deep=deep, htcondor_version=htcondor_version)

    if len(targets) > 1:
        outcomes = run_each(targets, check)
        every = all(o.report is not None and o.report.ok for o in outcomes)
        if json_out:
            console.emit_json(document(outcomes, lambda r: r.as_dict()))
        else:
            for outcome in outcomes:
                if outcome.report is not None:
                    console.result(f"== {outcome.region}")
                    for line in outcome.report.lines:
                        console.result(line)
            summarize(outcomes, lambda r: (r.ok, "all checks passed" if r.ok else "checks failed"))
        finish(outcomes, every)
        return
    report = check(targets[0])
    if json_out:
        console.emit_json(report.as_dict())
    else:
        for line in report.lines:
            console.result(line)
    if not report.ok:
        raise typer.Exit(1)


@with_options
def write_config(
    aws: AwsOptions, json_out: Json = False, default_region_flag: DefaultRegion = None
) -> None:
    """The post-deploy step alone, from the live stack outputs (after `cdk deploy --all`)."""
    from annex_cdk.ops.write_config import run_write_config

    targets = aws.targets()
    if len(targets) > 1:
        default = default_region(targets, default_region_flag)
        outcomes = run_each(
            targets, lambda target: run_write_config(target, aws.paths(), default_region=default)
        )
        every = all(o.report is not None and o.report.ok for o in outcomes)
        if json_out:
            console.emit_json(document(outcomes, lambda r: r.as_dict(), default_region=default))
        else:
            summarize(outcomes, _write_line)
            console.result(
                f"user_config: {aws.paths().user_config} (ANNEX_DEFAULT_AWS_REGION = {default})"
            )
        finish(outcomes, every)
        return
    report = run_write_config(targets[0], aws.paths())
    if json_out:
        console.emit_json(report.as_dict())
    else:
        config = report.local.config
        console.result(f"user_config: {report.user_config} ({config.action if config else '-'})")
        if report.local.pem:
            console.result(f"SSH key: {report.local.pem} ({report.local.pem_action})")
    if not report.ok:
        raise typer.Exit(1)


def _write_line(report: WriteConfigReport) -> tuple[bool, str]:
    config = report.local.config
    what = f"user_config {config.action if config else '-'}"
    if report.local.pem:
        what += f"; PEM {report.local.pem} ({report.local.pem_action})"
    return report.ok, what
