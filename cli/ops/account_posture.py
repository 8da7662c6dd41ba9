"""The account's posture as condor_annex meets it, judged before any change (setup's pre-flight)
and by `check-setup --deep`: every finding at once, each with its fix.

What would make setup fail half-way blocks it: a missing default VPC (condor_annex's security
group has no VpcId) and the organization's SCPs or a permissions boundary denying what
setup does. What only some annexes meet warns: IMDSv2 required while the image's boot script
sends no token, and SCPs that refuse condor_annex's own launches (RunInstances without
MetadataOptions, spot requests): setup works, and the finding names what will not.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, replace

from annex_cdk import console
from annex_cdk.aws.ec2 import IMDS_V2, Ec2, RegionPosture
from annex_cdk.aws.parallel import at_once
from annex_cdk.aws.permissions import (
    Simulation,
    debug_note,
    permissions_error,
    simulate_permissions,
)
from annex_cdk.aws.session import AwsTarget
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.condor.syntax import ConfigError
from annex_cdk.errors import StackBlockedError
from annex_cdk.ops.check_report import CheckReport, fix_line
from annex_stacks import names
from annex_stacks.settings import AnnexSettings

CHECK_NAME = "posture"
#: The calls whose denial means roles need the organization's permissions boundary.
ROLE_ACTIONS = frozenset(
    {
        "iam:createrole",
        "iam:putrolepolicy",
        "iam:attachrolepolicy",
        "iam:putrolepermissionsboundary",
    }
)
LAUNCH_ACTION = "ec2:RunInstances"
SPOT_ACTIONS = ("ec2:RequestSpotFleet", "ec2:RequestSpotInstances")
CREATE_DEFAULT_VPC = "ec2:CreateDefaultVpc"
#: What HTCondorAnnex-CondorUser's deployment calls first (setup --condor-user).
CREATE_USER = "iam:CreateUser"


@dataclass(frozen=True)
class Finding:
    what: str
    problem: str
    fix: str
    #: True: setup must not start; False: a warning.
    blocking: bool
    #: False: not a finding but a gap in what could be read (check-setup says so; setup only
    #: with --debug).
    known: bool = True

    @property
    def line(self) -> str:
        return f"{self.what}: {self.problem}\n\tfix: {self.fix}"


def network_findings(posture: RegionPosture) -> list[Finding]:
    region = posture.region
    if posture.default_vpc is None:
        return [
            Finding(
                f"the default VPC in {region}",
                "there is none: condor_annex's on-demand annexes send no subnet, so EC2 "
                "refuses their launches (VPCIdNotSpecified), and condor_annex's security group "
                "(no VpcId) cannot be created",
                f"annex-cdk setup --create-default-vpc --region {region}",
                blocking=True,
            )
        ]
    if posture.default_subnets == 0:
        return [
            Finding(
                f"the default VPC {posture.default_vpc} in {region}",
                "it has no default subnets: condor_annex's launches fail (MissingInput)",
                f"aws ec2 create-default-subnet --region {region} --availability-zone ZONE "
                "(for each zone)",
                blocking=True,
            )
        ]
    return []


def imds_findings(
    posture: RegionPosture, image_id: str | None, imds_support: str | None
) -> list[Finding]:
    """Where instances are IMDSv2-only by the account's defaults, an image that does not
    declare IMDSv2 support carries HTCondor's own boot script, which never joins there."""
    region = posture.region
    if posture.imds_defaults is None:
        return [
            Finding(
                f"IMDSv2 in {region}",
                "not known: these credentials may not read the account's instance-metadata "
                "defaults (ec2:GetInstanceMetadataDefaults; annex-cdk policy leaves it out, at "
                "IAM's size limit)",
                f"aws ec2 get-instance-metadata-defaults --region {region}, as an administrator",
                blocking=False,
                known=False,
            )
        ]
    if not posture.imds_required or imds_support == IMDS_V2:
        return []
    image = image_id or "HTCondor's default image (ANNEX_DEFAULT_ODI_IMAGE_ID unset)"
    enforced = " and enforced" if posture.imds_enforced else ""
    return [
        Finding(
            f"IMDSv2 in {region}",
            f"instances here are IMDSv2-only (the account's default HttpTokens=required"
            f"{enforced}), but the annex image {image} does not declare IMDSv2 support "
            "(ImdsSupport): HTCondor's boot script reads no instance-id without a token, so "
            "its annexes never join",
            f"annex-cdk setup --build-image --region {region} (its boot script sends IMDSv2 "
            "tokens, and setup registers it with ImdsSupport v2.0)",
            blocking=False,
        )
    ]


def denial_findings(denials: Simulation, *, boundary: str | None, region: str) -> list[Finding]:
    """SCP and boundary denials, named as the organization's, never as a missing permission."""
    found: list[Finding] = []
    org = {a.lower(): a for a in denials.by_organization}
    roles = sorted(a for key, a in org.items() if key in ROLE_ACTIONS)
    if roles:
        fix = (
            "annex-cdk setup --permissions-boundary ARN, with the boundary your organization "
            "requires (its SCP names it)"
        )
        if boundary:
            fix = f"check that {boundary} is the boundary your organization's SCP requires"
        found.append(
            Finding(
                "roles under your organization's SCPs",
                f"an SCP denies {', '.join(roles)}"
                + (" with the permissions boundary given" if boundary else " without the "
                   "permissions boundary it requires")
                + ": every stack with a role would fail mid-deploy",
                fix,
                blocking=True,
            )
        )  # fmt: skip
    if LAUNCH_ACTION.lower() in org:
        found.append(
            Finding(
                "condor_annex's launches under your organization's SCPs",
                "an SCP denies ec2:RunInstances as condor_annex calls it: it sends no "
                "MetadataOptions, so ec2:MetadataHttpTokens is absent and an SCP that requires "
                "'required' refuses every annex (the image and the account's IMDS defaults do "
                "not count)",
                "ask your organization to exempt the IAM user condor_annex uses from that SCP; "
                "annex-cdk cannot change what condor_annex sends",
                blocking=False,
            )
        )
    spot = [org[a.lower()] for a in SPOT_ACTIONS if a.lower() in org]
    if spot:
        found.append(
            Finding(
                "spot-fleet annexes",
                f"an SCP denies {', '.join(spot)} (as Control Tower's CT.EC2.PV.6 does): "
                "classic condor_annex's spot-fleet annexes cannot start; on-demand annexes "
                "are not affected",
                "use on-demand annexes (htcondor annex create, or condor_annex without "
                "-aws-spot-fleet-config-file)",
                blocking=False,
            )
        )
    if CREATE_DEFAULT_VPC.lower() in org:
        found.append(
            Finding(
                f"creating the default VPC in {region}",
                "an SCP denies ec2:CreateDefaultVpc",
                "the only ways out: your organization creates the region's default VPC (or "
                "exempts you from that SCP), or you use another region that has one; "
                "condor_annex's on-demand annexes cannot launch without it",
                blocking=True,
            )
        )
    handled = (
        ROLE_ACTIONS
        | {LAUNCH_ACTION.lower(), CREATE_DEFAULT_VPC.lower(), CREATE_USER.lower()}
        | {a.lower() for a in SPOT_ACTIONS}
    )
    other = sorted(a for key, a in org.items() if key not in handled)
    if other:
        found.append(
            Finding(
                "your organization's SCPs",
                f"they deny {', '.join(other)}, which annex-cdk or condor_annex needs (an "
                "organization's rule, not a permission missing from your policies)",
                "ask your organization's administrators for an exception; no policy of yours "
                "can allow what an SCP denies",
                blocking=True,
            )
        )
    if denials.by_boundary:
        found.append(
            Finding(
                "your permissions boundary",
                f"it denies {', '.join(denials.by_boundary)}, which annex-cdk or condor_annex "
                "needs",
                "ask whoever set your boundary to allow them (annex-cdk policy prints the "
                f"actions; --region {region})",
                blocking=True,
            )
        )
    return found


def account_findings(
    target: AwsTarget,
    settings: AnnexSettings,
    *,
    image_id: str | None,
    create_default_vpc: bool = False,
    actions: Mapping[str, Set[str]] | None = None,
) -> tuple[list[Finding], Simulation]:
    """Every finding about the region's posture and the organization's rules, read without
    changing anything; and the simulation, whose `missing` the caller reports as its own.

    The region's posture, the image and IAM's simulation are read at once (setup runs this
    in every region before any change). Whether the default VPC will be made is known only
    from the posture, so its CreateDefaultVpc is simulated whenever asked, and forgotten
    where a default VPC exists."""
    ec2 = Ec2(target, quick=True)
    asked = (CREATE_DEFAULT_VPC,) if create_default_vpc else ()
    posture, image, simulation = at_once(
        ec2.posture,
        lambda: ec2.image(image_id) if image_id else None,
        lambda: simulate_permissions(target, settings, actions, extra=asked),
        name="posture",
    )
    creating = create_default_vpc and posture.default_vpc is None
    if create_default_vpc and not creating:
        simulation = _without(simulation, CREATE_DEFAULT_VPC)
    found = [] if creating else network_findings(posture)
    found += imds_findings(posture, image_id, image.imds_support if image else None)
    found += denial_findings(
        simulation, boundary=settings.permissions_boundary, region=target.region
    )
    if settings.condor_user:
        found += condor_user_findings(simulation, target.region)
    if creating and CREATE_DEFAULT_VPC in simulation.missing:
        found.append(
            Finding(
                f"creating the default VPC in {target.region}",
                f"{simulation.principal} may not call ec2:CreateDefaultVpc (annex-cdk policy "
                "does not grant this one-off)",
                f"an administrator runs `aws ec2 create-default-vpc --region {target.region}` "
                "once, or lends you the right for this run",
                blocking=True,
            )
        )
        simulation = replace(
            simulation, missing=tuple(a for a in simulation.missing if a != CREATE_DEFAULT_VPC)
        )
    return found, simulation


def _without(simulation: Simulation, action: str) -> Simulation:
    """The simulation as if `action` had not been asked about."""
    return replace(
        simulation,
        missing=tuple(a for a in simulation.missing if a != action),
        by_organization=tuple(a for a in simulation.by_organization if a != action),
        by_boundary=tuple(a for a in simulation.by_boundary if a != action),
    )


def condor_user_findings(simulation: Simulation, region: str) -> list[Finding]:
    """setup --condor-user where an SCP denies IAM users: the alternative, in one line."""
    if CREATE_USER.lower() not in {a.lower() for a in simulation.by_organization}:
        return []
    return [
        Finding(
            "condor_annex's own IAM user (--condor-user)",
            "an SCP denies iam:CreateUser: condor_annex cannot have an IAM user of its own",
            "run condor_annex on an EC2 submit host instead: annex-cdk setup "
            f"--submit-host-role --region {region}, then on that host annex-cdk setup "
            "--from-instance",
            blocking=True,
        )
    ]


class AccountNotReadyError(StackBlockedError):
    """The account's posture or the organization's rules would make setup fail half-way."""


def preflight_account(
    target: AwsTarget,
    settings: AnnexSettings,
    *,
    image_id: str | None,
    create_default_vpc: bool = False,
    actions: Mapping[str, Set[str]] | None = None,
) -> list[Finding]:
    """setup's pre-flight of the account, before any change: every finding printed at once,
    each with its fix; then the caller's missing permissions (PermissionsError, as before) or
    the blocking findings (AccountNotReadyError) stop it. Returns the warnings it printed."""
    findings, simulation = account_findings(
        target, settings, image_id=image_id, create_default_vpc=create_default_vpc, actions=actions
    )
    blocking = [f for f in findings if f.blocking]
    for finding in findings:
        if not finding.known:
            debug_note(finding.line)
        else:
            (console.info if finding.blocking else console.warn)(finding.line)
    if simulation.principal is None:
        debug_note(f"permission pre-flight skipped: {simulation.skipped}")
    elif simulation.missing:
        raise permissions_error(simulation, settings, actions)
    if blocking:
        raise AccountNotReadyError(
            f"setup stopped before any change: {len(blocking)} finding(s) in {target.region} "
            f"({'; '.join(f.what for f in blocking)})",
            hint="each finding above names its fix",
        )
    return [f for f in findings if not f.blocking and f.known]


def make_default_vpc(target: AwsTarget) -> str | None:
    """setup --create-default-vpc: the region's default VPC, made when missing (never deleted
    by annex-cdk; destroy leaves it). Returns the id of the one it made."""
    ec2 = Ec2(target)
    vpc, _ = ec2.default_vpc()
    if vpc is not None:
        return None
    made = ec2.create_default_vpc()
    console.info(f"Created the default VPC {made} in {target.region} (destroy leaves it).")
    return made


def declare_image_imds_v2(target: AwsTarget, image_id: str | None) -> bool:
    """After HTCondorAnnex-Image deployed: its AMI's boot script speaks IMDSv2, so register it
    with ImdsSupport v2.0 (Image Builder cannot: its ModifyImageAttributes step changes launch
    permissions only). True when it changed the image."""
    if not image_id:
        return False
    ec2 = Ec2(target)
    image = ec2.image(image_id)
    return image is not None and image.state == "available" and ec2.declare_imds_v2(image)


def configured_image(paths: LocalPaths | None, region: str) -> str | None:
    """The image condor_annex will start annexes from (ANNEX_DEFAULT_ODI_IMAGE_ID, as the
    HTCondor parser reads it); None without local files or where the config cannot be read
    (setup's own local pre-flight names that)."""
    if paths is None:
        return None
    try:
        return paths.effective([names.KEY_ODI_IMAGE_ID], region).get(names.KEY_ODI_IMAGE_ID)
    except ConfigError:
        return None


def check_account(
    report: CheckReport, target: AwsTarget, settings: AnnexSettings, *, image_id: str | None
) -> None:
    """check-setup --deep: the region's posture and the organization's rules, every finding in
    one run. Blocking findings fail the check, the others warn, each with its fix."""
    region = target.region
    findings, simulation = account_findings(target, settings, image_id=image_id)
    for finding in findings:
        if finding.blocking:
            report.add(fix_line(CHECK_NAME, False, finding.what, finding.problem, finding.fix))
        elif not finding.known:
            report.lines.append(f"Checking {finding.what}... {finding.problem} ({finding.fix}).")
        else:
            report.warn(f"{finding.what}: {finding.problem} (fix: {finding.fix})")
    found = {f.what for f in findings}
    for what in (f"the default VPC in {region}", f"IMDSv2 in {region}"):
        if what not in found:
            report.add(fix_line(CHECK_NAME, True, what))
    if simulation.principal is None:
        report.lines.append(
            f"Checking the organization's SCPs... not simulated ({simulation.skipped})."
        )
    elif simulation.missing:
        error = permissions_error(simulation, settings)
        problem = str(error)
        report.add(fix_line(CHECK_NAME, False, "your permissions", problem, error.hint))
