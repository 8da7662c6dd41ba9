"""Options that several commands share, each defined once, and the decorator that expands them.

A command takes an option group as one parameter, annotated with the group's type (`aws:
AwsOptions`, `flags: SettingsFlags`); `@with_options` shows Typer the group's options instead
and hands the command the group built from them. The settings flags come from the declarations
in annex_stacks/settings.py (SETTINGS), so setup, diff and synth cannot drift apart.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_type_hints

import typer

from annex_cdk.commands.failure import error_policy
from annex_cdk.env import env_flag
from annex_cdk.errors import UsageError
from annex_stacks import names
from annex_stacks.settings import (
    AnnexSettings,
    Setting,
    SettingsError,
    SettingsFlags,
    flag_settings,
)

if TYPE_CHECKING:
    from annex_cdk.aws.session import AwsTarget
    from annex_cdk.condor.paths import LocalPaths

F = TypeVar("F", bound=Callable[..., Any])
NO_LOCAL_ENV = "ANNEX_CDK_NO_LOCAL"

Region = Annotated[
    list[str] | None,
    typer.Option(
        "--region",
        metavar="REGION",
        envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
        help="AWS region; setup, diff, check-setup, write-config and destroy take it more "
        "than once and run the regions at once.",
        show_envvar=True,
    ),
]


def _json_mode(ctx: typer.Context, value: bool) -> bool:
    # Known before the command runs, so that an error too becomes a JSON document on stdout.
    policy = error_policy(ctx)
    policy.json = policy.json or bool(value)
    return value


Json = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout.", callback=_json_mode),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; consent to replacements.")]
TakeOver = Annotated[
    list[str] | None,
    typer.Option(
        "--take-over",
        metavar="STACK",
        help="Let annex-cdk change or delete this HTCondorAnnex-* stack although neither it nor "
        "condor_annex -setup made it (repeatable).",
    ),
]
NoLocal = Annotated[
    bool | None,
    typer.Option(
        "--no-local/--local",
        help="AWS side only, for pipelines: read and write no local HTCondor file, no PEM, "
        "no key files (default: on when CI=true, or ANNEX_CDK_NO_LOCAL=1).",
        show_default=False,
    ),
]


def aws_side_only(no_local: bool | None) -> bool:
    """--no-local/--local when given; else ANNEX_CDK_NO_LOCAL, else CI=true (what hosted
    runners set): a runner has no HTCondor, and the submit host takes over with write-config."""
    if no_local is not None:
        return no_local
    if (flag := env_flag(NO_LOCAL_ENV)) is not None:
        return flag
    return os.environ.get("CI", "").strip().lower() == "true"


@dataclass(frozen=True, kw_only=True)
class AwsOptions:
    """Where the AWS calls go and with which credentials (condor_annex's key files by default)."""

    region: Region = None
    profile: Annotated[
        str | None,
        typer.Option("--profile", envvar="AWS_PROFILE", help="AWS profile (SSO included)."),
    ] = None
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            envvar="AWS_ENDPOINT_URL",
            help="AWS endpoint (e.g. the local emulator).",
        ),
    ] = None
    access_key_file: Annotated[
        Path | None,
        typer.Option(
            "--access-key-file",
            help="File holding the access key id (default ~/.condor/publicKeyFile).",
        ),
    ] = None
    secret_key_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-key-file",
            help="File holding the secret key (default ~/.condor/privateKeyFile).",
        ),
    ] = None
    from_instance: Annotated[
        bool,
        typer.Option("--from-instance", help="Use this EC2 instance's profile (FROM INSTANCE)."),
    ] = False

    def paths(self) -> LocalPaths:
        """The local HTCondor side, one for the run: where its user config is, which takes a
        run of HTCondor's parser to find, is found once (LocalPaths keeps it)."""
        return self._paths

    @functools.cached_property
    def _paths(self) -> LocalPaths:
        from annex_cdk.condor.paths import LocalPaths

        return LocalPaths(Path.home())

    def local_paths(self, aws_side_only: bool) -> LocalPaths | None:
        """The local HTCondor side, or None in the AWS-side-only mode (--no-local)."""
        return None if aws_side_only else self.paths()

    @property
    def regions(self) -> tuple[str, ...]:
        """The --region values, checked, in the order given, each once (none: empty)."""
        return checked_regions(self.region or ())

    def one_region(self, *, local: bool = True) -> str:
        """The one region of a command that takes one: the flag, else the config's default."""
        regions = self.regions
        if len(regions) > 1:
            raise UsageError(
                f"this command takes one --region, not {len(regions)}",
                hint="setup, diff, check-setup, write-config and destroy take several",
            )
        if regions:
            return regions[0]
        return checked_regions([condor_region(self.paths()) if local else "us-east-1"])[0]

    def target(self, *, local: bool = True, region: str | None = None) -> AwsTarget:
        """Without `local`, neither the HTCondor config (region) nor ~/.condor's key files are
        read: the region comes from the flag or the environment, credentials from boto3's chain."""
        from annex_cdk.aws.session import AwsTarget, resolve_credentials

        region = region or self.one_region(local=local)
        access, secret, from_instance = (
            self.access_key_file,
            self.secret_key_file,
            self.from_instance,
        )
        if local and not (access or secret or from_instance):
            access, secret, from_instance = configured_key_files(self.paths(), region)
        creds = resolve_credentials(
            condor_dir=self.paths().condor_dir if local else None,
            access_key_file=access,
            secret_key_file=secret,
            from_instance=from_instance,
        )
        return AwsTarget(
            region, creds, profile=self.profile, endpoint_url=checked_endpoint(self.endpoint_url)
        )

    def targets(self, *, local: bool = True) -> list[AwsTarget]:
        """One target per --region (one region when none is given), the same credentials."""
        regions = self.regions or (self.one_region(local=local),)
        if local and not (self.access_key_file or self.secret_key_file or self.from_instance):
            # One run of HTCondor's parser for what the run reads of each region's config.
            # An unreadable config is pre-flight's to report, with its file and line.
            with contextlib.suppress(Exception):
                self.paths().effective_by_region({r: list(_READ_BY_REGION) for r in regions})
        return [self.target(local=local, region=region) for region in regions]


def checked_regions(values: Sequence[str]) -> tuple[str, ...]:
    """--region values in the order given, each once, each a commercial AWS region name."""
    found: list[str] = []
    for region in values:
        if not region.strip():
            raise UsageError("--region is empty", hint="pass --region, e.g. us-east-1")
        try:
            AnnexSettings(region=region)
        except SettingsError as err:
            raise UsageError(
                f"invalid setting {err}", hint="pass --region, e.g. us-east-1"
            ) from None
        if region not in found:
            found.append(region)
    return tuple(found)


def checked_endpoint(url: str | None) -> str | None:
    """An http(s) URL with a host and a valid port, or a one-line usage error."""
    if not url:
        return None
    from urllib.parse import urlsplit

    bad = UsageError(
        f"--endpoint-url {url!r} is not an http(s) URL",
        hint="e.g. --endpoint-url http://127.0.0.1:5000 (or unset AWS_ENDPOINT_URL)",
    )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise bad from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise bad
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        # botocore puts every request's path after it: no AWS endpoint has one, and what
        # answers there is an HTML page, not AWS.
        raise UsageError(
            f"--endpoint-url {url!r} has a path, query or fragment; an AWS endpoint is "
            "scheme://host[:port] only",
            hint=f"e.g. --endpoint-url {parts.scheme}://{parts.netloc}",
        )
    return url


#: What a run reads of each region's HTCondor config: its key files (the targets), its image
#: (setup's pre-flight) and its collector (the settings, without --allow-from).
_READ_BY_REGION = (
    names.KEY_ACCESS_KEY_FILE,
    names.KEY_SECRET_KEY_FILE,
    names.KEY_ODI_IMAGE_ID,
    names.KEY_COLLECTOR_HOST,
)


def configured_key_files(paths: LocalPaths, region: str) -> tuple[Path | None, Path | None, bool]:
    """The key files condor_annex would use for `region` (its ANNEX_DEFAULT_*_KEY_FILE, as
    HTCondor reads them): what setup recorded, key files it was given included. FROM INSTANCE
    means the instance profile; nothing set (or condor_annex's own user's key) means ~/.condor's
    files, then boto3's chain."""
    keys = [names.KEY_ACCESS_KEY_FILE, names.KEY_SECRET_KEY_FILE]
    try:
        values = paths.effective(keys, region)
    except Exception:  # an unreadable config is pre-flight's to report, with its file and line
        return None, None, False
    access, secret = (values.get(k) for k in keys)
    if not access or not secret:
        return None, None, False
    if names.FROM_INSTANCE in (access, secret):
        return None, None, True
    if Path(access) == paths.condor_dir / names.CONDOR_USER_PUBLIC_KEY_FILE:
        # condor_annex's own key (setup --condor-user) holds only its run-time calls: annex-cdk
        # goes on with the key it deploys with (~/.condor's files, then boto3's chain).
        return None, None, False
    return Path(access), Path(secret), False


def condor_region(paths: LocalPaths) -> str:
    """condor_annex's default region: ANNEX_DEFAULT_AWS_REGION, else us-east-1."""
    try:
        value = paths.effective([names.KEY_REGION], "us-east-1")[names.KEY_REGION]
    except Exception:
        value = None
    return value or "us-east-1"


def confirmer(yes: bool, command: str) -> Callable[[str], bool]:
    """Ask on the terminal (yes with --yes); off a terminal without --yes, a usage error."""

    def ask(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            # The question itself: off a terminal it is the only place the user sees what
            # --yes would agree to (unlock's holder, destroy's stacks).
            raise UsageError(
                f"{command} needs confirmation: {question}",
                hint="pass --yes when not on a terminal",
            )
        return typer.confirm(question, default=False, err=True)

    return ask


# --- Option groups ---------------------------------------------------------------------------
@dataclass(frozen=True)
class OptionGroup:
    """Typer parameters, and how to build the one object a command receives from their values."""

    parameters: tuple[inspect.Parameter, ...]
    build: Callable[[dict[str, Any]], Any]


def dataclass_group(cls: type) -> OptionGroup:
    """A group from a dataclass whose fields are `Annotated[T, typer.Option(...)] = default`."""
    hints = get_type_hints(cls, include_extras=True)
    params = tuple(
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, annotation=hints[f.name], default=f.default
        )
        for f in fields(cls)
    )
    return OptionGroup(params, lambda values: cls(**values))


COLLECTOR_HOST = inspect.Parameter(
    "collector_host",
    inspect.Parameter.KEYWORD_ONLY,
    annotation=Annotated[
        str | None,
        typer.Option(
            "--collector-host",
            help="Collector host[:port]: its address and port are the defaults of --allow-from "
            "and --collector-port (setup and diff: default COLLECTOR_HOST).",
        ),
    ],
    default=None,
)


def settings_group(declared: Sequence[Setting] | None = None) -> OptionGroup:
    """One option per setting with a flag (annex_stacks/settings.py), and --collector-host."""
    with_flags = flag_settings(declared)
    pair_flags = {s.flag_name: s.flag for s in with_flags if s.kind is dict and s.flag}

    def build(values: dict[str, Any]) -> SettingsFlags:
        for name, flag in pair_flags.items():
            if values[name] is not None:
                values[name] = parse_pairs(values[name], flag=flag)
        return SettingsFlags(declared=declared, **values)

    return OptionGroup((*map(_flag_parameter, with_flags), COLLECTOR_HOST), build)


def _flag_parameter(setting: Setting) -> inspect.Parameter:
    option = typer.Option(setting.flag, help=setting.help)
    annotation: Any
    if setting.switch_to is not None:
        annotation, default = bool, False
    elif setting.kind in (list, dict):  # repeatable; dict values are KEY=VALUE
        annotation, default = list[str] | None, None
    else:
        annotation, default = setting.kind | None, None
    return inspect.Parameter(
        setting.flag_name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[annotation, option],
        default=default,
    )


def parse_pairs(pairs: list[str], *, flag: str) -> dict[str, str]:
    """KEY=VALUE pairs (--tag) as a mapping."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {pair!r} is not KEY=VALUE")
        parsed[key] = value
    return parsed


GROUPS: dict[Any, OptionGroup] = {
    AwsOptions: dataclass_group(AwsOptions),
    SettingsFlags: settings_group(),
}


def with_options(func: F, groups: dict[Any, OptionGroup] | None = None) -> F:
    """Expand each parameter annotated with a group's type into the group's options."""
    groups = GROUPS if groups is None else groups
    signature = inspect.signature(func, eval_str=True)
    expanded: list[inspect.Parameter] = []
    takes: dict[str, tuple[OptionGroup, tuple[str, ...]]] = {}
    for param in signature.parameters.values():
        group = groups.get(param.annotation)
        if group is None:
            expanded.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
            continue
        expanded.extend(group.parameters)
        takes[param.name] = (group, tuple(p.name for p in group.parameters))
    if clash := [n for n, c in Counter(p.name for p in expanded).items() if c > 1]:
        raise TypeError(f"{func.__name__}: option(s) {clash} declared twice")

    @functools.wraps(func)
    def command(**values: Any) -> Any:
        for name, (group, members) in takes.items():
            values[name] = group.build({m: values.pop(m) for m in members})
        return func(**values)

    command.__signature__ = signature.replace(parameters=expanded)  # type: ignore[attr-defined]  # Typer reads the signature it finds on the function
    command.__annotations__ = {p.name: p.annotation for p in expanded}
    return command  # type: ignore[return-value]  # the same function, with the signature Typer will read
