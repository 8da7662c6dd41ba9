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
