"""The spend guardrail through the installed CLI on the emulator: setup with caps adds
HTCondorAnnex-Guardrail, attaches the Deny to the submit host's role, writes the first heartbeat;
a later setup without the flags keeps the caps; destroy detaches the Deny and removes it all."""

from __future__ import annotations

import json

import pytest

from annex_stacks import names
from tests.e2e.conftest import World

pytestmark = pytest.mark.e2e

ALLOW = "198.51.100.7/32"


def test_setup_with_caps_adds_the_guardrail_and_destroy_removes_it(world: World) -> None:
    flags = ("--max-instances", "3", "--max-dollars", "25", "--heartbeat-minutes", "30")
    out = world.run("setup", "--allow-from", ALLOW, "--submit-host-role", *flags, "--json")
    doc = json.loads(out.stdout)
    stacks = doc["stacks"]
    assert stacks[names.GUARDRAIL_STACK]["status"] == "CREATE_COMPLETE"
    deny = stacks[names.GUARDRAIL_STACK]["outputs"][names.OUT_GUARDRAIL_DENY_POLICY]
    role = stacks[names.SUBMIT_HOST_STACK]["outputs"][names.OUT_SUBMIT_HOST_ROLE]
    # setup says where the Deny went (the emulator's caller is no IAM user of the account).
    assert f"is attached to role/{role.rsplit('/', 1)[-1]}" in out.stderr
    assert "Dead-man switch armed" in out.stderr
    iam = world.client("iam")
    attached = iam.list_entities_for_policy(PolicyArn=deny)["PolicyRoles"]
    assert [r["RoleName"] for r in attached] == [role.rsplit("/", 1)[-1]]
    assert world.client("ssm").get_parameter(Name=names.GUARDRAIL_HEARTBEAT_PARAMETER)

    # No flags: the stack's records keep the caps (the function's environment says so).
    rerun = world.run("setup", "--json")
    again = json.loads(rerun.stdout)
    assert again["settings"][names.CTX_MAX_INSTANCES] == 3
    assert again["settings"][names.CTX_MAX_DOLLARS] == 25.0
    assert "Dead-man switch armed" not in rerun.stderr  # the heartbeat was kept
    spend = json.loads(world.run("spend", "--json").stdout)
    assert {c["cap"]: c["limit"] for c in spend["caps"]} == {
        "max_instances": 3,
        "max_dollars": 25.0,
    }
    assert spend["heartbeat"]["limitMinutes"] == 30

    world.run("destroy", "--yes")
    stacks = world.client("cloudformation").describe_stacks()["Stacks"]
    assert not [s for s in stacks if s["StackName"] == names.GUARDRAIL_STACK]
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_policy(PolicyArn=deny)


def test_the_deny_is_attached_to_condor_annexs_own_user(world: World) -> None:
    """With --condor-user, the Deny on annex launches reaches the identity condor_annex runs as."""
    out = world.run("setup", "--allow-from", ALLOW, "--condor-user", "--max-instances", "2")
    stacks = world.client("cloudformation").describe_stacks()["Stacks"]
    outputs = {
        s["StackName"]: {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}
        for s in stacks
    }
    user = outputs[names.CONDOR_USER_STACK][names.OUT_CONDOR_USER]
    deny = outputs[names.GUARDRAIL_STACK][names.OUT_GUARDRAIL_DENY_POLICY]
    attached = world.client("iam").list_entities_for_policy(PolicyArn=deny)["PolicyUsers"]
    assert user in [u["UserName"] for u in attached]
    assert f"user/{user}" in out.stderr
    world.run("destroy", "--yes")
