"""`annex-cdk rehearse --governed`: the first-time path in a landing zone's account.

The emulator plays the account (`EmulatorProcess(governed=True)`: no default VPC, IMDSv2
required, the organization's permissions boundary and SCPs), and the caller is what such
accounts have: an IAM user with administrator rights, whose key goes in condor_annex's key
files. The steps show what a governed user meets and the flags that get them through:

1. check-setup --deep names every finding of the account, each with its fix;
2. setup without flags stops before any change;
3. setup --create-default-vpc --permissions-boundary ARN deploys, with the warnings left;
4. condor_annex's own launches meet the organization's SCPs: its on-demand RunInstances sends
   no MetadataOptions, so the IMDSv2 SCP refuses it, and spot requests are denied (CT.EC2.PV.6).
   On AWS these refusals are the end of the road without an exception from the organization;
   the rehearsal shows them, explained, and checks that they are the SCPs' and nothing else;
5. destroy, which leaves the default VPC.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from annex_cdk import console
from annex_cdk.aws.cfn import CloudFormation
from annex_cdk.aws.condor_annex_calls import Annex, AnnexAccount, refusal
from annex_cdk.aws.iam import Iam
from annex_cdk.aws.session import AwsTarget, Credentials
from annex_cdk.condor.files import write_private
from annex_cdk.console import StackProgress
from annex_cdk.ops.account_posture import AccountNotReadyError
from annex_cdk.ops.annex_lease_rehearsal import REHEARSAL_IMAGE
from annex_cdk.ops.check import run_check_setup
from annex_cdk.ops.rehearse import (
    REHEARSAL_CIDR,
    Rehearsal,
    RehearsalReport,
    scratch_rehearsal,
)
from annex_cdk.ops.setup import run_setup
from annex_stacks import names
from annex_stacks.settings import SettingsFlags
from annex_stacks.stack_specs import CORE_STACKS

#: The governed account's administrator (HTCondor's guide has the user make one).
ADMIN_USER = "annex-admin"
#: How AWS words an SCP's denial (IAM's AccessDenied and EC2's UnauthorizedOperation alike).
_SCP_DENIAL = "service control policy"

T = TypeVar("T")


def _admin_keys(target: AwsTarget, creds: Credentials) -> None:
    """As the account's root user: the administrator, whose key condor_annex's files hold."""
    key_id, secret = Iam(target).create_admin_user(ADMIN_USER)
    assert creds.access_key_file is not None and creds.secret_key_file is not None
    write_private(creds.access_key_file, f"{key_id}\n".encode())
    write_private(creds.secret_key_file, f"{secret}\n".encode())


def _refused_by_scp(what: str, call: Callable[[], Any], say: Callable[[str], None]) -> bool:
    """True when `call` is refused by an SCP, as the governed account must refuse it."""
    refused = refusal(call)
    if refused is None:
        say(f"  FAILED: {what} was allowed; the organization's SCP should refuse it")
        return False
    if _SCP_DENIAL not in refused:
        say(f"  FAILED: {what} failed otherwise: {refused}")
        return False
    say(f"  refused, as AWS refuses it: {what}: {refused}")
    return True


def _condor_annex_launches(target: AwsTarget, say: Callable[[str], None]) -> bool:
    cfn = CloudFormation(target)
    out = {k: v for stack in CORE_STACKS for k, v in cfn.outputs(stack).items()}
    account = AnnexAccount(target)
    annex = Annex("rehearsal-governed", out[names.OUT_BUCKET], out[names.OUT_ODI_LEASE])
    launch: dict[str, Any] = {
        "image_id": REHEARSAL_IMAGE,
        "instance_profile_arn": out[names.OUT_INSTANCE_PROFILE],
        "security_group_ids": [out[names.OUT_SECURITY_GROUP]],
    }
    say(
        "  condor_annex's on-demand RunInstances sends no MetadataOptions: "
        "ec2:MetadataHttpTokens is absent, and the SCP requires 'required'"
    )
    on_demand = _refused_by_scp(
        "on-demand annex", lambda: account.run_instances(annex, key_name=None, **launch), say
    )
    say("  classic condor_annex's spot-fleet annexes: spot requests are denied (CT.EC2.PV.6)")
    spot = _refused_by_scp(
        "spot-fleet annex",
        lambda: account.request_spot_fleet(
            annex, fleet_role_arn=out[names.OUT_INSTANCE_PROFILE], **launch
        ),
        say,
    )
    say(
        "  the way out is the organization's: an exception from the IMDSv2 SCP for the IAM "
        "user condor_annex uses (annex-cdk cannot change what condor_annex sends)"
    )
    return on_demand and spot


def run_governed_rehearsal(*, region: str, keep: bool = False) -> RehearsalReport:
    return scratch_rehearsal(
        lambda r: _rehearse_governed(r, region),
        keep=keep,
        emulator={"region": region, "governed": True},
        kind=" (a landing zone's account)",
        stopped="governed",
    )


def _rehearse_governed(r: Rehearsal, region: str) -> None:
    from annex_emulator.landing_zone import boundary_arn

    target = AwsTarget(region, r.creds, endpoint_url=r.emu.endpoint_url)
    _admin_keys(target, r.creds)
    target = AwsTarget(region, r.creds, endpoint_url=r.emu.endpoint_url)  # the admin's
    boundary = boundary_arn(target.account_id())

    found = r.step("check-setup --deep", lambda: run_check_setup(target, r.paths, deep=True))
    for line in found.lines:
        console.info(line)

    def refused() -> bool:
        try:
            run_setup(
                target,
                r.paths,
                SettingsFlags(allow_from=(REHEARSAL_CIDR,)),
                yes=False,
                progress=StackProgress(),
            )
        except AccountNotReadyError as err:
            console.info(f"setup stopped, as it must: {err}")
            return True
        return False

    r.ok &= r.step("setup (stops before any change)", refused)
    flags = SettingsFlags(allow_from=(REHEARSAL_CIDR,), permissions_boundary=boundary)
    first = r.step(
        "setup --create-default-vpc --permissions-boundary",
        lambda: run_setup(
            target,
            r.paths,
            flags,
            yes=False,
            progress=StackProgress(),
            create_default_vpc=True,
        ),
    )
    r.ok &= first.ok
    r.ok &= r.step(
        "condor_annex's launches (replayed)",
        lambda: _condor_annex_launches(target, console.info),
    )
    r.destroy(target)
