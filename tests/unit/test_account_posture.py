"""The account pre-flight's posture findings, read from the emulator playing a landing zone's
account (no default VPC, IMDSv2 required) and a pristine one: every finding at once, each with
its fix, and nothing changed by reading."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from annex_cdk.aws.ec2 import Ec2
from annex_cdk.aws.session import AwsTarget
from annex_cdk.ops.account_posture import account_findings
from annex_cdk.ops.rehearse import scratch_home
from annex_emulator.server import EmulatorProcess, Posture
from annex_stacks.settings import AnnexSettings

REGION = "us-east-1"
SETTINGS = AnnexSettings(region=REGION, account="123456789012")


@pytest.fixture(scope="module")
def governed() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(
        region=REGION, posture=Posture(no_default_vpc=True, imds_required=True)
    ) as emu:
        yield emu


def _target(emu: EmulatorProcess, tmp_path: Path, region: str = REGION) -> AwsTarget:
    _, _, creds = scratch_home(tmp_path)
    return AwsTarget(region, creds, endpoint_url=emu.endpoint_url)


def _ec2(emu: EmulatorProcess, region: str) -> object:
    return boto3.client("ec2", **{**emu.boto3_kwargs(), "region_name": region})


def test_a_landing_zone_account_gets_every_finding_with_its_fix(governed, tmp_path):
    target = _target(governed, tmp_path)
    findings, _ = account_findings(target, SETTINGS, image_id=None)
    by_what = {f.what: f for f in findings}
    vpc = by_what[f"the default VPC in {REGION}"]
    assert vpc.blocking and "VPCIdNotSpecified" in vpc.problem
    assert vpc.fix == f"annex-cdk setup --create-default-vpc --region {REGION}"
    imds = by_what[f"IMDSv2 in {REGION}"]
    assert not imds.blocking  # a warning: setup works, the annexes would not join
    assert "HttpTokens=required and enforced" in imds.problem
    assert "HTCondor's default image" in imds.problem
    assert f"annex-cdk setup --build-image --region {REGION}" in imds.fix
    assert _ec2(governed, REGION).describe_vpcs()["Vpcs"] == []  # reading changed nothing


def test_asking_for_the_default_vpc_clears_its_finding_before_any_change(governed, tmp_path):
    target = _target(governed, tmp_path, "eu-west-2")
    findings, _ = account_findings(
        AwsTarget("eu-west-2", target.credentials, endpoint_url=target.endpoint_url),
        AnnexSettings(region="eu-west-2", account="123456789012"),
        image_id=None,
        create_default_vpc=True,
    )
    assert not any("default VPC" in f.what for f in findings)
    assert _ec2(governed, "eu-west-2").describe_vpcs()["Vpcs"] == []


def test_an_image_registered_for_imdsv2_boots_there(governed, tmp_path):
    region = "ap-northeast-1"
    ec2 = _ec2(governed, region)
    ec2.create_default_vpc()
    image = ec2.register_image(Name="annex-imds", ImdsSupport="v2.0")["ImageId"]
    plain = ec2.register_image(Name="annex-plain")["ImageId"]
    target = AwsTarget(
        region, _target(governed, tmp_path).credentials, endpoint_url=governed.endpoint_url
    )
    settings = AnnexSettings(region=region, account="123456789012")
    assert account_findings(target, settings, image_id=image)[0] == []
    [finding] = account_findings(target, settings, image_id=plain)[0]
    assert f"the annex image {plain} does not declare IMDSv2 support" in finding.problem
    # setup's own change for the image it built: ImdsSupport v2.0, once (EC2 cannot undo it).
    built = Ec2(target).image(plain)
    assert built is not None and Ec2(target).declare_imds_v2(built) is True
    again = Ec2(target).image(plain)
    assert again is not None and again.imds_support == "v2.0"
    assert Ec2(target).declare_imds_v2(again) is False
    assert account_findings(target, settings, image_id=plain)[0] == []


def test_a_pristine_account_has_no_posture_findings(tmp_path):
    with EmulatorProcess(region=REGION) as emu:
        findings, simulation = account_findings(_target(emu, tmp_path), SETTINGS, image_id=None)
    assert findings == []
    assert simulation.principal is None  # the emulator's keys are its root user's
