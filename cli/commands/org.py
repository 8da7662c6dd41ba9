"""`annex-cdk org deploy|status|diff|destroy`: the setup in an organization's accounts through
service-managed StackSets, run from the management or a delegated administrator account.

Like every command module, this one imports its use cases when its command runs, not at
start-up (`--help` and completion load none of them)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from annex_cdk import console
from annex_cdk.commands.options import (
    GROUPS,
    AwsOptions,
    Json,
    OptionGroup,
    Yes,
    confirmer,
    settings_group,
    with_options,
)
from annex_cdk.errors import UsageError
from annex_stacks import names
from annex_stacks.settings import SETTINGS, SettingsFlags

if TYPE_CHECKING:
    from annex_cdk.aws.stacksets import Preferences
    from annex_cdk.ops.org import OrgDeployReport, OrgRequest, OrgStatusReport

org_app = typer.Typer(
    help="The setup in every account of an organization's OUs, through CloudFormation "
    "StackSets (from the management or a delegated administrator account).",
    no_args_is_help=True,
)

#: The settings an organization's StackSets take from setup's flags.
_ORG_SETTINGS = tuple(s for s in SETTINGS if s.field in ("allowed_cidrs", "ssh", "extra_tags"))

_ADMIN_REGION = inspect.Parameter(
    "admin_region",
    inspect.Parameter.KEYWORD_ONLY,
    annotation=Annotated[
        str | None,
        typer.Option(
            "--admin-region",
            envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
            show_envvar=True,
            help="The administrator account's Region, where the StackSets live (default "
            "us-east-1).",
        ),
    ],
    default=None,
)


def _admin_build(values: dict[str, Any]) -> AwsOptions:
    return AwsOptions(region=[values.pop("admin_region") or "us-east-1"], **values)


_AWS = GROUPS[AwsOptions]
#: The AWS options with --admin-region instead of --region (--region names target Regions).
_ORG_GROUPS = {
    AwsOptions: OptionGroup(
        (*(p for p in _AWS.parameters if p.name != "region"), _ADMIN_REGION), _admin_build
    ),
    SettingsFlags: settings_group(_ORG_SETTINGS),
}

Ous = Annotated[
    list[str],
    typer.Option(
        "--ou", help="Target OU (ou-...) or root (r-...) id (repeatable).", show_default=False
    ),
]
Regions = Annotated[
    list[str],
    typer.Option("--region", help="Target Region (repeatable).", show_default=False),
]
DelegatedAdmin = Annotated[
    bool,
    typer.Option("--delegated-admin", help="Call as the organization's delegated administrator."),
]
Overrides = Annotated[
    Path | None,
    typer.Option(
        "--overrides",
        help="TOML file of per-account settings (an account's allow-from); see "
        "docs/organizations.md.",
    ),
]
ParallelRegions = Annotated[
    bool,
    typer.Option(
        "--parallel-regions/--sequential-regions",
        help="Deploy to the Regions at once, or one after another.",
    ),
]
FailureTolerance = Annotated[
    str | None,
    typer.Option(
        "--failure-tolerance",
        metavar="N|P%",
        help="Failed accounts per Region before the Region stops (CloudFormation's default: 0).",
    ),
]
MaxConcurrent = Annotated[
    str | None,
    typer.Option(
        "--max-concurrent",
        metavar="N|P%",
        help="Accounts deployed at once per Region (CloudFormation's default: 1).",
    ),
]


def _preferences(
    parallel: bool, tolerance: str | None, concurrent: str | None, regions: list[str]
) -> Preferences:
    from annex_cdk.aws.stacksets import Preferences

    for flag, value in (("--failure-tolerance", tolerance), ("--max-concurrent", concurrent)):
        if value is not None and (
            not re.fullmatch(r"\d+%?", value) or (value.endswith("%") and int(value[:-1]) > 100)
        ):
            raise UsageError(f"{flag} {value!r} is not a count (N) or a percentage (P%, <= 100)")
    if concurrent is not None and int(concurrent.rstrip("%")) == 0:
        raise UsageError("--max-concurrent must be at least 1 (or 1%)")
    return Preferences(parallel, tolerance, concurrent, tuple(regions))


def _request(
    flags: SettingsFlags,
    ous: list[str],
    regions: list[str],
    overrides: Path | None,
    preferences: Preferences,
    *,
    retain: bool,
    delegated_admin: bool,
    member_role: str,
) -> OrgRequest:
    from annex_cdk.ops.org import OrgRequest
    from annex_cdk.ops.org_overrides import read_overrides
    from annex_cdk.ops.synth import offline_settings

    if not ous:
        raise UsageError("no --ou given", hint="pass --ou ou-xxxx-xxxxxxxx (repeatable)")
    if not regions:
        raise UsageError("no --region given", hint="pass --region us-east-1 (repeatable)")
    for region in regions:
        offline_settings(flags, region=region)  # a bad Region is a one-line usage error
    settings = offline_settings(flags, region=regions[0])
    if not settings.allowed_cidrs and not overrides:
        console.warn("no --allow-from and no --overrides: the annex security groups allow no one")
    return OrgRequest(
        ous=tuple(dict.fromkeys(ous)),
        regions=tuple(dict.fromkeys(regions)),
        settings=settings,
        overrides=read_overrides(overrides) if overrides else {},
        preferences=preferences,
        retain_on_removal=retain,
        delegated_admin=delegated_admin,
        member_role=member_role,
    )


def _progress(name: str, status: str, done: int, total: int) -> None:
    console.info(f"{name}: {status} ({done}/{total} instances)")


def _with(func: Any) -> Any:
    return with_options(func, _ORG_GROUPS)


@org_app.command("deploy")
@_with
def deploy(
    aws: AwsOptions,
    flags: SettingsFlags,
    ou: Ous = [],  # noqa: B006 - Typer's repeatable option
    region: Regions = [],  # noqa: B006
    overrides: Overrides = None,
    retain_stacks: Annotated[
        bool,
        typer.Option(
            "--retain-stacks/--remove-stacks",
            help="When an account leaves the OUs: keep its stacks, or delete them.",
        ),
    ] = False,
    parallel_regions: ParallelRegions = True,
    failure_tolerance: FailureTolerance = None,
    max_concurrent: MaxConcurrent = None,
    delegated_admin: DelegatedAdmin = False,
    member_role: Annotated[
        str,
        typer.Option(
            "--member-role",
            help="Role in each member account through which an existing setup is looked for.",
        ),
    ] = names.ORG_ACCESS_ROLE,
    json_out: Json = False,
) -> None:
    """Create or update a StackSet per stack, deploy it to the OUs' accounts in the Regions
    (and to accounts that join them later), and wait for its operations."""
    from annex_cdk.ops.org import run_org_deploy

    preferences = _preferences(parallel_regions, failure_tolerance, max_concurrent, region)
    request = _request(
        flags,
        ou,
        region,
        overrides,
        preferences,
        retain=retain_stacks,
        delegated_admin=delegated_admin,
        member_role=member_role,
    )
    report = run_org_deploy(aws.target(local=False), request, progress=_progress)
    if json_out:
        console.emit_json(report.as_dict())
    else:
        _render_deploy(report)
    if not report.ok:
        raise typer.Exit(1)


def _render_deploy(report: OrgDeployReport) -> None:
    if report.activated_access:
        console.result("Activated StackSets' trusted access with AWS Organizations.")
    for outcome in report.stack_sets:
        console.result(f"{outcome.name}: {outcome.action}")
        for what, op in outcome.operations:
            console.result(f"  {what}: {op.status}{f' ({op.reason})' if op.reason else ''}")
            for r in op.results:
                if r.status == "FAILED":
                    console.result(f"    {r.account} {r.region}: {r.reason}")
    for c in report.collisions:
        console.result(
            f"Left out {c.account}: {c.region} already has {', '.join(c.taken)} "
            "(a setup not made by these StackSets; remove it there, or leave the account out)"
        )
    for c in report.unchecked:
        console.warn(
            f"could not look into {c.account} {c.region} for an existing setup: {c.unreadable}"
        )
    console.result(
        f"{len(report.accounts)} account(s) x {len(report.regions)} Region(s): "
        + ("done." if report.ok else "not complete (see above).")
    )


@org_app.command("status")
@_with
def status(
    aws: AwsOptions,
    drift: Annotated[
        bool,
        typer.Option("--drift/--no-drift", help="Detect each StackSet's drift first."),
    ] = True,
    delegated_admin: DelegatedAdmin = False,
    json_out: Json = False,
) -> None:
    """Account x Region x stack: each stack instance's status and drift."""
    from annex_cdk.ops.org import run_org_status

    report = run_org_status(
        aws.target(local=False), delegated_admin=delegated_admin, drift=drift, progress=_progress
    )
    if json_out:
        console.emit_json(report.as_dict())
    else:
        _render_status(report)
    if not report.ok:
        raise typer.Exit(1)


def _short(name: str) -> str:
    return name.removeprefix(names.STACK_PREFIX)


def _render_status(report: OrgStatusReport) -> None:
    for s in report.stack_sets:
        state = s.error or s.status or "missing"
        drift = f", drift {s.drift_status}" if s.drift_status else ""
        console.result(f"{s.name}: {state}{drift}")
        if s.drift_error:
            console.warn(f"{s.name}: {s.drift_error}")
    stacks = [s.name for s in report.stack_sets]
    header = ["ACCOUNT", "REGION", *(_short(n) for n in stacks)]
    rows = [header]
    for (account, region), row in sorted(report.matrix.items()):
        cells = []
        for name in stacks:
            instance = row.get(name)
            if instance is None:
                cells.append("-")
            else:
                cell = instance.status
                if instance.drift and instance.drift != "NOT_CHECKED":
                    cell += f"/{instance.drift}"
                cells.append(cell)
        rows.append([account, region, *cells])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        console.result("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    for (account, region), row in sorted(report.matrix.items()):
        for name, instance in row.items():
            if instance.reason and instance.status != "CURRENT":
                console.result(f"{account} {region} {_short(name)}: {instance.reason}")


@org_app.command("diff")
@_with
def diff(
    aws: AwsOptions,
    flags: SettingsFlags,
    ou: Ous = [],  # noqa: B006
    region: Regions = [],  # noqa: B006
    overrides: Overrides = None,
    retain_stacks: Annotated[
        bool, typer.Option("--retain-stacks/--remove-stacks", help="As org deploy's.")
    ] = False,
    delegated_admin: DelegatedAdmin = False,
    json_out: Json = False,
) -> None:
    """What `org deploy` with the same flags would change (changes nothing)."""
    from annex_cdk.ops.org import run_org_diff

    request = _request(
        flags,
        ou,
        region,
        overrides,
        _preferences(True, None, None, region),
        retain=retain_stacks,
        delegated_admin=delegated_admin,
        member_role=names.ORG_ACCESS_ROLE,
    )
    report = run_org_diff(aws.target(local=False), request)
    if json_out:
        console.emit_json(report.as_dict())
        return
    for s in report.stack_sets:
        if not s.changed:
            console.result(f"{s.name}: no changes")
            continue
        what = s.action if s.action != "none" else "instances only"
        changes = f" ({', '.join(s.changes)})" if s.changes else ""
        console.result(f"{s.name}: {what}{changes}")
        for account, reg in s.new_instances:
            console.result(f"  + {account} {reg}")
        for line in s.overrides:
            console.result(f"  ~ {line}")


@org_app.command("destroy")
@_with
def destroy(
    aws: AwsOptions,
    yes: Yes = False,
    parallel_regions: ParallelRegions = True,
    failure_tolerance: FailureTolerance = None,
    max_concurrent: MaxConcurrent = None,
    delegated_admin: DelegatedAdmin = False,
    json_out: Json = False,
) -> None:
    """Remove every StackSet's instances (their stacks in the member accounts), then the
    StackSets."""
    from annex_cdk.ops.org import planned_destroy, run_org_destroy

    target = aws.target(local=False)
    planned = planned_destroy(target, delegated_admin=delegated_admin)
    if planned and not confirmer(yes, "org destroy")(
        "Delete "
        + ", ".join(f"{n} ({c} stack instance(s))" for n, c in planned.items())
        + " and every stack they made in the member accounts?"
    ):
        raise typer.Exit(1)
    preferences = _preferences(parallel_regions, failure_tolerance, max_concurrent, [])
    report = run_org_destroy(
        target, delegated_admin=delegated_admin, preferences=preferences, progress=_progress
    )
    if json_out:
        console.emit_json(report.as_dict())
    else:
        for name, outcome in report.outcomes.items():
            console.result(f"{name}: {outcome}")
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(org_app, name="org")
