"""Resources deleted by hand (console, CLI): CloudFormation does not notice, annex-cdk must.

`check-setup --deep` names each missing resource with its fix and never crashes; `diff` shows
the repair; `setup --yes` makes CloudFormation re-create what is gone.
"""

from __future__ import annotations

import json

import pytest

from annex_stacks import names
from tests.e2e.conftest import REGION, World

pytestmark = pytest.mark.e2e

ALLOW = ("--allow-from", "198.51.100.7/32")


def _outputs(world: World, stack: str) -> dict[str, str]:
    [found] = world.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def _physical(world: World, stack: str, logical_id: str) -> str:
    cfn = world.client("cloudformation")
    detail = cfn.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)
    return detail["StackResourceDetail"]["PhysicalResourceId"]


def _failed(world: World) -> dict[str, list[dict]]:
    proc = world.run("check-setup", "--deep", "--json", check=False)
    assert "Traceback" not in proc.stderr and "unexpected error" not in proc.stderr, proc.stderr
    failed: dict[str, list[dict]] = {}
    for check in json.loads(proc.stdout)["checks"]:
        if not check["ok"]:
            failed.setdefault(check["name"], []).append(check)
    assert (proc.returncode != 0) == bool(failed)
    return failed


def test_deleted_resources_are_found_named_and_repaired(world: World):
    world.run("setup", *ALLOW)
    sg = _outputs(world, names.SECURITY_GROUP_STACK)[names.OUT_SECURITY_GROUP]
    function = _physical(world, names.LAMBDA_STACK, names.LID_CC_FUNCTION)
    profile = _physical(world, names.INSTANCE_PROFILE_STACK, names.LID_INSTANCE_PROFILE)
    role = _physical(world, names.INSTANCE_PROFILE_STACK, names.LID_INSTANCE_ROLE)
    key_name = _outputs(world, names.KEY_PAIR_STACK)[names.OUT_KEY_PAIR_NAME]

    world.client("ec2").delete_security_group(GroupId=sg)
    world.client("lambda").delete_function(FunctionName=function)
    iam = world.client("iam")
    iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)
    iam.delete_instance_profile(InstanceProfileName=profile)
    world.client("ec2").delete_key_pair(KeyName=key_name)

    failed = _failed(world)
    details = "\n".join(c["detail"] for checks in failed.values() for c in checks)
    for gone in (sg, function, profile, key_name):
        assert f"{gone} (" in details and "deleted outside annex-cdk" in details, details
    assert all(
        c["fix"] == f"annex-cdk setup --yes --region {REGION}"
        for stack in (names.SECURITY_GROUP_STACK, names.LAMBDA_STACK)
        for c in failed[f"deep:exists:{stack}"]
    )

    diff = world.run("diff", "--exit-code", check=False)
    assert diff.returncode != 0
    assert sg in diff.stdout + diff.stderr

    blocked = world.run("setup", *ALLOW, check=False)
    assert blocked.returncode == 7 and "deleted outside annex-cdk" in blocked.stderr
    world.run("setup", *ALLOW, "--yes", timeout=600)
    assert _failed(world) == {}


def test_a_deleted_key_pair_stack_is_a_finding(world: World):
    world.run("setup", *ALLOW)
    world.client("cloudformation").delete_stack(StackName=names.KEY_PAIR_STACK)
    failed = _failed(world)
    [check] = failed[f"deep:exists:{names.KEY_PAIR_STACK}"]
    assert "the stack is missing" in check["detail"]


def test_a_missing_key_pair_parameter_breaks_nothing(world: World):
    world.run("setup", *ALLOW)
    parameter = _outputs(world, names.KEY_PAIR_STACK)[names.OUT_KEY_PAIR_PARAMETER]
    world.client("ssm").delete_parameter(Name=parameter)
    failed = _failed(world)
    assert parameter in failed["deep:pem"][0]["detail"]
    written = world.run("write-config", check=False)
    assert written.returncode == 0, written.stderr
    destroyed = world.run("destroy", "--yes", check=False)
    assert destroyed.returncode in (0, 1), destroyed.stderr
    assert "Traceback" not in destroyed.stderr and "ParameterNotFound" not in destroyed.stderr
    assert world.client("cloudformation").describe_stacks()["Stacks"] == [] or all(
        s["StackStatus"] == "DELETE_COMPLETE"
        for s in world.client("cloudformation").describe_stacks()["Stacks"]
    )
