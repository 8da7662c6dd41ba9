"""`annex-cdk setup`, `diff` and `synth`: the same settings flags, from one definition."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from annex_cdk import console
from annex_cdk.commands.failure import error_policy
from annex_cdk.commands.options import (
    AwsOptions,
    Json,
    NoLocal,
    TakeOver,
    Yes,
    aws_side_only,
    with_options,
)
from annex_cdk.commands.regional import (
    DefaultRegion,
    default_region,
    document,
    finish,
    run_each,
    run_live,
    summarize,
)
from annex_cdk.console import StackProgress
from annex_cdk.errors import EXIT_USAGE
from annex_stacks import names
from annex_stacks.settings import SettingsFlags

if TYPE_CHECKING:
    from annex_cdk.aws.engine import StackResult
    from annex_cdk.aws.session import AwsTarget
    from annex_cdk.ops.setup import DiffReport, SetupReport


def _targets_while_loading(
    aws: AwsOptions, remote: bool, *, setup: bool = False
) -> list[AwsTarget]:
    """The targets, while the use cases (boto3 and the rest, about a third of a second) are
    imported beside: the targets' key files are read by HTCondor's parser in a process of its
    own, and the import need not wait for it. A `setup` that looks like the first one here
    starts loading CDK as soon as its targets are found (ops.first_setup)."""
    # Here, not at the top: threads and logging are start-up time --help need not spend.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="targets") as pool:
        targets = pool.submit(aws.targets, local=not remote)
        if setup:
            targets.add_done_callback(import_module("annex_cdk.ops.first_setup").once_found)
        import_module("annex_cdk.ops.setup")
        return targets.result()


@with_options
def setup(
    aws: AwsOptions,
    flags: SettingsFlags,
    retire_condor_annex_config: Annotated[
        bool,
        typer.Option(
            "--retire-condor-annex-config",
            help="Comment out the config blocks condor_annex -setup appended for this region.",
        ),
    ] = False,
    json_out: Json = False,
    yes: Yes = False,
    no_local: NoLocal = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Add each resource event's reason.")
    ] = False,
    default_region_flag: DefaultRegion = None,
    create_default_vpc: Annotated[
        bool,
        typer.Option(
            "--create-default-vpc",
            help="Create the region's default VPC if it has none (condor_annex's on-demand "
            "annexes need it); destroy leaves it.",
        ),
    ] = False,
    take_over: TakeOver = None,
) -> None:
    """Deploy the HTCondorAnnex-* stacks and write the PEM and ~/.condor/user_config.

    Flags are remembered by the deployed stacks: a re-run without them keeps what is deployed.
    With --no-local (pipelines) only the stacks: a submit host runs `write-config` later.
    With several --region, the regions at once (ANNEX_DEFAULT_AWS_REGION: --default-region,
    else the first).
    """
    remote = aws_side_only(no_local)
    targets = _targets_while_loading(aws, remote, setup=True)
    from annex_cdk.ops.setup import run_setup  # loaded by now

    if len(targets) > 1:
        paths, default = aws.local_paths(remote), default_region(targets, default_region_flag)
        outcomes = run_live(
            targets,
            verbose,
            lambda target, progress: run_setup(
                target,
                paths,
                flags,
                yes=yes,
                progress=progress,
                retire_annex_blocks=retire_condor_annex_config,
                # Plain `cdk` gets one region's settings: the default region's.
                cdk_project=Path.cwd() if target.region == default else None,
                default_region=default if paths is not None else None,
                create_default_vpc=create_default_vpc,
                take_over=take_over or (),
            ),
        )
        if json_out:
            console.emit_json(document(outcomes, _setup_document, default_region=default))
        else:
            summarize(outcomes, _setup_line)
            if paths is not None:
                console.result(
                    f"user_config: {paths.user_config} (ANNEX_DEFAULT_AWS_REGION = {default})"
                )
        finish(outcomes, all(o.report is not None and o.report.ok for o in outcomes))
        return
    with StackProgress(verbose=verbose) as progress:
        report = run_setup(
            targets[0],
            aws.local_paths(remote),
            flags,
            yes=yes,
            progress=progress,
            retire_annex_blocks=retire_condor_annex_config,
            cdk_project=Path.cwd(),
            create_default_vpc=create_default_vpc,
            take_over=take_over or (),
        )
    if json_out:
        console.emit_json(_setup_document(report))
    else:
        _show_setup(report)
    if not report.ok:
        raise typer.Exit(1)


def _setup_document(report: SetupReport) -> dict[str, Any]:
    """setup's --json document (tests/json_schemas.py: SETUP)."""
    return {
        "region": report.region,
        "account": report.account,
        "stacks": {name: _setup_stack(r) for name, r in report.stacks.items()},
        "local": report.local.as_dict() if report.local is not None else None,
        "settings": report.settings.to_context(),
        "cdk_context": str(report.cdk_context) if report.cdk_context else None,
        "timings": dict(report.timings),
        "synth_cached": report.synth_cached,
        "ok": report.ok,
    }


def _setup_stack(r: StackResult) -> dict[str, Any]:
    from annex_cdk.aws.engine import Action
    from annex_cdk.templates.stack_report import stack_entry

    return stack_entry(
        r.name,
        status=r.status,
        action=r.action.value,
        outputs=r.outputs,
        # Setup replaces a stack only with consent, because a replacement loses what it holds.
        dangerous=r.action is Action.REPLACE,
        seconds=round(r.seconds, 3),
        reason=r.reason,
    )


def _show_setup(report: SetupReport) -> None:
    # Never "successful" with a non-zero exit: the stacks may be fine, the whole is not.
    outcome = "successful" if report.ok else "finished with problems (see above)"
    console.result(
        f"Setup {outcome} in {report.region} ({report.timings['total_s']:.1f} s; "
        f"{len(report.changed_stacks)} stack(s) changed)."
    )
    if report.local is None:
        console.result(
            "No local files written (--no-local): on the submit host, run "
            f"`annex-cdk write-config --region {report.region}`."
        )
    else:
        config, pem = report.local.config, report.local.pem
        console.result(
            f"user_config: {config.path if config else None} ({config.action if config else None})"
        )
        if pem:
            console.result(f"SSH key: {pem} ({report.local.pem_action})")
    submit_host = report.stacks.get(names.SUBMIT_HOST_STACK)
    if submit_host and (profile := submit_host.outputs.get(names.OUT_SUBMIT_HOST_PROFILE)):
        console.result(f"Submit host instance profile: {profile}")


def _setup_line(report: SetupReport) -> tuple[bool, str]:
    what = f"{len(report.changed_stacks)} stack(s) changed"
    if report.local is not None and report.local.config is not None:
        what += f"; user_config {report.local.config.action}"
    if report.local is not None and report.local.pem:
        what += f"; PEM {report.local.pem} ({report.local.pem_action})"
    return report.ok, what if report.ok else what + "; problems (see above)"


def _every_error_is_2(ctx: typer.Context, value: bool) -> bool:
    if value:  # CI contract: every error is 2, whatever its kind (main() applies it)
        error_policy(ctx).every_error_exit = EXIT_USAGE
    return value


@with_options
def diff(
    aws: AwsOptions,
    flags: SettingsFlags,
    exit_code: Annotated[
        bool,
        typer.Option(
            "--exit-code",
            help="Exit 0 for no change, 1 for changes, 2 for errors.",
            callback=_every_error_is_2,
        ),
    ] = False,
    json_out: Json = False,
    no_local: NoLocal = None,
) -> None:
    """What `setup` with the same flags would change, per stack: resources and properties."""
    remote = aws_side_only(no_local)
    targets = _targets_while_loading(aws, remote)
    from annex_cdk.ops.setup import run_diff  # loaded by now

    paths = aws.local_paths(remote)
    if len(targets) > 1:
        outcomes = run_each(targets, lambda target: run_diff(target, paths, flags))
        if json_out:
            console.emit_json(document(outcomes, lambda r: {**_diff_document(r), "ok": True}))
        else:
            for outcome in outcomes:
                if outcome.report is not None:
                    console.result(f"== {outcome.region}")
                    _show_diff(outcome.report, False)
            summarize(
                outcomes, lambda r: (True, "changes" if r.changed or r.blocked else "no change")
            )
        if not all(o.ok for o in outcomes):
            # --exit-code turns every error into 2, as main() does for a raised error.
            raise typer.Exit(EXIT_USAGE if exit_code else 1)
        if exit_code and any(o.report.changed or o.report.blocked for o in outcomes if o.report):
            raise typer.Exit(1)
        return
    report = run_diff(targets[0], paths, flags)
    _show_diff(report, json_out)
    if exit_code and (report.changed or report.blocked):
        raise typer.Exit(1)


def _diff_document(report: DiffReport) -> dict[str, Any]:
    """diff's --json document (tests/json_schemas.py: DIFF)."""
    live = report.live
    return {
        "changed": report.changed,
        "stacks": {
            d.stack: d.as_dict(
                status=live[d.stack].status if d.stack in live else None,
                outputs=live[d.stack].outputs if d.stack in live else None,
            )
            | {"blocked": report.blocked.get(d.stack)}
            for d in report.diffs
        },
        "blocked": dict(report.blocked),
        "settings": report.settings.to_context(),
    }


def _show_diff(report: DiffReport, json_out: bool) -> None:
    from annex_cdk.templates.diff_model import render_all

    if json_out:
        # ok: the diff was made; `changed` says whether setup would change anything.
        console.emit_json(_diff_document(report), ok=True)
        return
    for line in render_all(report.diffs):
        console.result(line)
    for name, why in report.blocked.items():
        console.result(f"! {name}: {why}")


@with_options
def synth(
    flags: SettingsFlags,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the cloud assembly.")
    ] = Path("cdk.out"),
    region: Annotated[
        str | None, typer.Option("--region", help="Pin the templates to a region.")
    ] = None,
    json_out: Json = False,
) -> None:
    """Write the templates, as `cdk synth` would (same app, same settings); no AWS calls."""
    from annex_cdk.ops.synth import run_synth

    result = run_synth(flags, region=region, out=out)
    for warning in result.warnings:
        console.warn(warning)
    files = {name: str(out / f"{name}.template.json") for name in result.templates}
    if json_out:
        console.emit_json(
            {"outdir": str(out), "templates": files, "warnings": list(result.warnings)}, ok=True
        )
    else:
        for path in files.values():
            console.result(path)
