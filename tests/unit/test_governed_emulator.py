"""The emulator as a landing zone's account: no default VPC, IMDSv2 required.

EC2's answers come from AWS's documentation (cited beside each assertion); condor_annex's own
launch comes from `condor_annex_calls` (OnDemandRequest.cpp: no subnet, no MetadataOptions).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT_ID

from annex_cdk.aws import condor_annex_calls as replay
from annex_emulator import landing_zone
from annex_emulator.iam_evaluation import ALLOWED, EXPLICIT_DENY, Request, decide
from annex_emulator.server import EmulatorProcess, Posture

REGION = "us-east-1"
#: One of moto's default AMIs (no ImdsSupport).
IMAGE = "ami-12c6146b"
#: EC2 User Guide, "Troubleshoot Amazon EC2 instance launch issues": the exception's message.
ENFORCED = "You can't launch instances with IMDSv1 because httpTokensEnforced is enabled"


@pytest.fixture(scope="module")
def governed() -> Iterator[EmulatorProcess]:
    posture = Posture(no_default_vpc=True, imds_required=True, boundary_policy=True)
    with EmulatorProcess(region=REGION, posture=posture) as process:
        yield process


def _clients(emu: EmulatorProcess, region: str = REGION, **keys: str) -> Any:
    kwargs = {**emu.boto3_kwargs(), "region_name": region, **keys}
    return lambda service: boto3.client(service, **kwargs)


def _error(fn: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        fn()
    return dict(raised.value.response["Error"])


def _annex() -> replay.Annex:
    name = f"governed-{uuid.uuid4().hex[:6]}"
    return replay.Annex(name, "bucket", f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:lease")


def _launch(ec2: Any, iam: Any, *, profile: str | None = None, **extra: Any) -> list[str]:
    """condor_annex's on-demand RunInstances (no subnet, no MetadataOptions)."""
    if profile is None:
        profile = _profile(iam)
    return replay.run_instances(
        ec2, _annex(), image_id=IMAGE, instance_profile_arn=profile, key_name=None, **extra
    )


def _profile(iam: Any) -> str:
    name = f"annex-{uuid.uuid4().hex[:6]}"
    return str(iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"])


def test_a_pristine_emulator_has_a_default_vpc_and_no_imds_defaults() -> None:
    with EmulatorProcess(region=REGION) as emu:
        aws = _clients(emu)
        ec2 = aws("ec2")
        assert [v["IsDefault"] for v in ec2.describe_vpcs()["Vpcs"]] == [True]
        assert ec2.get_instance_metadata_defaults()["AccountLevel"] == {}
        [instance] = ec2.describe_instances(
            InstanceIds=_launch(ec2, aws("iam"), security_group_ids=[])
        )["Reservations"][0]["Instances"]
        assert instance["MetadataOptions"]["HttpTokens"] == "optional"  # EC2's own default


def test_without_a_default_vpc_groups_and_launches_fail_as_on_ec2(governed: EmulatorProcess):
    for region in (REGION, "eu-west-1"):  # every region, not only the warmed-up one
        assert _clients(governed, region)("ec2").describe_vpcs()["Vpcs"] == []
    aws = _clients(governed, "eu-west-1")
    ec2 = aws("ec2")
    # governed_accounts.md: "VPCIdNotSpecified: No default VPC for this user".
    error = _error(lambda: ec2.create_security_group(GroupName="annex", Description="d"))
    assert error == {"Code": "VPCIdNotSpecified", "Message": "No default VPC for this user"}
    assert (
        _error(lambda: _launch(ec2, aws("iam"), security_group_ids=[]))["Code"]
        == "VPCIdNotSpecified"
    )
    # condor_annex's security-group stack (generate-security-group: no VpcId) fails to create.
    template = {
        "Resources": {
            "Group": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {"GroupDescription": "condor_annex group"},
            }
        }
    }
    cfn = aws("cloudformation")
    cfn.create_stack(StackName="no-vpc", TemplateBody=json.dumps(template))
    [stack] = cfn.describe_stacks(StackName="no-vpc")["Stacks"]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="no-vpc")["StackEvents"]
    reasons = [
        e.get("ResourceStatusReason", "") for e in events if e["LogicalResourceId"] == "Group"
    ]
    assert any("No default VPC for this user" in r for r in reasons), reasons
    # A launch that names a subnet needs no default VPC.
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/24")["Subnet"]["SubnetId"]
    assert ec2.run_instances(
        ImageId=IMAGE, MinCount=1, MaxCount=1, SubnetId=subnet,
        MetadataOptions={"HttpTokens": "required"},
    )["Instances"]  # fmt: skip


def test_the_posture_outlives_a_reset_and_the_boundary_policy_exists(governed: EmulatorProcess):
    aws = _clients(governed)
    aws("ec2").create_default_vpc()
    governed.reset()  # the tests' reset: every account and region as the posture makes them
    assert aws("ec2").describe_vpcs()["Vpcs"] == []
    boundary = landing_zone.boundary_arn(ACCOUNT_ID)
    document = aws("iam").get_policy(PolicyArn=boundary)["Policy"]
    assert document["PolicyName"] == landing_zone.BOUNDARY_POLICY_NAME
    role = aws("iam").create_role(
        RoleName="bounded", AssumeRolePolicyDocument="{}", PermissionsBoundary=boundary
    )
    assert role["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary


def test_create_default_vpc_makes_one_and_refuses_a_second(governed: EmulatorProcess):
    aws = _clients(governed, "ap-southeast-2")
    ec2 = aws("ec2")
    vpc = ec2.create_default_vpc()["Vpc"]
    assert vpc["IsDefault"] and vpc["CidrBlock"] == "172.31.0.0/16"
    zones = {z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
    assert {s["AvailabilityZone"] for s in subnets["Subnets"]} == zones  # one per zone
    assert _error(ec2.create_default_vpc)["Code"] == "DefaultVpcAlreadyExists"
    group = ec2.create_security_group(GroupName="annex", Description="d")["GroupId"]
    assert (
        ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["VpcId"] == vpc["VpcId"]
    )
    # condor_annex's launch now finds a subnet; the account's default makes it IMDSv2-only.
    [instance_id] = _launch(ec2, aws("iam"), security_group_ids=[group])
    reservation = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    options = reservation["Instances"][0]["MetadataOptions"]
    assert options["HttpTokens"] == "required"


def test_imds_defaults_are_required_and_enforced(governed: EmulatorProcess):
    ec2 = _clients(governed, "us-west-2")("ec2")
    assert ec2.get_instance_metadata_defaults()["AccountLevel"] == {
        "HttpTokens": "required",
        "HttpTokensEnforced": "enabled",
    }
    ec2.create_default_vpc()
    # EC2 User Guide, "Launching an IMDSv1-enabled instance fails": UnsupportedOperation.
    error = _error(
        lambda: ec2.run_instances(
            ImageId=IMAGE, MinCount=1, MaxCount=1, MetadataOptions={"HttpTokens": "optional"}
        )
    )
    assert error["Code"] == "UnsupportedOperation" and ENFORCED in error["Message"]
    [instance] = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1)["Instances"]
    error = _error(
        lambda: ec2.modify_instance_metadata_options(
            InstanceId=instance["InstanceId"], HttpTokens="optional"
        )
    )
    assert error["Code"] == "UnsupportedOperation"
    # The account may lift the defaults ("no-preference" removes one); launches follow.
    ec2.modify_instance_metadata_defaults(HttpTokens="no-preference", HttpTokensEnforced="disabled")
    assert ec2.get_instance_metadata_defaults()["AccountLevel"] == {
        "HttpTokensEnforced": "disabled"
    }
    [instance] = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1)["Instances"]
    assert instance["MetadataOptions"]["HttpTokens"] == "optional"
    assert _error(lambda: ec2.modify_instance_metadata_defaults(HttpTokens="v2"))["Code"] == (
        "InvalidParameterValue"
    )


def test_an_images_imds_support_is_kept_reported_and_applied(governed: EmulatorProcess):
    ec2 = _clients(governed, "ca-central-1")("ec2")
    ec2.create_default_vpc()
    ec2.modify_instance_metadata_defaults(HttpTokens="no-preference", HttpTokensEnforced="disabled")
    v2 = ec2.register_image(Name="annex-v2", ImdsSupport="v2.0")["ImageId"]
    plain = ec2.register_image(Name="annex-plain")["ImageId"]
    assert ec2.describe_images(ImageIds=[v2])["Images"][0]["ImdsSupport"] == "v2.0"
    assert "ImdsSupport" not in ec2.describe_images(ImageIds=[plain])["Images"][0]
    assert ec2.describe_image_attribute(ImageId=plain, Attribute="imdsSupport")["ImdsSupport"] == {}
    # DescribeImages' ImdsSupport: "Instances launched from this AMI will have HttpTokens
    # automatically set to required ... In addition, HttpPutResponseHopLimit is set to 2."
    [instance] = ec2.run_instances(ImageId=v2, MinCount=1, MaxCount=1)["Instances"]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    ec2.modify_image_attribute(ImageId=plain, ImdsSupport={"Value": "v2.0"})
    attribute = ec2.describe_image_attribute(ImageId=plain, Attribute="imdsSupport")
    assert attribute["ImdsSupport"] == {"Value": "v2.0"}
    # The launch's own MetadataOptions come first.
    [instance] = ec2.run_instances(
        ImageId=v2, MinCount=1, MaxCount=1, MetadataOptions={"HttpTokens": "optional"}
    )["Instances"]
    assert instance["MetadataOptions"]["HttpTokens"] == "optional"


def test_metadata_http_tokens_holds_only_what_the_launch_sends(governed: EmulatorProcess):
    """The usual "IMDSv2 required" deny (EC2 User Guide, example policies, "Require the use of
    IMDSv2") refuses condor_annex's launch, which sends no MetadataOptions, even where the
    account's defaults make the instance IMDSv2-only; a launch that asks for required passes."""
    admin = _clients(governed, "sa-east-1")
    admin("ec2").create_default_vpc()
    iam = admin("iam")
    user = f"annex-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {
                "Sid": "RequireImdsV2",
                "Effect": "Deny",
                "Action": "ec2:RunInstances",
                "Resource": "arn:aws:ec2:*:*:instance/*",
                "Condition": {"StringNotEquals": {"ec2:MetadataHttpTokens": "required"}},
            },
        ],
    }
    iam.put_user_policy(UserName=user, PolicyName="imds", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    ec2 = _clients(
        governed,
        "sa-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )("ec2")
    profile = _profile(iam)
    governed.enforce_iam(True)
    try:
        error = _error(lambda: _launch(ec2, iam, profile=profile, security_group_ids=[]))
        assert error["Code"] in ("AccessDenied", "UnauthorizedOperation"), error
        assert ec2.run_instances(
            ImageId=IMAGE, MinCount=1, MaxCount=1, MetadataOptions={"HttpTokens": "required"}
        )["Instances"]
    finally:
        governed.enforce_iam(False)


def test_a_negated_operator_on_a_missing_key_holds() -> None:
    """IAM User Guide, condition operators: "If the policy condition requires that the key is
    not matched, such as StringNotLike or ArnNotLike, and the right key is not present, the
    condition is true"; a positive operator on a missing key is false."""
    deny = {
        "Effect": "Deny",
        "Action": "ec2:RunInstances",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"ec2:MetadataHttpTokens": "required"}},
    }
    allow = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    policy = [{"Version": "2012-10-17", "Statement": [allow, deny]}]
    instance = ("arn:aws:ec2:us-east-1:123456789012:instance/i-new",)
    assert decide(policy, Request("ec2:RunInstances", instance))[0] == EXPLICIT_DENY
    required = {"ec2:MetadataHttpTokens": ["required"]}
    assert decide(policy, Request("ec2:RunInstances", instance, required))[0] == ALLOWED
    deny["Condition"] = {"StringEquals": {"ec2:MetadataHttpTokens": "optional"}}
    assert decide(policy, Request("ec2:RunInstances", instance))[0] == ALLOWED


def test_the_emulator_command_plays_a_governed_account() -> None:
    """`annex-cdk emulator --no-default-vpc --imds-required` says what it enforces and does."""
    cli = shutil.which("annex-cdk", path=str(Path(sys.executable).parent))
    assert cli
    proc = subprocess.Popen(
        [cli, "emulator", "--port", "0", "--no-default-vpc", "--imds-required"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[0])
        assert url, lines
        assert "no default VPC in any region" in lines[1]
        assert "HttpTokens=required, HttpTokensEnforced=enabled" in lines[2]
        ec2 = boto3.client(
            "ec2",
            endpoint_url=url.group(0),
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert ec2.describe_vpcs()["Vpcs"] == []
        assert ec2.get_instance_metadata_defaults()["AccountLevel"]["HttpTokens"] == "required"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)


@pytest.fixture(scope="module")
def landing_zone_account() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(region=REGION, governed=True) as process:
        yield process


def test_governed_denies_what_a_landing_zone_denies_even_to_the_root_user(landing_zone_account):
    """The printed credentials are the account's root user: allowed everything but what an SCP
    denies (governed_accounts.md: SCPs cap every principal of a member account)."""
    aws = _clients(landing_zone_account)
    ec2, iam = aws("ec2"), aws("iam")
    assert ec2.describe_vpcs()["Vpcs"] == []
    boundary = landing_zone.boundary_arn(ACCOUNT_ID)
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    denied = _error(lambda: iam.create_role(RoleName="plain", AssumeRolePolicyDocument=trust))
    assert denied["Code"] == "AccessDenied" and "service control policy" in denied["Message"]
    iam.create_role(
        RoleName="bounded", AssumeRolePolicyDocument=trust, PermissionsBoundary=boundary
    )
    ec2.create_default_vpc()
    # condor_annex's launch sends no MetadataOptions: the IMDSv2 SCP refuses it.
    refused = _error(lambda: _launch(ec2, iam, security_group_ids=[]))
    assert refused["Code"] in ("AccessDenied", "UnauthorizedOperation"), refused
    assert ec2.run_instances(
        ImageId=IMAGE, MinCount=1, MaxCount=1, MetadataOptions={"HttpTokens": "required"}
    )["Instances"]
    spot = _error(
        lambda: ec2.request_spot_instances(
            InstanceCount=1, LaunchSpecification={"ImageId": IMAGE, "InstanceType": "m4.large"}
        )
    )
    assert spot["Code"] in ("AccessDenied", "UnauthorizedOperation"), spot
