"""`annex-cdk setup`, `diff` and `synth`: the same settings flags, from one definition."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from annex_cdk import console
from annex_cdk.commands.options import AwsOptions, Json, NoLocal, Yes, aws_side_only, with_options
from annex_cdk.console import StackProgress
from annex_cdk.errors import EXIT_USAGE
from annex_cdk.ops.setup import SettingsFlags, run_diff, run_setup
from annex_cdk.ops.synth import run_synth
from annex_cdk.templates.diff import render_all
from annex_stacks import names


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
) -> None:
    """Deploy the HTCondorAnnex-* stacks and write the PEM and ~/.condor/user_config.

    Flags are remembered by the deployed stacks: a re-run without them keeps what is deployed.
    With --no-local (pipelines) only the stacks: a submit host runs `write-config` later.
    """
    remote = aws_side_only(no_local)
    with StackProgress(verbose=verbose) as progress:
        report = run_setup(
            aws.target(local=not remote),
            aws.local_paths(remote),
            flags,
            yes=yes,
            progress=progress,
            retire_annex_blocks=retire_condor_annex_config,
            cdk_project=Path.cwd(),
        )
    if json_out:
        console.emit_json(report)
    else:
        changed = [n for n, s in report["stacks"].items() if s["action"] != "unchanged"]
        # Never "successful" with a non-zero exit: the stacks may be fine, the whole is not.
        outcome = "successful" if report["ok"] else "finished with problems (see above)"
        console.result(
            f"Setup {outcome} in {report['region']} ({report['timings']['total_s']:.1f} s; "
            f"{len(changed)} stack(s) changed)."
        )
        local = report["local"]
        if local is None:
            console.result(
                "No local files written (--no-local): on the submit host, run "
                f"`annex-cdk write-config --region {report['region']}`."
            )
        else:
            console.result(f"user_config: {local['user_config']} ({local['user_config_action']})")
            if local["pem"]:
                console.result(f"SSH key: {local['pem']} ({local['pem_action']})")
        submit_host = report["stacks"].get(names.SUBMIT_HOST_STACK, {}).get("outputs", {})
        if profile := submit_host.get(names.OUT_SUBMIT_HOST_PROFILE):
            console.result(f"Submit host instance profile: {profile}")
    if not report["ok"]:
        raise typer.Exit(1)


@with_options
def diff(
    aws: AwsOptions,
    flags: SettingsFlags,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 0 for no change, 1 for changes, 2 for errors.")
    ] = False,
    json_out: Json = False,
    no_local: NoLocal = None,
) -> None:
    """What `setup` with the same flags would change, per stack: resources and properties."""
    if exit_code:  # CI contract: every error is 2, whatever its kind (main() applies it)
        console.RUN.every_error_exit = EXIT_USAGE
    remote = aws_side_only(no_local)
    report = run_diff(aws.target(local=not remote), aws.local_paths(remote), flags)
    _show_diff(report, json_out)
    changed = any(d.changed for d in report["diffs"]) or bool(report["blocked"])
    if exit_code and changed:
        raise typer.Exit(1)


def _show_diff(report: dict[str, Any], json_out: bool) -> None:
    if json_out:
        console.emit_json(
            {
                "changed": any(d.changed for d in report["diffs"]),
                "stacks": report["stacks"],
                "blocked": report["blocked"],
                "settings": report["settings"].to_context(),
            },
            ok=True,  # the diff was made; `changed` says whether setup would change anything
        )
        return
    for line in render_all(report["diffs"]):
        console.result(line)
    for name, status in report["blocked"].items():
        console.result(f"! {name}: {status}; setup will ask to re-create it (or pass --yes)")


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
