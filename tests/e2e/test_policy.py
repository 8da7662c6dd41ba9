"""`annex-cdk policy` covers every AWS call annex-cdk makes (recorded from real runs of the
installed CLI), and `--submit-host-role` deploys, keeps and destroys the role that carries it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT_ID

from annex_stacks import names
from annex_stacks.submit_host_policy import policy_document
from tests.e2e.conftest import REGION, World
from tests.policy_eval import allows, iam_actions

ALLOW = "198.51.100.7/32"

pytestmark = pytest.mark.e2e


def _stacks(world: World) -> dict[str, dict]:
    return {s["StackName"]: s for s in world.client("cloudformation").describe_stacks()["Stacks"]}


def test_policy_covers_every_call_annex_cdk_makes(world: World, tmp_path: Path):
    record = tmp_path / "calls.txt"
    env = {"ANNEX_CDK_RECORD_CALLS": str(record)}
    world.run("setup", "--allow-from", ALLOW, env=env)
    world.run("setup", env=env)  # a re-run takes the other paths (lost resources, no-op)
    world.run("diff", env=env)
    world.run("check-setup", "--deep", env=env)
    world.run("write-config", env=env)
    bucket = world.client("cloudformation").describe_stacks(StackName=names.BUCKET_STACK)
    name = {o["OutputKey"]: o["OutputValue"] for o in bucket["Stacks"][0]["Outputs"]}
    world.client("s3").put_object(
        Bucket=name[names.OUT_BUCKET], Key="config-physics.tar.gz", Body=b"tarball"
    )
    world.run("destroy", "--yes", env=env)

    calls = set(record.read_text().split())
    # The run went everywhere the policy is for: deploy, read, check, empty, delete, lock.
    assert {
        "cloudformation:CreateStack",
        "cloudformation:DeleteStack",
        "cloudformation:GetTemplate",
        "cloudformation:DescribeStackResource",
        "s3:DeleteObjects",
        "s3:ListObjectVersions",
        "s3:HeadBucket",
        "ssm:PutParameter",
        "ssm:GetParameter",
        "ssm:DeleteParameter",
        "iam:GetRolePolicy",
        "lambda:GetFunctionConfiguration",
        "ec2:DescribeSecurityGroups",
    } <= calls
    printed = world.run("policy", "--region", REGION, "--account", ACCOUNT_ID).stdout
    document = json.loads(printed)
    missing = sorted(
        f"{call} -> {action}"
        for call in calls
        for action in iam_actions(call)
        if not allows(document, action)
    )
    assert missing == [], "add these to annex_stacks/submit_host_policy.py"


def test_submit_host_role_is_deployed_kept_and_destroyed(world: World):
    proc = world.run("setup", "--allow-from", ALLOW, "--submit-host-role")
    stacks = _stacks(world)
    assert stacks[names.SUBMIT_HOST_STACK]["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[names.SUBMIT_HOST_STACK]["Outputs"]}
    profile = outputs[names.OUT_SUBMIT_HOST_PROFILE]
    assert profile.startswith(f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/")
    assert f"Submit host instance profile: {profile}" in proc.stdout

    # The role carries exactly the policy `annex-cdk policy` prints, as IAM stores it.
    role = outputs[names.OUT_SUBMIT_HOST_ROLE].rsplit("/", 1)[1]
    assert role.startswith(names.STACK_PREFIX)  # inside the policy's own role/HTCondorAnnex-*
    stored = world.client("iam").get_role_policy(
        RoleName=role, PolicyName=names.SUBMIT_HOST_POLICY_NAME
    )["PolicyDocument"]
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored == policy_document(region=REGION, account=ACCOUNT_ID)

    # Remembered: a re-run without the flag keeps it as it is.
    again = json.loads(world.run("setup", "--json").stdout)
    assert again["stacks"][names.SUBMIT_HOST_STACK]["action"] == "unchanged"
    assert world.run("diff", "--exit-code", check=False).returncode == 0

    # condor_annex's check-setup lines are the same as without the role.
    lines = world.run("check-setup").stdout.splitlines()
    assert [line for line in lines if line.startswith("Checking for")] == [
        *(f"Checking for {d}... OK." for _, d in names.CONDOR_ANNEX_STACKS),
        "Checking for SSH key pair... OK.",
    ]

    destroyed = json.loads(world.run("destroy", "--yes", "--json").stdout)
    assert destroyed["stacks"][names.SUBMIT_HOST_STACK] == "DELETE_COMPLETE"
    assert destroyed["leftovers"] == []
    assert _stacks(world) == {}
    roles = world.client("iam").list_roles()["Roles"]
    assert not [r for r in roles if r["RoleName"].startswith(names.STACK_PREFIX)]
