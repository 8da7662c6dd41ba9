"""`annex-cdk condor configure|unconfigure` and `annex-cdk credentials`: the guide's local steps.

app.py calls `register(app)`. Nothing here imports aws_cdk; boto3 only for `credentials`
from a profile. Secrets (the pool password, the secret access key) are read from a hidden prompt
or standard input only, never from an argument, and never printed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from annex_cdk import console
from annex_cdk.commands.options import AwsOptions
from annex_cdk.errors import UsageError
from annex_stacks import names

if TYPE_CHECKING:
    from annex_cdk.condor.key_files import Secret
    from annex_cdk.ops.condor_configure import ConfigureReport

condor_app = typer.Typer(
    name="condor",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: rich help rendering costs --help ~110 ms of imports
    pretty_exceptions_enable=False,  # locals can hold the pool password
    help="Configure the personal HTCondor as condor_annex's first-time guide says.",
)

# --- Options ------------------------------------------------------------------------------------
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config-file",
        help="The personal HTCondor's local config file (default: HTCondor's LOCAL_CONFIG_FILE, "
        "from condor_config_val or CONDOR_CONFIG).",
    ),
]
Restart = Annotated[
    bool, typer.Option("--restart", help="Run condor_restart afterwards (it must be on PATH).")
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


# --- condor configure / unconfigure ------------------------------------------------------------
@condor_app.command()
def configure(
    config_file: ConfigFile = None,
    port: Annotated[
        int,
        typer.Option(
            "--port", min=1, max=65535, help="The port the administrator opened for HTCondor."
        ),
    ] = names.DEFAULT_COLLECTOR_PORT,
    network_interface: Annotated[
        str,
        typer.Option(
            "--network-interface",
            help="NETWORK_INTERFACE: the public interface or address (default: all, '*').",
        ),
    ] = names.DEFAULT_NETWORK_INTERFACE,
    collector_host: Annotated[
        str | None,
        typer.Option(
            "--collector-host",
            help="This machine's public DNS name or address, for CONDOR_HOST and "
            "COLLECTOR_HOST (default: $(FULL_HOSTNAME)).",
        ),
    ] = None,
    password_file: Annotated[
        str | None,
        typer.Option(
            "--password-file",
            help="SEC_PASSWORD_FILE (default: $(LOCAL_DIR)/condor_pool_password).",
        ),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the pool password from standard input and store it (even if stored).",
        ),
    ] = False,
    replace_password: Annotated[
        bool,
        typer.Option(
            "--replace-password", help="Ask for a new pool password even if one is stored."
        ),
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="Leave the pool password alone.")
    ] = False,
    restart: Restart = False,
    htcondor_version: Annotated[
        str | None,
        typer.Option(
            "--htcondor-version",
            metavar="X.Y[.Z]",
            help="The HTCondor to configure for (default: condor_version on PATH, else the "
            "configuration's BIN or release directory, else the Python bindings). Up to 24.10: "
            "the classic condor_annex lines; 24.11.2 and later: the access point for "
            "`htcondor annex create`.",
        ),
    ] = None,
    heartbeat_region: Annotated[
        str | None,
        typer.Option(
            "--heartbeat-region",
            help="Also add the schedd cron job that runs `annex-cdk heartbeat --region REGION` "
            "every five minutes: the spend guardrail's dead-man switch (--heartbeat-minutes).",
        ),
    ] = None,
    heartbeat_profile: Annotated[
        str | None,
        typer.Option(
            "--heartbeat-profile",
            help="The AWS profile the heartbeat cron job uses (default: the schedd's "
            "environment, e.g. instance credentials).",
        ),
    ] = None,
    json_out: Json = False,
) -> None:
    """Write the settings for this HTCondor's annexes; on the classic side store the password.

    Classic (HTCondor <= 24.10, condor_annex -count): the guide's public-interface,
    pool-password and port settings. Access point (>= 24.11.2, htcondor annex create):
    use feature:HPC_ANNEX, NETWORK_INTERFACE, TCP_FORWARDING_HOST, and ~/.hpc-annex.
    The settings go into a block annex-cdk owns in the local config file (lines outside it are
    untouched; a backup is kept; re-running changes nothing); `condor unconfigure` removes it.
    """
    from annex_cdk.condor import personal as pc
    from annex_cdk.condor import pool_password
    from annex_cdk.condor.heartbeat_cron import HeartbeatCron
    from annex_cdk.condor.key_files import Secret
    from annex_cdk.condor.personal_config import locate
    from annex_cdk.condor.version import parse_flag
    from annex_cdk.ops.condor_configure import ConfigureRequest, run_configure

    if sum((password_stdin, replace_password, no_password)) > 1:
        raise UsageError("use at most one of --password-stdin, --replace-password, --no-password")
    mode: pool_password.PasswordMode = (
        "stdin"
        if password_stdin
        else "replace"
        if replace_password
        else "skip"
        if no_password
        else "auto"
    )
    if heartbeat_profile is not None and heartbeat_region is None:
        raise UsageError("--heartbeat-profile needs --heartbeat-region")
    heartbeat = (
        HeartbeatCron(heartbeat_region, heartbeat_profile) if heartbeat_region is not None else None
    )
    options = pc.GuideOptions(port, network_interface, collector_host, password_file, heartbeat)
    options.validate()
    if htcondor_version is not None:
        parse_flag(htcondor_version)  # a bad flag stops before anything is read
    # Read a piped password first: a bad one must stop the command before anything is written.
    stdin_password = pool_password.read_password(sys.stdin) if password_stdin else None
    location = locate(config_file)
    console.info(f"personal HTCondor config: {location.path} (from {location.source})")

    def ask() -> Secret:
        console.info("The pool password secures HTCondor's traffic with annex instances.")
        return Secret(
            typer.prompt("Pool password", hide_input=True, confirmation_prompt=True, err=True)
        )

    report = run_configure(
        ConfigureRequest(
            location,
            options,
            password_mode=mode,
            stdin_password=stdin_password,
            ask_password=ask if _stdin_is_terminal() else None,
            restart_after=restart,
            htcondor_version=htcondor_version,
        )
    )
    for warning in report.warnings:
        console.warn(warning)
    for problem in report.problems:
        console.warn(problem)
    if json_out:
        console.emit_json(report.as_dict())
    else:
        _print_configure(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_configure(report: ConfigureReport) -> None:
    write = report.write
    if report.htcondor is not None:
        console.result(report.htcondor.describe())
    backup = f"; backup {write.backup}" if write.backup else ""
    console.result(f"{write.path}: {write.action}{backup}")
    if report.changes and write.changed:
        console.result("  changes in annex-cdk's block:")
        for change in report.changes:
            console.result(f"    {change}")
    first = next(iter(report.effective.values()), {})
    for key in report.values:
        console.result(f"  {key} = {first.get(key)}")
    password = report.password
    if password is not None:
        if password.action == "stored":
            console.result(f"pool password: stored in {password.file}")
        elif password.action == "kept":
            console.result(f"pool password: {password.file} exists (--replace-password to change)")
        elif password.command:
            console.result(f"pool password: not stored; run: {password.command}")
    if report.hpc_annex_dir is not None:
        path, action = report.hpc_annex_dir
        console.result(f"{path}: {action} (htcondor annex create needs it)")
    if report.restart_output is not None:
        console.result(f"condor_restart: {report.restart_output}")
    elif report.restart_needed:
        console.result(
            "Run condor_restart so that the running HTCondor reads this (or pass --restart)."
        )


@condor_app.command()
def unconfigure(
    config_file: ConfigFile = None,
    restart: Restart = False,
    json_out: Json = False,
) -> None:
    """Remove annex-cdk's block: the local config file gets back its bytes from before."""
    from annex_cdk.condor.personal_config import locate
    from annex_cdk.ops.condor_configure import run_unconfigure

    report = run_unconfigure(locate(config_file), restart_after=restart)
    if json_out:
        console.emit_json(report.as_dict())
        return
    write = report.write
    if write.action == "absent":
        console.result(f"{write.path}: no annex-cdk block; nothing to do")
        return
    backup = f"; backup {write.backup}" if write.backup else ""
    console.result(f"{write.path}: {write.action}{backup}")
    console.result("The pool password file, if any, is left in place.")
    if report.restart_output is not None:
        console.result(f"condor_restart: {report.restart_output}")
    else:
        console.result(
            "Run condor_restart so that the running HTCondor reads this (or pass --restart)."
        )


# --- credentials --------------------------------------------------------------------------------
def credentials(
    from_stdin: Annotated[
        bool,
        typer.Option(
            "--from-stdin",
            help="Read two lines from standard input: the access key id, then the secret key "
            "(the IAM console's accessKeys.csv works too).",
        ),
    ] = False,
    from_instance: Annotated[
        bool,
        typer.Option(
            "--from-instance",
            help="On an EC2 submit host: write no files; setup --from-instance makes the "
            "config say FROM INSTANCE.",
        ),
    ] = False,
    profile: Annotated[
        str | None,
        typer.Option("--profile", envvar="AWS_PROFILE", help="AWS profile to take the key from."),
    ] = None,
    access_key_file: Annotated[
        Path | None,
        typer.Option("--access-key-file", help="Default ~/.condor/publicKeyFile."),
    ] = None,
    secret_key_file: Annotated[
        Path | None,
        typer.Option("--secret-key-file", help="Default ~/.condor/privateKeyFile."),
    ] = None,
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate",
            help="Replace the key of condor_annex's own user (setup --condor-user): a new key "
            "in its key files, proven to work, then the old key deleted.",
        ),
    ] = False,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
            help="With --rotate: the region of the setup (default: condor_annex's).",
        ),
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            envvar="AWS_ENDPOINT_URL",
            help="With --rotate: AWS endpoint (e.g. the local emulator).",
        ),
    ] = None,
    json_out: Json = False,
) -> None:
    """Create condor_annex's key files (0600, in a 0700 directory) from a long-term AWS key.

    The key comes from the current AWS profile, or from standard input with --from-stdin. An
    existing file with the same key is left as it is (group/other bits are taken off); one with
    a different key is never overwritten.
    """
    from annex_cdk.condor import key_files as creds
    from annex_cdk.condor.paths import LocalPaths
    from annex_cdk.ops.credentials import from_profile

    if rotate:
        if from_stdin or from_instance or access_key_file or secret_key_file:
            raise UsageError(
                "--rotate writes condor_annex's own user's key files: it takes no --from-stdin, "
                "--from-instance or key file"
            )
        _rotate(region, profile, endpoint_url, json_out=json_out)
        return
    if from_stdin and from_instance:
        raise UsageError("use --from-stdin or --from-instance, not both")
    paths = LocalPaths(Path.home())
    public = (access_key_file or paths.condor_dir / names.PUBLIC_KEY_FILE).expanduser()
    private = (secret_key_file or paths.condor_dir / names.PRIVATE_KEY_FILE).expanduser()
    if from_instance:
        report = creds.from_instance_report(public, private)
    else:
        pair = creds.from_text(sys.stdin.read()) if from_stdin else from_profile(profile)
        report = creds.write_key_files(pair, public, private)
    for warning in report.warnings:
        console.warn(warning)
    if json_out:
        console.emit_json(report.as_dict(), ok=True)  # a refusal raises: ok when reached
        return
    if from_instance:
        console.result(
            "No key files needed: run `annex-cdk setup --from-instance`, which writes "
            f"{names.KEY_ACCESS_KEY_FILE} = {names.FROM_INSTANCE} and "
            f"{names.KEY_SECRET_KEY_FILE} = {names.FROM_INSTANCE}."
        )
        return
    console.result(f"access key {report.access_key_id} from {report.source}")
    for outcome in (report.access_key_file, report.secret_key_file):
        assert outcome is not None
        narrowed = (
            f", mode narrowed from {outcome.narrowed_from:04o}" if outcome.narrowed_from else ""
        )
        console.result(f"{outcome.path}: {outcome.action} ({outcome.mode:04o}{narrowed})")
    if access_key_file or secret_key_file:
        console.result(
            f"Pass --access-key-file {public} --secret-key-file {private} to annex-cdk setup."
        )


def _rotate(
    region: str | None, profile: str | None, endpoint_url: str | None, *, json_out: bool
) -> None:
    from annex_cdk.condor.key_files import mask
    from annex_cdk.ops.condor_user import deployed_user, rotate_key

    aws = AwsOptions(
        region=[region] if region else None, profile=profile, endpoint_url=endpoint_url
    )
    target = aws.target()
    done = rotate_key(target, aws.paths(), deployed_user(target))
    if json_out:
        document = {
            "user": done.user,
            "old_access_key_id": done.old_key_id and mask(done.old_key_id),
            "access_key_id": mask(done.new_key_id),
            "files": [str(p) for p in done.files],
        }
        console.emit_json(document, ok=True)
        return
    old = f" (was {mask(done.old_key_id)}, deleted)" if done.old_key_id else ""
    console.result(f"{done.user}: new access key {mask(done.new_key_id)}{old}")


def register(app: typer.Typer) -> None:
    """Add `condor configure|unconfigure` and `credentials` to the annex-cdk app."""
    app.add_typer(condor_app, name="condor")
    app.command("credentials")(credentials)
