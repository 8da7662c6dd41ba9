"""The emulator's StackSets and organization, driven with boto3 as an administrator would.

An organization is made through the Organizations API (root, an OU, member accounts); every
member account is reached through OrganizationAccountAccessRole, as on AWS. Each test checks
what CloudFormation would show: operations that run and end with per-instance results,
instances whose status follows their stack's real outcome, stacks named as AWS names them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from annex_emulator.server import EmulatorProcess
from annex_stacks import names

REGIONS = ["us-east-1", "us-west-2"]
ACCESS_ROLE = "OrganizationAccountAccessRole"
HOLD = "StackSetInstance"

#: A small template of the kinds annex-cdk's StackSets carry: a key pair with a fixed name and
#: a security group whose collector CIDR is a parameter.
TEMPLATE = {
    "Parameters": {"CollectorCidr": {"Type": "String"}},
    "Resources": {
        "Group": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "annex workers",
                "SecurityGroupIngress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 9618,
                        "ToPort": 9618,
                        "CidrIp": {"Ref": "CollectorCidr"},
                    }
                ],
            },
        },
        "Key": {"Type": "AWS::EC2::KeyPair", "Properties": {"KeyName": names.KEY_PAIR_NAME}},
    },
    "Outputs": {"GroupId": {"Value": {"Ref": "Group"}}},
}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        yield process


@dataclass
class Org:
    emu: EmulatorProcess
    root: str
    ou: str
    members: list[str]

    def client(self, service: str, region: str = REGIONS[0]) -> Any:
        """A client of the management account."""
        return boto3.client(service, **{**self.emu.boto3_kwargs(), "region_name": region})

    def member(self, account: str, service: str, region: str = REGIONS[0]) -> Any:
        """A client in a member account, through the role Organizations created there."""
        credentials = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{ACCESS_ROLE}", RoleSessionName="admin"
        )["Credentials"]
        return boto3.client(
            service,
            endpoint_url=self.emu.endpoint_url,
            region_name=region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def new_account(self, parent: str | None = None) -> str:
        organizations = self.client("organizations")
        tag = uuid.uuid4().hex[:8]
        status = organizations.create_account(AccountName=tag, Email=f"{tag}@lab.example")
        account = status["CreateAccountStatus"]["AccountId"]
        if parent is not None:
            organizations.move_account(
                AccountId=account, SourceParentId=self.root, DestinationParentId=parent
            )
        return str(account)


@pytest.fixture
def org(emu: EmulatorProcess) -> Org:
    emu.reset()
    organizations = boto3.client("organizations", **emu.boto3_kwargs())
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    ou = organizations.create_organizational_unit(ParentId=root, Name="labs")
    made = Org(emu, root, ou["OrganizationalUnit"]["Id"], [])
    made.members = [made.new_account(made.ou) for _ in range(2)]
    made.client("cloudformation").activate_organizations_access()
    return made


def create(org: Org, name: str = "annex", cidr: str = "192.0.2.0/24", **kwargs: Any) -> str:
    org.client("cloudformation").create_stack_set(
        StackSetName=name,
        TemplateBody=json.dumps(TEMPLATE),
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment=kwargs.pop(
            "AutoDeployment", {"Enabled": True, "RetainStacksOnAccountRemoval": False}
        ),
        Parameters=[{"ParameterKey": "CollectorCidr", "ParameterValue": cidr}],
        **kwargs,
    )
    return name


def deploy(org: Org, name: str, regions: list[str] = REGIONS, **preferences: Any) -> str:
    return str(
        org.client("cloudformation").create_stack_instances(
            StackSetName=name,
            DeploymentTargets={"OrganizationalUnitIds": [org.ou]},
            Regions=regions,
            OperationPreferences=preferences,
        )["OperationId"]
    )


def wait(org: Org, name: str, operation: str | None = None) -> dict[str, Any]:
    """Poll as a client must: the operation, or every operation of the StackSet, to its end."""
    cfn = org.client("cloudformation")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = cfn.list_stack_set_operations(StackSetName=name)["Summaries"]
        mine = [o for o in found if operation in (None, o["OperationId"])]
        if mine and all(o["Status"] not in ("QUEUED", "RUNNING", "STOPPING") for o in mine):
            return dict(mine[0])
        time.sleep(0.05)
    raise AssertionError("the operation did not end")


def instances(org: Org, name: str) -> dict[tuple[str, str], dict[str, Any]]:
    found = org.client("cloudformation").list_stack_instances(StackSetName=name)["Summaries"]
    return {(i["Account"], i["Region"]): i for i in found}


def results(org: Org, name: str, operation: str) -> dict[tuple[str, str], dict[str, Any]]:
    found = org.client("cloudformation").list_stack_set_operation_results(
        StackSetName=name, OperationId=operation
    )["Summaries"]
    return {(r["Account"], r["Region"]): r for r in found}


def member_stack(org: Org, instance: dict[str, Any]) -> dict[str, Any]:
    cfn = org.member(instance["Account"], "cloudformation", instance["Region"])
    return dict(cfn.describe_stacks(StackName=instance["StackId"])["Stacks"][0])


def ingress(org: Org, account: str, region: str, group_id: str) -> set[str]:
    ec2 = org.member(account, "ec2", region)
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return {r["CidrIp"] for p in group["IpPermissions"] for r in p["IpRanges"]}


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def test_service_managed_needs_the_management_account_and_trusted_access(emu) -> None:
    emu.reset()
    organizations = boto3.client("organizations", **emu.boto3_kwargs())
    organizations.create_organization(FeatureSet="ALL")
    made = Org(emu, organizations.list_roots()["Roots"][0]["Id"], "", [])
    member = made.new_account()
    cfn = made.client("cloudformation")
    arguments = {
        "StackSetName": "annex",
        "TemplateBody": json.dumps(TEMPLATE),
        "PermissionModel": "SERVICE_MANAGED",
        "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
        "Parameters": [{"ParameterKey": "CollectorCidr", "ParameterValue": "192.0.2.0/24"}],
    }
    assert error_of(cfn.create_stack_set, **arguments) == (
        "ValidationError",
        "You must enable organizations access to operate a service managed stack set",
    )
    assert cfn.describe_organizations_access()["Status"] == "DISABLED"
    cfn.activate_organizations_access()
    assert cfn.describe_organizations_access()["Status"] == "ENABLED"
    in_member = made.member(member, "cloudformation")
    code, message = error_of(in_member.create_stack_set, **arguments)
    assert (code, message.split(" before")[0]) == (
        "ValidationError",
        "You must be the management account or delegated admin account of an organization",
    )
    # Organizations' read-only calls: a delegated administrator's, no other member's.
    member_org = made.member(member, "organizations")
    assert error_of(member_org.list_children, ParentId=made.root, ChildType="ACCOUNT") == (
        "AccessDeniedException",
        "You don't have permissions to access this resource.",
    )
    # A delegated administrator may, calling as one.
    organizations.register_delegated_administrator(
        AccountId=member, ServicePrincipal="member.org.stacksets.cloudformation.amazonaws.com"
    )
    listed = member_org.list_accounts_for_parent(ParentId=made.root)["Accounts"]
    assert member in {a["Id"] for a in listed}
    in_member.create_stack_set(**arguments, CallAs="DELEGATED_ADMIN")
    assert in_member.list_stack_sets(CallAs="DELEGATED_ADMIN")["Summaries"][0]["StackSetName"]


def test_an_operation_takes_time_and_lands_stacks_named_as_aws_names_them(org: Org) -> None:
    name = create(org)
    org.emu.faults(hold_actions=[HOLD])
    operation = deploy(org, name, RegionConcurrencyType="PARALLEL")
    cfn = org.client("cloudformation")
    described = cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation)
    assert described["StackSetOperation"]["Status"] == "RUNNING"
    assert "EndTimestamp" not in described["StackSetOperation"]
    org.emu.faults(release_held=True)
    assert wait(org, name, operation)["Status"] == "SUCCEEDED"
    found = instances(org, name)
    # Every member account in both Regions; never the management account.
    assert set(found) == {(a, r) for a in org.members for r in REGIONS}
    for instance in found.values():
        assert (instance["Status"], instance["StackInstanceStatus"]["DetailedStatus"]) == (
            "CURRENT",
            "SUCCEEDED",
        )
        assert instance["OrganizationalUnitId"] == org.ou
        stack = member_stack(org, instance)
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        prefix, _, rest = stack["StackName"].partition(f"-{name}-")
        assert prefix == "StackSet" and uuid.UUID(rest)
        ec2 = org.member(instance["Account"], "ec2", instance["Region"])
        assert ec2.describe_key_pairs(KeyNames=[names.KEY_PAIR_NAME])["KeyPairs"]
    assert all(r["Status"] == "SUCCEEDED" for r in results(org, name, operation).values())


def test_a_stack_that_rolls_back_leaves_its_instance_outdated(org: Org) -> None:
    taken, free = org.members
    org.member(taken, "ec2").create_key_pair(KeyName=names.KEY_PAIR_NAME)
    name = create(org)
    operation = deploy(org, name, regions=[REGIONS[0]], FailureToleranceCount=0)
    assert wait(org, name, operation)["Status"] == "FAILED"
    found = instances(org, name)
    failed = found[(taken, REGIONS[0])]
    assert failed["Status"] == "OUTDATED"
    assert failed["StackInstanceStatus"]["DetailedStatus"] == "FAILED"
    assert names.KEY_PAIR_NAME in failed["StatusReason"]
    assert member_stack(org, failed)["StackStatus"] == "ROLLBACK_COMPLETE"
    by_target = results(org, name, operation)
    assert by_target[(taken, REGIONS[0])]["Status"] == "FAILED"
    # The account after the failure is not attempted once the tolerance is spent, or succeeded
    # if it came first: either way no instance claims CURRENT without its stack.
    other = by_target[(free, REGIONS[0])]["Status"]
    assert other in ("CANCELLED", "SUCCEEDED")
    assert (other == "SUCCEEDED") == (found.get((free, REGIONS[0]), {}).get("Status") == "CURRENT")
    # The key that was there first is untouched.
    assert org.member(taken, "ec2").describe_key_pairs(KeyNames=[names.KEY_PAIR_NAME])


def test_failure_tolerance_lets_the_others_finish(org: Org) -> None:
    taken, free = org.members
    org.member(taken, "ec2").create_key_pair(KeyName=names.KEY_PAIR_NAME)
    name = create(org)
    operation = deploy(org, name, regions=[REGIONS[0]], FailureToleranceCount=1)
    assert wait(org, name, operation)["Status"] == "SUCCEEDED"
    found = instances(org, name)
    assert found[(taken, REGIONS[0])]["Status"] == "OUTDATED"
    assert found[(free, REGIONS[0])]["Status"] == "CURRENT"


def test_an_update_reaches_existing_instances_and_later_ones(org: Org) -> None:
    name = create(org, cidr="192.0.2.0/24")
    wait(org, name, deploy(org, name, regions=[REGIONS[0]]))
    cfn = org.client("cloudformation")
    operation = cfn.update_stack_set(
        StackSetName=name,
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": "CollectorCidr", "ParameterValue": "198.51.100.0/24"}],
    )["OperationId"]
    assert wait(org, name, operation)["Status"] == "SUCCEEDED"
    for instance in instances(org, name).values():
        assert instance["Status"] == "CURRENT"
        stack = member_stack(org, instance)
        assert stack["StackStatus"] == "UPDATE_COMPLETE"
        group = stack["Outputs"][0]["OutputValue"]
        assert ingress(org, instance["Account"], instance["Region"], group) == {"198.51.100.0/24"}
    # An account that joins later gets the StackSet as it is now.
    late = org.new_account(org.ou)
    wait(org, name)
    [instance] = [i for (a, _), i in instances(org, name).items() if a == late]
    stack = member_stack(org, instance)
    group = stack["Outputs"][0]["OutputValue"]
    assert ingress(org, late, REGIONS[0], group) == {"198.51.100.0/24"}


def test_per_account_overrides_and_a_failed_update_rolls_back(org: Org) -> None:
    first, second = org.members
    name = create(org)
    wait(org, name, deploy(org, name, regions=[REGIONS[0]]))
    cfn = org.client("cloudformation")
    operation = cfn.update_stack_instances(
        StackSetName=name,
        DeploymentTargets={
            "OrganizationalUnitIds": [org.ou],
            "Accounts": [second],
            "AccountFilterType": "INTERSECTION",
        },
        Regions=[REGIONS[0]],
        ParameterOverrides=[{"ParameterKey": "CollectorCidr", "ParameterValue": "203.0.113.9/32"}],
    )["OperationId"]
    assert wait(org, name, operation)["Status"] == "SUCCEEDED"
    assert set(results(org, name, operation)) == {(second, REGIONS[0])}
    found = instances(org, name)
    for account, cidr in ((first, "192.0.2.0/24"), (second, "203.0.113.9/32")):
        stack = member_stack(org, found[(account, REGIONS[0])])
        assert ingress(org, account, REGIONS[0], stack["Outputs"][0]["OutputValue"]) == {cidr}
    # A template whose new resource cannot be created in one account rolls that stack back.
    org.member(first, "ssm").put_parameter(Name="/taken", Value="x", Type="String")
    broken = json.loads(json.dumps(TEMPLATE))
    broken["Resources"]["Marker"] = {
        "Type": "AWS::SSM::Parameter",
        "Properties": {"Name": "/taken", "Type": "String", "Value": "y"},
    }
    operation = cfn.update_stack_set(
        StackSetName=name,
        TemplateBody=json.dumps(broken),
        Parameters=[{"ParameterKey": "CollectorCidr", "UsePreviousValue": True}],
        OperationPreferences={"FailureToleranceCount": 1},
    )["OperationId"]
    wait(org, name, operation)
    found = instances(org, name)
    assert found[(first, REGIONS[0])]["Status"] == "OUTDATED"
    assert member_stack(org, found[(first, REGIONS[0])])["StackStatus"] == (
        "UPDATE_ROLLBACK_COMPLETE"
    )
    assert found[(second, REGIONS[0])]["Status"] == "CURRENT"


def test_automatic_deployment_follows_accounts_in_and_out_of_the_ou(org: Org) -> None:
    name = create(org)
    wait(org, name, deploy(org, name))
    joined = org.new_account(org.ou)
    wait(org, name)
    mine = {k: v for k, v in instances(org, name).items() if k[0] == joined}
    assert set(mine) == {(joined, r) for r in REGIONS}
    assert all(i["Status"] == "CURRENT" for i in mine.values())
    stacks = [member_stack(org, i)["StackId"] for i in mine.values()]
    org.client("organizations").move_account(
        AccountId=joined, SourceParentId=org.ou, DestinationParentId=org.root
    )
    wait(org, name)
    assert not [k for k in instances(org, name) if k[0] == joined]
    for stack_id, region in zip(stacks, REGIONS, strict=True):
        cfn = org.member(joined, "cloudformation", region)
        assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == (
            "DELETE_COMPLETE"
        )


def test_retained_stacks_outlive_their_account_leaving(org: Org) -> None:
    name = create(org, AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": True})
    wait(org, name, deploy(org, name, regions=[REGIONS[0]]))
    leaving = org.members[0]
    stack_id = instances(org, name)[(leaving, REGIONS[0])]["StackId"]
    org.client("organizations").move_account(
        AccountId=leaving, SourceParentId=org.ou, DestinationParentId=org.root
    )
    wait(org, name)
    assert (leaving, REGIONS[0]) not in instances(org, name)
    cfn = org.member(leaving, "cloudformation")
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE"
    )


def test_one_operation_at_a_time_and_a_stopped_operation(org: Org) -> None:
    name = create(org)
    cfn = org.client("cloudformation")
    org.emu.faults(hold_actions=[HOLD])
    try:
        operation = deploy(org, name)
        code, _ = error_of(
            cfn.update_stack_set,
            StackSetName=name,
            UsePreviousTemplate=True,
            Parameters=[{"ParameterKey": "CollectorCidr", "UsePreviousValue": True}],
        )
        assert code == "OperationInProgressException"
        assert error_of(cfn.delete_stack_set, StackSetName=name)[0] == (
            "OperationInProgressException"
        )
        cfn.stop_stack_set_operation(StackSetName=name, OperationId=operation)
    finally:
        org.emu.faults(release_held=True)
    assert wait(org, name, operation)["Status"] == "STOPPED"
    statuses = {r["Status"] for r in results(org, name, operation).values()}
    assert "CANCELLED" in statuses
    assert error_of(cfn.stop_stack_set_operation, StackSetName=name, OperationId=operation)[0] == (
        "InvalidOperationException"
    )


def test_templates_are_checked_as_cloudformation_checks_them(org: Org) -> None:
    cfn = org.client("cloudformation")
    role = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}
                },
            }
        }
    }
    base = {"PermissionModel": "SERVICE_MANAGED", "AutoDeployment": {"Enabled": False}}
    assert error_of(
        cfn.create_stack_set, StackSetName="iam", TemplateBody=json.dumps(role), **base
    ) == ("InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]")
    cfn.create_stack_set(
        StackSetName="iam", TemplateBody=json.dumps(role), Capabilities=["CAPABILITY_IAM"], **base
    )
    assert error_of(
        cfn.create_stack_set, StackSetName="cidr", TemplateBody=json.dumps(TEMPLATE), **base
    ) == ("ValidationError", "Parameters: [CollectorCidr] must have values")
    assert (
        error_of(
            cfn.create_stack_set, StackSetName="big", TemplateBody=" " * 51_201 + "{}", **base
        )[0]
        == "ValidationError"
    )
    assert error_of(cfn.describe_stack_set, StackSetName="nope")[0] == ("StackSetNotFoundException")


def test_drift_detection_finds_a_hand_edited_group(org: Org) -> None:
    name = create(org)
    wait(org, name, deploy(org, name, regions=[REGIONS[0]]))
    edited = org.members[0]
    stack = member_stack(org, instances(org, name)[(edited, REGIONS[0])])
    org.member(edited, "ec2").authorize_security_group_ingress(
        GroupId=stack["Outputs"][0]["OutputValue"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    cfn = org.client("cloudformation")
    operation = cfn.detect_stack_set_drift(StackSetName=name)["OperationId"]
    assert wait(org, name, operation)["Status"] == "SUCCEEDED"
    drift = {k[0]: i["DriftStatus"] for k, i in instances(org, name).items()}
    assert drift == {edited: "DRIFTED", org.members[1]: "IN_SYNC"}
    details = cfn.describe_stack_set(StackSetName=name)["StackSet"]["StackSetDriftDetectionDetails"]
    assert (details["DriftStatus"], details["DriftedStackInstancesCount"]) == ("DRIFTED", 1)


def test_delete_instances_then_the_stack_set(org: Org) -> None:
    name = create(org)
    wait(org, name, deploy(org, name, regions=[REGIONS[0]]))
    cfn = org.client("cloudformation")
    assert error_of(cfn.delete_stack_set, StackSetName=name)[0] == "StackSetNotEmptyException"
    stack_ids = {a: i["StackId"] for (a, _), i in instances(org, name).items()}
    operation = cfn.delete_stack_instances(
        StackSetName=name,
        DeploymentTargets={"OrganizationalUnitIds": [org.ou]},
        Regions=[REGIONS[0]],
        RetainStacks=False,
    )["OperationId"]
    assert wait(org, name, operation)["Status"] == "SUCCEEDED"
    assert instances(org, name) == {}
    for account, stack_id in stack_ids.items():
        stack = org.member(account, "cloudformation").describe_stacks(StackName=stack_id)
        assert stack["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
        assert not org.member(account, "ec2").describe_key_pairs()["KeyPairs"]
    cfn.delete_stack_set(StackSetName=name)
    assert error_of(cfn.describe_stack_set, StackSetName=name)[0] == "StackSetNotFoundException"
    # A new account joining the OU gets nothing from a deleted StackSet.
    org.new_account(org.ou)
    assert [s["Status"] for s in cfn.list_stack_sets()["Summaries"]] == ["DELETED"]


def test_member_accounts_are_reached_only_through_a_role_that_trusts_the_caller(
    org: Org,
) -> None:
    member = org.members[0]
    iam = org.member(member, "iam")
    policy = iam.get_role_policy(RoleName=ACCESS_ROLE, PolicyName="AdministratorAccess")
    assert policy["PolicyDocument"]["Statement"][0]["Action"] == "*"
    sts = org.client("sts")
    for role in ("NoSuchRole", ACCESS_ROLE):
        arn = f"arn:aws:iam::{member}:role/{role}"
        if role == ACCESS_ROLE:  # trusting someone else only
            iam.update_assume_role_policy(
                RoleName=role,
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                ),
            )
        code, message = error_of(sts.assume_role, RoleArn=arn, RoleSessionName="admin")
        assert code == "AccessDenied"
        assert message.endswith(f"is not authorized to perform: sts:AssumeRole on resource: {arn}")
