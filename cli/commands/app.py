"""The `annex-cdk` command line: Typer commands over setup, checks, destroy and the emulator.

Nothing here imports aws_cdk at module level: `--help`, `check-setup` and `write-config` must
not start jsii.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from annex_cdk import console
from annex_cdk.errors import AnnexError, UsageError

app = typer.Typer(
    name="annex-cdk",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: rich help rendering costs --help ~110 ms of imports
    # main() turns errors into one line; --debug re-raises them as plain tracebacks. Typer's
    # rich tracebacks would cost every start-up an import, and their locals can hold secrets.
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Prepare an AWS account and the local HTCondor for condor_annex, as infrastructure-as-code.",
)

_STATE: dict[str, bool] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.result(f"annex-cdk {version('annex-cdk')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="ANNEX_CDK_DEBUG", help="Show tracebacks on errors.")
    ] = False,
) -> None:
    _STATE["debug"] = debug


# --- Shared options ---------------------------------------------------------------------------
Region = Annotated[
    str | None,
    typer.Option(
        "--region",
        envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
        help="AWS region.",
        show_envvar=True,
    ),
]
Profile = Annotated[
    str | None, typer.Option("--profile", envvar="AWS_PROFILE", help="AWS profile (SSO included).")
]
Endpoint = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url", envvar="AWS_ENDPOINT_URL", help="AWS endpoint (e.g. the local emulator)."
    ),
]
AccessKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--access-key-file",
        help="File holding the access key id (default ~/.condor/publicKeyFile).",
    ),
]
SecretKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--secret-key-file", help="File holding the secret key (default ~/.condor/privateKeyFile)."
    ),
]
FromInstance = Annotated[
    bool, typer.Option("--from-instance", help="Use this EC2 instance's profile (FROM INSTANCE).")
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; consent to replacements.")]


# Settings flags, shared by setup and diff (diff shows what setup with them would do).
AllowFrom = Annotated[
    list[str] | None,
    typer.Option("--allow-from", help="CIDR that may reach annex instances (repeatable)."),
]
CollectorHost = Annotated[
    str | None,
    typer.Option("--collector-host", help="Collector host[:port] (default: COLLECTOR_HOST)."),
]
CollectorPort = Annotated[
    int | None, typer.Option("--collector-port", help="Port annex instances accept HTCondor on.")
]
Ssh = Annotated[bool | None, typer.Option("--ssh/--no-ssh", help="Open port 22 as well.")]
KeyName = Annotated[str | None, typer.Option("--key-name", help="EC2 key pair name.")]
ReuseKeyPair = Annotated[
    bool, typer.Option("--reuse-key-pair", help="Use an existing key pair instead of creating one.")
]
Tags = Annotated[
    list[str] | None, typer.Option("--tag", help="KEY=VALUE tag on every resource (repeatable).")
]
RetainBucket = Annotated[
    bool | None,
    typer.Option("--retain-bucket/--no-retain-bucket", help="Keep the bucket on destroy."),
]
SubmitHostRole = Annotated[
    bool,
    typer.Option(
        "--submit-host-role",
        help="Also make an instance profile with `annex-cdk policy` for a submit host on EC2.",
    ),
]


def _settings_flags(
    allow_from,
    collector_host,
    collector_port,
    ssh,
    key_name,
    reuse_key_pair,
    tag,
    retain_bucket,
    submit_host_role=False,
) -> Any:
    from annex_cdk.ops.setup import SettingsFlags

    return SettingsFlags(
        allow_from=tuple(allow_from or ()),
        collector_host=collector_host,
        ssh=ssh,
        collector_port=collector_port,
        key_name=key_name,
        reuse_key_pair=reuse_key_pair,
        tags=_parse_tags(tag) if tag is not None else None,
        retain_bucket=retain_bucket,
        submit_host_role=submit_host_role,
    )


@dataclass
class Common:
    region: str | None
    profile: str | None
    endpoint_url: str | None
    access_key_file: Path | None
    secret_key_file: Path | None
    from_instance: bool

    def paths(self) -> Any:
        from annex_cdk.condor.paths import LocalPaths

        return LocalPaths(Path.home())

    def target(self) -> Any:
        from annex_cdk.aws.session import AwsTarget, resolve_credentials
        from annex_stacks import AnnexSettings, SettingsError

        region = self.region or _condor_region(self.paths())
        try:
            AnnexSettings(region=region)
        except SettingsError as err:
            raise UsageError(
                f"invalid setting {err}", hint="pass --region, e.g. us-east-1"
            ) from None
        creds = resolve_credentials(
            condor_dir=self.paths().condor_dir,
            access_key_file=self.access_key_file,
            secret_key_file=self.secret_key_file,
            from_instance=self.from_instance,
        )
        return AwsTarget(
            region, creds, profile=self.profile, endpoint_url=self.endpoint_url or None
        )


def _condor_region(paths: Any) -> str | None:
    """condor_annex's default region: ANNEX_DEFAULT_AWS_REGION, else us-east-1."""
    from annex_stacks import names

    try:
        value = paths.effective([names.KEY_REGION], "us-east-1")[names.KEY_REGION]
    except Exception:
        value = None
    return value or "us-east-1"


def _common(
    region, profile, endpoint_url, access_key_file, secret_key_file, from_instance
) -> Common:
    return Common(region, profile, endpoint_url, access_key_file, secret_key_file, from_instance)


def _confirm(yes: bool) -> Any:
    def ask(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("destroy needs confirmation", hint="pass --yes when not on a terminal")
        return typer.confirm(question, default=False, err=True)

    return ask


# --- Commands ---------------------------------------------------------------------------------
@app.command()
def setup(
    region: Region = None,
    profile: Profile = None,
    endpoint_url: Endpoint = None,
    access_key_file: AccessKeyFile = None,
    secret_key_file: SecretKeyFile = None,
    from_instance: FromInstance = False,
    allow_from: AllowFrom = None,
    collector_host: CollectorHost = None,
    collector_port: CollectorPort = None,
    ssh: Ssh = None,
    key_name: KeyName = None,
    reuse_key_pair: ReuseKeyPair = False,
    tag: Tags = None,
    retain_bucket: RetainBucket = None,
    submit_host_role: SubmitHostRole = False,
    retire_condor_annex_config: Annotated[
        bool,
        typer.Option(
            "--retire-condor-annex-config",
            help="Comment out the config blocks condor_annex -setup appended for this region.",
        ),
    ] = False,
    json_out: Json = False,
    yes: Yes = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every resource event.")
    ] = False,
) -> None:
    """Deploy the HTCondorAnnex-* stacks and write the PEM and ~/.condor/user_config.

    Flags are remembered by the deployed stacks: a re-run without them keeps what is deployed.
    """
    from annex_cdk.console import StackProgress
    from annex_cdk.ops.setup import run_setup

    common = _common(region, profile, endpoint_url, access_key_file, secret_key_file, from_instance)
    flags = _settings_flags(
        allow_from,
        collector_host,
        collector_port,
        ssh,
        key_name,
        reuse_key_pair,
        tag,
        retain_bucket,
        submit_host_role,
    )
    report = run_setup(
        common.target(),
        common.paths(),
        flags,
        yes=yes,
        progress=StackProgress(verbose=verbose),
        retire_annex_blocks=retire_condor_annex_config,
    )
    if json_out:
        console.emit_json(report)
    else:
        changed = [n for n, s in report["stacks"].items() if s["action"] != "unchanged"]
        console.result(
            f"Setup successful in {report['region']} ({report['timings']['total_s']:.1f} s; "
            f"{len(changed)} stack(s) changed)."
        )
        local = report["local"]
        console.result(f"user_config: {local['user_config']} ({local['user_config_action']})")
        if local["pem"]:
            console.result(f"SSH key: {local['pem']} ({local['pem_action']})")
        from annex_stacks import names

        submit_host = report["stacks"].get(names.SUBMIT_HOST_STACK, {}).get("outputs", {})
        if profile := submit_host.get(names.OUT_SUBMIT_HOST_PROFILE):
            console.result(f"Submit host instance profile: {profile}")
    if not report["ok"]:
        raise typer.Exit(1)


@app.command()
def diff(
    region: Region = None,
    profile: Profile = None,
    endpoint_url: Endpoint = None,
    access_key_file: AccessKeyFile = None,
    secret_key_file: SecretKeyFile = None,
    from_instance: FromInstance = False,
    allow_from: AllowFrom = None,
    collector_host: CollectorHost = None,
    collector_port: CollectorPort = None,
    ssh: Ssh = None,
    key_name: KeyName = None,
    reuse_key_pair: ReuseKeyPair = False,
    tag: Tags = None,
    retain_bucket: RetainBucket = None,
    submit_host_role: SubmitHostRole = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 0 for no change, 1 for changes, 2 for errors.")
    ] = False,
    json_out: Json = False,
) -> None:
    """What `setup` with the same flags would change, per stack: resources and properties."""
    from annex_cdk.ops.setup import run_diff

    common = _common(region, profile, endpoint_url, access_key_file, secret_key_file, from_instance)
    flags = _settings_flags(
        allow_from,
        collector_host,
        collector_port,
        ssh,
        key_name,
        reuse_key_pair,
        tag,
        retain_bucket,
        submit_host_role,
    )
    try:
        report = run_diff(common.target(), common.paths(), flags)
    except AnnexError as err:
        if exit_code:  # CI contract: every error is 2, whatever its kind
            err.exit_code = 2
        raise
    _show_diff(report, json_out)
    changed = any(d.changed for d in report["diffs"]) or bool(report["blocked"])
    if exit_code and changed:
        raise typer.Exit(1)


def _show_diff(report: dict[str, Any], json_out: bool) -> None:
    from annex_cdk.templates.diff import render_all

    if json_out:
        console.emit_json(
            {
                "changed": any(d.changed for d in report["diffs"]),
                "stacks": [d.as_dict() for d in report["diffs"]],
                "blocked": report["blocked"],
                "settings": report["settings"].to_context(),
            }
        )
        return
    for line in render_all(report["diffs"]):
        console.result(line)
    for name, status in report["blocked"].items():
        console.result(f"! {name}: {status}; setup will ask to re-create it (or pass --yes)")


@app.command("check-setup")
def check_setup(
    region: Region = None,
    profile: Profile = None,
    endpoint_url: Endpoint = None,
    access_key_file: AccessKeyFile = None,
    secret_key_file: SecretKeyFile = None,
    from_instance: FromInstance = False,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep", help="Also compare the config, the stack outputs and the live resources."
        ),
    ] = False,
    json_out: Json = False,
) -> None:
    """condor_annex -check-setup's checks and output; exits non-zero when any check fails."""
    from annex_cdk.ops.check import run_check_setup

    common = _common(region, profile, endpoint_url, access_key_file, secret_key_file, from_instance)
    report = run_check_setup(common.target(), common.paths(), deep=deep)
    if json_out:
        console.emit_json(report.as_dict())
    else:
        for line in report.lines:
            console.result(line)
    if not report.ok:
        raise typer.Exit(1)


@app.command("write-config")
def write_config(
    region: Region = None,
    profile: Profile = None,
    endpoint_url: Endpoint = None,
    access_key_file: AccessKeyFile = None,
    secret_key_file: SecretKeyFile = None,
    from_instance: FromInstance = False,
    json_out: Json = False,
) -> None:
    """The post-deploy step alone, from the live stack outputs (after `cdk deploy --all`)."""
    from annex_cdk.aws.engine import Engine
    from annex_cdk.aws.session import call
    from annex_cdk.ops.post_deploy import post_deploy, preflight
    from annex_cdk.ops.setup import private_key, require_complete
    from annex_stacks import names

    common = _common(region, profile, endpoint_url, access_key_file, secret_key_file, from_instance)
    target, paths = common.target(), common.paths()
    target.account_id()
    outputs = call(lambda: require_complete(Engine(target.client("cloudformation"))), target)
    key_outputs = outputs.get(names.KEY_PAIR_STACK, {})
    key_name = key_outputs.get(names.OUT_KEY_PAIR_NAME)
    preflight(paths, target.region, key_name)
    report = post_deploy(
        paths,
        target.region,
        outputs,
        target.credentials,
        key_name=key_name,
        private_key=call(lambda: private_key(target, key_outputs), target),
    )
    if json_out:
        console.emit_json(
            {"region": target.region, "local": report.as_dict(), "ok": not report.problems}
        )
    else:
        console.result(
            f"user_config: {paths.user_config} ({report.config.action if report.config else '-'})"
        )
        if report.pem:
            console.result(f"SSH key: {report.pem} ({report.pem_action})")
    if report.problems:
        raise typer.Exit(1)


@app.command()
def synth(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the cloud assembly.")
    ] = Path("cdk.out"),
    region: Annotated[
        str | None, typer.Option("--region", help="Pin the templates to a region.")
    ] = None,
    allow_from: Annotated[
        list[str] | None, typer.Option("--allow-from", help="CIDR (repeatable).")
    ] = None,
    collector_port: Annotated[int | None, typer.Option("--collector-port")] = None,
    ssh: Annotated[bool, typer.Option("--ssh/--no-ssh")] = True,
    key_name: Annotated[str | None, typer.Option("--key-name")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE (repeatable).")] = None,
    json_out: Json = False,
) -> None:
    """Write the templates, as `cdk synth` would (same app, same settings)."""
    from annex_stacks import AnnexSettings, SettingsError
    from annex_stacks import synth as synthesize

    try:
        settings = AnnexSettings.from_context(
            {},
            region=region,
            allowed_cidrs=tuple(allow_from or ()),
            collector_port=collector_port,
            ssh=ssh,
            key_pair_name=key_name,
            extra_tags=_parse_tags(tag) if tag else None,
        )
    except SettingsError as err:
        raise UsageError(f"invalid setting {err}") from None
    result = synthesize(settings, outdir=out)
    for warning in result.warnings:
        console.warn(warning)
    files = {name: str(out / f"{name}.template.json") for name in result.templates}
    if json_out:
        console.emit_json(
            {"outdir": str(out), "templates": files, "warnings": list(result.warnings)}
        )
    else:
        for path in files.values():
            console.result(path)


@app.command()
def destroy(
    region: Region = None,
    profile: Profile = None,
    endpoint_url: Endpoint = None,
    access_key_file: AccessKeyFile = None,
    secret_key_file: SecretKeyFile = None,
    from_instance: FromInstance = False,
    force: Annotated[
        bool, typer.Option("--force", help="Even while annex instances exist.")
    ] = False,
    json_out: Json = False,
    yes: Yes = False,
) -> None:
    """Delete the stacks, the PEM and annex-cdk's config lines; then verify nothing is left."""
    from annex_cdk.console import StackProgress
    from annex_cdk.ops.destroy import run_destroy

    common = _common(region, profile, endpoint_url, access_key_file, secret_key_file, from_instance)
    report = run_destroy(
        common.target(),
        common.paths(),
        force=force,
        confirm=_confirm(yes),
        progress=StackProgress(),
    )
    if json_out:
        console.emit_json(report)
    elif report["leftovers"]:
        for item in report["leftovers"]:
            console.result(f"still there: {item}")
    else:
        console.result(f"Nothing annex-cdk made is left in {report['region']}.")
        if report["bucket_retained"]:
            console.result(f"(The bucket {report['bucket_retained']} was kept, as configured.)")
    if report["leftovers"]:
        raise typer.Exit(1)


@app.command()
def policy(
    region: Region = None,
    account: Annotated[
        str | None,
        typer.Option("--account", help="12-digit AWS account id (default: any account, *)."),
    ] = None,
    key_name: KeyName = None,
    bucket: Annotated[
        str | None,
        typer.Option("--bucket", help="The configuration bucket, if not annex-cdk's own name."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="The default: JSON is all it prints.")
    ] = True,
) -> None:
    """The least-privilege IAM policy for annex-cdk and condor_annex, instead of AdministratorAccess."""
    import json

    from annex_cdk.condor.paths import LocalPaths
    from annex_cdk.ops.policy import document_for

    region = region or _condor_region(LocalPaths(Path.home())) or "us-east-1"
    console.result(
        json.dumps(document_for(region, account, key_name=key_name, bucket=bucket), indent=2)
    )


@app.command()
def emulator(
    port: Annotated[
        int, typer.Option("--port", "-p", help="Port on 127.0.0.1 (0: any free port).")
    ] = 5000,
) -> None:
    """Run the local AWS emulator in the foreground and print the environment to use it."""
    from annex_emulator.server import serve_foreground

    serve_foreground(port)


@app.command()
def rehearse(
    region: Annotated[str, typer.Option("--region", help="Region to rehearse in.")] = "us-east-1",
    json_out: Json = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the scratch HOME afterwards.")] = False,
) -> None:
    """setup → check-setup → no-op setup → destroy on a private emulator and a scratch HOME."""
    from annex_cdk.ops.rehearse import run_rehearsal

    report = run_rehearsal(region=region, keep=keep)
    if json_out:
        console.emit_json(report)
    if not report["ok"]:
        raise typer.Exit(1)


def _register_subcommands() -> None:
    from annex_cdk.commands.condor import register

    register(app)


_register_subcommands()


def _parse_tags(pairs: list[str]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag {pair!r} is not KEY=VALUE")
        tags[key] = value
    return tags


def main() -> None:
    """Entry point: expected failures become one line on stderr and an exit code."""
    from typer._click import exceptions as click  # typer 0.29 vendors its own click

    from annex_cdk.errors import EXIT_INTERRUPTED

    try:
        code = app(standalone_mode=False)
    except AnnexError as err:
        if _STATE["debug"]:
            raise
        console.err_console().print(f"[red]annex-cdk:[/] {console.escape(str(err))}")
        if err.hint:
            console.err_console().print(f"  [dim]hint:[/] {console.escape(err.hint)}")
        sys.exit(err.exit_code)
    except click.ClickException as err:  # usage errors: click's own message, exit 2
        err.show()
        sys.exit(err.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        console.err_console().print("[red]annex-cdk:[/] interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as err:  # the unexpected: still one line, unless --debug
        if _STATE["debug"]:
            raise
        console.err_console().print(
            f"[red]annex-cdk: unexpected error:[/] {console.escape(_one_line(err))}\n"
            "  [dim]hint:[/] re-run with --debug for the traceback"
        )
        sys.exit(1)
    if code == EXIT_INTERRUPTED:  # Typer turned a Ctrl-C outside the engine into Exit(130)
        console.err_console().print(
            "[red]annex-cdk:[/] interrupted; re-run the same command to continue"
        )
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(err: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(err, ClientError):
        e = err.response.get("Error", {})
        return f"AWS {err.operation_name}: {e.get('Code')}: {e.get('Message')}"
    text = str(err).strip().splitlines()
    return f"{err.__class__.__name__}: {text[0] if text else ''}"


if __name__ == "__main__":
    main()
