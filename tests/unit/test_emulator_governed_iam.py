"""The emulator as a governed account: IAM enforced for every principal (the printed key is the
root user's), the organization's SCPs on every call, CloudFormation's included, permissions
boundaries, and SimulatePrincipalPolicy's decision details. Driven with boto3, as a user would.

Sources: the IAM User Guide's policy evaluation pages (see tests/unit/test_iam_evaluation.py) and
Organizations' "SCP evaluation" page; the error messages are AWS's AccessDenied wording.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT

from annex_emulator.server import EmulatorProcess

REGION = "us-east-1"
BOUNDARY_NAME = "org-boundary"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/{BOUNDARY_NAME}"
DENY_SPOT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenySpot",
            "Effect": "Deny",
            "Action": ["ec2:RequestSpotFleet", "ec2:RequestSpotInstances"],
            "Resource": "*",
        }
    ],
}
REQUIRE_BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "RequireBoundary",
            "Effect": "Deny",
            "Action": ["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"],
            "Resource": "*",
            "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": BOUNDARY}},
        }
    ],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def allow(action: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
    }


ALLOW_ALL = allow("*")


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(region=REGION, scps=[DENY_SPOT, REQUIRE_BOUNDARY]) as process:
        yield process


def client(emu: EmulatorProcess, service: str, keys: dict[str, str] | None = None) -> Any:
    kwargs = emu.boto3_kwargs()
    if keys:
        kwargs.update(aws_access_key_id=keys["id"], aws_secret_access_key=keys["secret"])
    return boto3.client(service, **kwargs)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_user(emu: EmulatorProcess, *documents: dict) -> tuple[str, dict[str, str]]:
    """An IAM user of the account holding `documents` inline, and its key."""
    iam = client(emu, "iam")  # as root
    name = unique("user")
    iam.create_user(UserName=name)
    for n, document in enumerate(documents):
        iam.put_user_policy(UserName=name, PolicyName=f"p{n}", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def refusal(call: Any) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value


def spot_fleet(ec2: Any) -> Any:
    return ec2.request_spot_fleet(
        SpotFleetRequestConfig={
            "ClientToken": unique("token"),
            "AllocationStrategy": "lowestPrice",
            "IamFleetRole": f"arn:aws:iam::{ACCOUNT}:role/fleet",
            "TargetCapacity": 1,
            "LaunchSpecifications": [{"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}],
        }
    )


def test_the_printed_key_is_root_allowed_everything_but_what_an_scp_denies(emu) -> None:
    ec2 = client(emu, "ec2")
    assert ec2.describe_instances()["Reservations"] is not None
    err = refusal(lambda: spot_fleet(ec2))
    assert err.response["Error"]["Code"] == "UnauthorizedOperation"
    message = err.response["Error"]["Message"]
    assert f"arn:aws:iam::{ACCOUNT}:root is not authorized to perform: ec2:RequestSpotFleet" in (
        message
    )
    assert "with an explicit deny in a service control policy" in message


def test_an_unknown_key_is_refused(emu) -> None:
    sts = client(emu, "sts", {"id": "AKIAUNKNOWN000000000", "secret": "x"})
    err = refusal(sts.get_caller_identity)
    assert err.response["Error"]["Code"] == "InvalidClientTokenId"


def test_users_are_principals_of_their_own_capped_by_the_scps(emu) -> None:
    _, admin = make_user(emu, ALLOW_ALL)
    _, reader = make_user(emu, allow("ec2:Describe*"))
    client(emu, "s3", admin).list_buckets()
    assert "SCP" not in str(refusal(lambda: client(emu, "s3", reader).list_buckets()))
    reader_error = refusal(lambda: client(emu, "iam", reader).list_users())
    assert "because no identity-based policy allows the iam:ListUsers action" in str(reader_error)
    client(emu, "ec2", reader).describe_instances()
    denied = refusal(lambda: spot_fleet(client(emu, "ec2", admin)))
    assert "explicit deny in a service control policy" in str(denied)


def _role_stack(boundary: str | None) -> str:
    properties: dict[str, Any] = {"AssumeRolePolicyDocument": TRUST}
    if boundary:
        properties["PermissionsBoundary"] = boundary
    return json.dumps({"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": properties}}})


def _stack_outcome(cfn: Any, name: str) -> tuple[str, list[str]]:
    status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    reasons = [
        e.get("ResourceStatusReason", "") for e in events if e["LogicalResourceId"] == "Role"
    ]
    return status, reasons


@pytest.fixture(scope="module")
def boundary_policy(emu) -> str:
    client(emu, "iam").create_policy(PolicyName=BOUNDARY_NAME, PolicyDocument=json.dumps(ALLOW_ALL))
    return BOUNDARY


@pytest.mark.parametrize("caller", ["root", "admin user"])
def test_cloudformation_creates_with_the_callers_rights_under_the_scps(
    emu, boundary_policy, caller
) -> None:
    keys = None if caller == "root" else make_user(emu, ALLOW_ALL)[1]
    cfn = client(emu, "cloudformation", keys)
    refused, allowed = unique("no-boundary"), unique("boundary")
    cfn.create_stack(StackName=refused, TemplateBody=_role_stack(None))
    status, reasons = _stack_outcome(cfn, refused)
    assert status == "ROLLBACK_COMPLETE"
    assert any(
        "is not authorized to perform: iam:CreateRole" in r
        and "with an explicit deny in a service control policy" in r
        for r in reasons
    ), reasons
    cfn.create_stack(StackName=allowed, TemplateBody=_role_stack(boundary_policy))
    assert _stack_outcome(cfn, allowed)[0] == "CREATE_COMPLETE"
    cfn.delete_stack(StackName=allowed)
    cfn.delete_stack(StackName=refused)


def test_a_stack_resource_outside_the_callers_policy_fails_the_stack(emu) -> None:
    # Only CloudFormation's own calls: the bucket the template creates is not the caller's.
    _, keys = make_user(emu, allow("cloudformation:*"))
    cfn = client(emu, "cloudformation", keys)
    name = unique("bucket")
    template = {"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name}}}}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    assert any("s3:CreateBucket" in e.get("ResourceStatusReason", "") for e in events), events
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    assert name not in [b["Name"] for b in client(emu, "s3").list_buckets()["Buckets"]]


def test_put_role_policy_on_an_existing_role_carries_that_roles_boundary(
    emu, boundary_policy
) -> None:
    iam = client(emu, "iam")
    bounded, free = unique("bounded"), unique("free")
    iam.create_role(
        RoleName=bounded,
        AssumeRolePolicyDocument=json.dumps(TRUST),
        PermissionsBoundary=boundary_policy,
    )
    # Creating the unbounded role is what the SCP forbids; it exists from before the SCP.
    emu.set_scps([DENY_SPOT])
    try:
        iam.create_role(RoleName=free, AssumeRolePolicyDocument=json.dumps(TRUST))
    finally:
        emu.set_scps([DENY_SPOT, REQUIRE_BOUNDARY])
    document = json.dumps(ALLOW_ALL)
    iam.put_role_policy(RoleName=bounded, PolicyName="p", PolicyDocument=document)
    err = refusal(
        lambda: iam.put_role_policy(RoleName=free, PolicyName="p", PolicyDocument=document)
    )
    assert "iam:PutRolePolicy" in str(err) and "service control policy" in str(err)


def test_simulate_principal_policy_reports_organizations_and_boundary_details(
    emu, boundary_policy
) -> None:
    iam = client(emu, "iam")
    role = unique("sim")
    iam.create_role(
        RoleName=role,
        AssumeRolePolicyDocument=json.dumps(TRUST),
        PermissionsBoundary=boundary_policy,
    )
    iam.put_role_policy(
        RoleName=role,
        PolicyName="ec2",
        PolicyDocument=json.dumps(allow("ec2:*")),
    )
    results = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
        ActionNames=["ec2:RunInstances", "ec2:RequestSpotFleet", "s3:GetObject"],
    )["EvaluationResults"]
    by_action = {r["EvalActionName"]: r for r in results}
    run = by_action["ec2:RunInstances"]
    assert run["EvalDecision"] == "allowed"
    assert run["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    assert run["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    spot = by_action["ec2:RequestSpotFleet"]
    assert spot["EvalDecision"] == "explicitDeny"
    assert spot["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}
    assert by_action["s3:GetObject"]["EvalDecision"] == "implicitDeny"

    with_resources = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
        ActionNames=["iam:CreateRole"],
        ResourceArns=[f"arn:aws:iam::{ACCOUNT}:role/x"],
        ContextEntries=[
            {
                "ContextKeyName": "iam:PermissionsBoundary",
                "ContextKeyValues": [boundary_policy],
                "ContextKeyType": "string",
            }
        ],
    )["EvaluationResults"][0]
    # Allowed by the SCPs (boundary given) and the boundary, not by the role's own policy.
    assert with_resources["EvalDecision"] == "implicitDeny"
    [per_resource] = with_resources["ResourceSpecificResults"]
    assert per_resource["EvalResourceDecision"] == "implicitDeny"

    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/missing", ActionNames=["s3:GetObject"]
        )


def test_reset_restores_the_accounts_start_up_governance(emu) -> None:
    emu.set_scps(None)
    spot_fleet(client(emu, "ec2"))  # no organization: root may
    emu.reset()
    assert "service control policy" in str(refusal(lambda: spot_fleet(client(emu, "ec2"))))


def test_a_broken_scp_file_stops_the_server_with_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "scp.json"
    broken.write_text('{"Statement": [{"Effect": "Deny"}]}')
    proc = subprocess.run(
        [sys.executable, "-m", "annex_emulator.server", "--scp", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"annex-emulator: the SCP file {broken}: every statement needs one of Action and NotAction"
    ]
