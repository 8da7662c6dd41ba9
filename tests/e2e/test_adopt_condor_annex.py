"""An account and a ~/.condor that `condor_annex -setup` prepared converge under annex-cdk, in
place: the bucket keeps its objects, the key pair and its PEM stay, the old block is reported
and retired only on request. The condor_annex state is rebuilt from the reference (§1.4-1.8, §3).
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest

from annex_cdk.condor import parser as condor_config
from annex_stacks import names
from tests.e2e.conftest import REGION, World

pytestmark = pytest.mark.e2e
SAFE = names.local_name(REGION)
ALLOW = ("--allow-from", "198.51.100.7/32")


def _bucket_template() -> dict:
    return {
        "Description": "HTCondorAnnex: Configuration Bucket",
        "Resources": {
            "ConfigurationBucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"AccessControl": "Private"},
            }
        },
        "Outputs": {"S3BucketName": {"Value": {"Ref": "ConfigurationBucket"}}},
    }


def _basic_execution() -> dict:
    return {
        "PolicyName": "lambda_basic_execution",
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": "arn:aws:logs:*:*:*",
                }
            ],
        },
    }


def _lambda_role(extra: list[dict]) -> dict:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": ["lambda.amazonaws.com"]},
                        "Action": ["sts:AssumeRole"],
                    }
                ],
            },
            "Policies": [_basic_execution(), *extra],
        },
    }


def _function(handler: str, runtime: str, key: str, timeout: int, name: str | None = None) -> dict:
    props = {
        "Handler": handler,
        "Runtime": runtime,
        "Timeout": timeout,
        "Role": {"Fn::GetAtt": ["LeaseFunctionRole", "Arn"]},
        "Code": {"S3Bucket": {"Fn::Sub": "condor-annex-${AWS::Region}"}, "S3Key": key},
    }
    if name:
        props["FunctionName"] = name
    return {"Type": "AWS::Lambda::Function", "Properties": props, "DependsOn": "LeaseFunctionRole"}


def _lambda_template() -> dict:
    lease_policy = {
        "PolicyName": "LambdaLeasePolicy",
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "events:*",
                        "ec2:CancelSpotFleetRequests",
                        "ec2:DescribeSpotFleetRequests",
                        "ec2:DescribeInstances",
                        "ec2:TerminateInstances",
                    ],
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Action": ["s3:DeleteObject"],
                    "Resource": {"Fn::Sub": "arn:aws:s3:::${S3BucketName}/${S3FileName}"},
                },
            ],
        },
    }
    permission = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::Sub": "arn:aws:events:${AWS::Region}:${AWS::AccountId}:*"},
        },
    }
    odi_perm = json.loads(json.dumps(permission))
    odi_perm["Properties"]["FunctionName"] = {"Fn::GetAtt": ["odiLeaseFunction", "Arn"]}
    sfr_perm = json.loads(json.dumps(permission))
    sfr_perm["Properties"]["FunctionName"] = {"Fn::GetAtt": ["sfrLeaseFunction", "Arn"]}
    return {
        "Description": "HTCondor Annex: Lambda Functions",
        "Parameters": {
            "S3BucketName": {"Type": "String"},
            "S3FileName": {"Type": "String", "Default": "config-*.tar.gz"},
        },
        "Resources": {
            "ccFunctionRole": _lambda_role([]),
            "LeaseFunctionRole": _lambda_role([lease_policy]),
            "sfrLeaseFunction": _function(
                "sfr-lease.handler", "nodejs18.x", "sfr-lease-11.zip", 60
            ),
            "odiLeaseFunction": _function(
                "odi-lease.handler", "nodejs18.x", "odi-lease-11.zip", 60
            ),
            "ccFunction": _function(
                "check-connectivity.condor_ping_handler",
                "python3.8",
                "check-connectivity-11.zip",
                5,
                names.CHECK_CONNECTIVITY_FUNCTION,
            ),
            "sfrLeaseFunctionPermissions": sfr_perm,
            "odiLeaseFunctionPermissions": odi_perm,
        },
        "Outputs": {
            "sfrLeaseFunctionARN": {"Value": {"Fn::GetAtt": ["sfrLeaseFunction", "Arn"]}},
            "odiLeaseFunctionARN": {"Value": {"Fn::GetAtt": ["odiLeaseFunction", "Arn"]}},
            "ccFunctionARN": {"Value": {"Fn::GetAtt": ["ccFunction", "Arn"]}},
        },
    }


def _role_template() -> dict:
    introspection = [
        "iam:GetRolePolicy", "iam:GetInstanceProfile", "iam:GetPolicy", "iam:GetPolicyVersion",
        "iam:ListAttachedRolePolicies", "iam:ListRolePolicies",
        "ec2:DescribeInstances", "ec2:DescribeSpotFleetRequests",
    ]  # fmt: skip
    return {
        "Description": "HTCondor Annex: Instance Profile",
        "Parameters": {
            "S3BucketName": {"Type": "String"},
            "S3FileName": {"Type": "String", "Default": "config-*.tar.gz"},
        },
        "Resources": {
            "InstanceConfigurationRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": ["ec2.amazonaws.com"]},
                                "Action": ["sts:AssumeRole"],
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "Configuration",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Action": ["s3:GetObject"],
                                        "Resource": {
                                            "Fn::Sub": "arn:aws:s3:::${S3BucketName}/${S3FileName}"
                                        },
                                    }
                                ],
                            },
                        },
                        {
                            "PolicyName": "Introspection",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {"Effect": "Allow", "Action": introspection, "Resource": "*"}
                                ],
                            },
                        },
                    ],
                },
            },
            "InstanceConfigurationProfile": {
                "Type": "AWS::IAM::InstanceProfile",
                "Properties": {"Path": "/", "Roles": [{"Ref": "InstanceConfigurationRole"}]},
            },
        },
        "Outputs": {
            "InstanceProfileARN": {"Value": {"Fn::GetAtt": ["InstanceConfigurationProfile", "Arn"]}}
        },
    }


def _sg_template() -> dict:
    rules = [
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "CidrIp": "0.0.0.0/0"}
        for port in (22, 9618)
    ]
    return {
        "Description": "HTCondorAnnex: Security Group",
        "Resources": {
            "SecurityGroup": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "Allow SSH and HTCondor from anywhere.",
                    "SecurityGroupIngress": rules,
                },
            }
        },
        "Outputs": {"SecurityGroupID": {"Value": {"Fn::GetAtt": ["SecurityGroup", "GroupId"]}}},
    }


def _condor_annex_setup(world: World) -> dict[str, str]:
    """What `condor_annex -setup` leaves behind, built from the reference's facts."""
    s3, cfn, ec2 = world.client("s3"), world.client("cloudformation"), world.client("ec2")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("index.js", "exports.handler = async () => ({});\n")
    s3.create_bucket(Bucket=f"condor-annex-{REGION}")
    for key in ("sfr-lease-11.zip", "odi-lease-11.zip", "check-connectivity-11.zip"):
        s3.put_object(Bucket=f"condor-annex-{REGION}", Key=key, Body=code.getvalue())

    def create(name: str, template: dict, params: dict[str, str] | None = None) -> dict[str, str]:
        cfn.create_stack(
            StackName=name,
            TemplateBody=json.dumps(template),
            Capabilities=["CAPABILITY_IAM"],
            OnFailure="DELETE",
            Parameters=[
                {"ParameterKey": k, "ParameterValue": v} for k, v in (params or {}).items()
            ],
        )
        [stack] = cfn.describe_stacks(StackName=name)["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    out = create(names.BUCKET_STACK, _bucket_template())
    bucket = out[names.OUT_BUCKET]
    out |= create(names.LAMBDA_STACK, _lambda_template(), {"S3BucketName": bucket})
    out |= create(names.INSTANCE_PROFILE_STACK, _role_template(), {"S3BucketName": bucket})
    out |= create(names.SECURITY_GROUP_STACK, _sg_template())
    s3.put_object(Bucket=bucket, Key="config-running-annex.tar.gz", Body=b"a running annex")

    key = ec2.create_key_pair(KeyName=names.KEY_PAIR_NAME)
    pem = world.paths.pem(REGION, names.KEY_PAIR_NAME)
    pem.write_text(key["KeyMaterial"])
    os.chmod(pem, 0o600)
    out["KeyPairId"] = key["KeyPairId"]

    world.paths.user_config.write_text(
        "# my own line\nANNEX_DEFAULT_ODI_INSTANCE_TYPE = c5.large\n"
        f"\n# Generated by condor-annex -setup for region {SAFE}.\n"
        f"{names.KEY_REGION} = {REGION}\n"
        f"{SAFE}.{names.KEY_ACCESS_KEY_FILE} = {world.paths.condor_dir / names.PUBLIC_KEY_FILE}\n"
        f"{SAFE}.{names.KEY_INSTANCE_PROFILE} = {out[names.OUT_INSTANCE_PROFILE]}\n"
        f"{SAFE}.{names.KEY_KEY_NAME} = {names.KEY_PAIR_NAME}\n"
        f"{SAFE}.{names.KEY_S3_BUCKET} = {bucket}\n"
        f"{SAFE}.{names.KEY_SECRET_KEY_FILE} = {world.paths.condor_dir / names.PRIVATE_KEY_FILE}\n"
        f"{SAFE}.{names.KEY_SECURITY_GROUP_IDS} = {out[names.OUT_SECURITY_GROUP]}\n"
        f"{SAFE}.{names.KEY_ODI_LEASE} = {out[names.OUT_ODI_LEASE]}\n"
        f"{SAFE}.{names.KEY_SFR_LEASE} = {out[names.OUT_SFR_LEASE]}\n"
        "# For debugging:\n"
        f"# ssh -i {pem} ec2-user@<address>\n\n"
    )
    return out


def test_condor_annex_setup_converges_in_place(world: World):
    before = _condor_annex_setup(world)
    bucket = before[names.OUT_BUCKET]
    # A running annex in condor_annex's group: EC2 would refuse to delete that group
    # (DependencyViolation), so adoption must narrow it in place, never replace it.
    group = before[names.OUT_SECURITY_GROUP]
    ec2 = world.client("ec2")
    annex_instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SecurityGroupIds=[group],
        ClientToken="running-annex_0c3f2f5e-3c5d-4f4a-9d59-0e1a2b3c4d5e",
    )["Instances"][0]["InstanceId"]
    pem = world.paths.pem(REGION, names.KEY_PAIR_NAME)
    pem_text = pem.read_text()
    original_config = world.paths.user_config.read_text()

    diff = world.run("diff", *ALLOW, "--exit-code", check=False)
    assert diff.returncode == 1
    assert "DANGEROUS" not in diff.stdout  # neither the bucket nor the key pair is replaced
    assert "ConfigurationBucket (AWS::S3::Bucket) will be REPLACED" not in diff.stdout
    assert f"keeping the bucket {bucket}" in diff.stderr

    proc = world.run("setup", *ALLOW, "--json")
    report = json.loads(proc.stdout)
    actions = {n: s["action"] for n, s in report["stacks"].items()}
    assert actions[names.BUCKET_STACK] == "update"
    assert actions[names.LAMBDA_STACK] == "update"
    assert names.KEY_PAIR_STACK not in actions  # condor_annex's key pair is kept, not re-made
    assert "condor_annex -setup" in proc.stderr  # the old block is reported

    s3 = world.client("s3")
    body = s3.get_object(Bucket=bucket, Key="config-running-annex.tar.gz")["Body"].read()
    assert body == b"a running annex"
    [key] = ec2.describe_key_pairs(KeyNames=[names.KEY_PAIR_NAME])["KeyPairs"]
    assert key["KeyPairId"] == before["KeyPairId"]
    assert pem.read_text() == pem_text
    stacks = world.client("cloudformation").describe_stacks()["Stacks"]
    assert {s["StackStatus"] for s in stacks} == {"UPDATE_COMPLETE"}

    # The old block is kept (reported only); annex-cdk's later block wins.
    text = world.paths.user_config.read_text()
    assert text.startswith(original_config)
    got = condor_config.effective_values(
        [world.paths.user_config], [names.KEY_S3_BUCKET, names.KEY_SECURITY_GROUP_IDS], REGION
    )
    sg = report["stacks"][names.SECURITY_GROUP_STACK]["outputs"][names.OUT_SECURITY_GROUP]
    assert got == {names.KEY_S3_BUCKET: bucket, names.KEY_SECURITY_GROUP_IDS: sg}
    assert sg == group  # the same group, updated in place
    [described] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    assert (
        described["Description"]
        == _sg_template()["Resources"]["SecurityGroup"]["Properties"]["GroupDescription"]
    )
    narrowed = {
        (p["FromPort"], r["CidrIp"]) for p in described["IpPermissions"] for r in p["IpRanges"]
    }
    assert narrowed == {(names.SSH_PORT, ALLOW[1]), (names.INSTANCE_SHARED_PORT, ALLOW[1])}
    [reservation] = ec2.describe_instances(InstanceIds=[annex_instance])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "running"
    assert world.run("check-setup").stdout.splitlines()[-1] == "Your setup looks OK."
    assert world.run("diff", "--exit-code", check=False).returncode == 0

    # With consent, the old block's settings are commented out, line by line.
    world.run("setup", "--retire-condor-annex-config")
    retired = world.paths.user_config.read_text()
    assert f"# retired by annex-cdk: {SAFE}.{names.KEY_S3_BUCKET} = {bucket}" in retired
    assert retired.startswith("# my own line\nANNEX_DEFAULT_ODI_INSTANCE_TYPE = c5.large\n")
    got = condor_config.effective_values([world.paths.user_config], [names.KEY_S3_BUCKET], REGION)
    assert got[names.KEY_S3_BUCKET] == bucket
