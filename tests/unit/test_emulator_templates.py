"""The emulator reads templates as CloudFormation does where annex-cdk's StackSets need it:
names it generates fit each type's limit under a long stack name (a StackSet's), and an
`Fn::If` that yields AWS::NoValue removes its list element."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from annex_emulator.server import EmulatorProcess

#: As long as a StackSet's stack names are: StackSet-<name>-<uuid>.
LONG_NAME = "StackSet-HTCondorAnnex-LambdaFunctions-0f8fad5b-d9cb-469f-a165-70867728950e"
ROLE = {
    "Type": "AWS::IAM::Role",
    "Properties": {
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    },
}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        yield process


@pytest.fixture
def cfn(emu: EmulatorProcess) -> Any:
    return boto3.client("cloudformation", **emu.boto3_kwargs())


def test_generated_names_fit_under_a_long_stack_name(cfn: Any):
    template = {
        "Resources": {
            "LeaseFunctionRole": ROLE,
            "odiLeaseFunction": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["LeaseFunctionRole", "Arn"]},
                    "Code": {"ZipFile": "def handler(event, context):\n    return None\n"},
                },
            },
            "odiLeaseFunctionPermissions": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": {"Fn::GetAtt": ["odiLeaseFunction", "Arn"]},
                    "Principal": "events.amazonaws.com",
                },
            },
        }
    }
    cfn.create_stack(
        StackName=LONG_NAME, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
    )
    [stack] = cfn.describe_stacks(StackName=LONG_NAME)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    found = {
        r["ResourceType"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=LONG_NAME)["StackResources"]
    }
    function, role = found["AWS::Lambda::Function"], found["AWS::IAM::Role"]
    assert len(function) <= 64 and function.startswith("StackSet-HTCondorAnnex-")
    assert len(role) <= 64


def test_no_value_removes_a_list_element(emu: EmulatorProcess, cfn: Any):
    rule = {"IpProtocol": "tcp", "FromPort": 9618, "ToPort": 9618, "CidrIp": {"Ref": "Cidr"}}
    template = {
        "Parameters": {"Cidr": {"Type": "String", "Default": ""}},
        "Conditions": {"Used": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Cidr"}, ""]}]}},
        "Resources": {
            "Group": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "annex",
                    "SecurityGroupIngress": [
                        {"Fn::If": ["Used", rule, {"Ref": "AWS::NoValue"}]},
                        {
                            "IpProtocol": "tcp",
                            "FromPort": 22,
                            "ToPort": 22,
                            "CidrIp": "192.0.2.0/24",
                        },
                    ],
                },
            }
        },
        "Outputs": {"Id": {"Value": {"Ref": "Group"}}},
    }
    cfn.create_stack(StackName="no-value", TemplateBody=json.dumps(template))
    [stack] = cfn.describe_stacks(StackName="no-value")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    ec2 = boto3.client("ec2", **emu.boto3_kwargs())
    [group] = ec2.describe_security_groups(GroupIds=[stack["Outputs"][0]["OutputValue"]])[
        "SecurityGroups"
    ]
    assert [p["FromPort"] for p in group["IpPermissions"]] == [22]


YAML_BODY = """
Parameters:
  Env: {Type: String, Default: dev}
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "yaml-${Env}"
Outputs:
  Name: {Value: !GetAtt Topic.TopicName}
"""


def test_yaml_and_json_bodies_create_the_same_stack(cfn: Any):
    """A JSON body is read by json, a YAML one (short-form tags) still by moto's YAML loader:
    both give stacks and change sets the same resources, parameters and outputs."""
    as_json = json.dumps(
        {
            "Parameters": {"Env": {"Type": "String", "Default": "dev"}},
            "Resources": {
                "Topic": {
                    "Type": "AWS::SNS::Topic",
                    "Properties": {"TopicName": {"Fn::Sub": "json-${Env}"}},
                }
            },
            "Outputs": {"Name": {"Value": {"Fn::GetAtt": ["Topic", "TopicName"]}}},
        }
    )
    outputs = {}
    for name, body in (("yaml", YAML_BODY), ("json", as_json)):
        cfn.create_stack(StackName=f"body-{name}", TemplateBody=body)
        (stack,) = cfn.describe_stacks(StackName=f"body-{name}")["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        outputs[name] = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        summary = cfn.get_template_summary(StackName=f"body-{name}")
        assert [p["ParameterKey"] for p in summary["Parameters"]] == ["Env"]
        cfn.create_change_set(
            StackName=f"planned-{name}",
            ChangeSetName="c",
            ChangeSetType="CREATE",
            TemplateBody=body,
        )
        planned = cfn.describe_change_set(StackName=f"planned-{name}", ChangeSetName="c")
        assert [c["ResourceChange"]["LogicalResourceId"] for c in planned["Changes"]] == ["Topic"]
    assert outputs == {"yaml": {"Name": "yaml-dev"}, "json": {"Name": "json-dev"}}


def test_a_json_body_never_reaches_the_yaml_loader(monkeypatch: pytest.MonkeyPatch):
    from annex_emulator import patches, template_body

    def yaml_loader(_: str) -> Any:
        raise AssertionError("read by PyYAML")

    monkeypatch.setitem(patches.ORIGINALS, "Stack.parse_template", yaml_loader)
    assert template_body.parse_template('{"Resources": {"A": {"Type": "X"}}}') == {
        "Resources": {"A": {"Type": "X"}}
    }
    with pytest.raises(AssertionError, match="PyYAML"):
        template_body.parse_template("Resources: {A: {Type: X}}")
