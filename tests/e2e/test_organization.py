"""annex-cdk in an account under an organization's SCPs (the emulator as a governed account):
CloudFormation's calls are made with the caller's rights, so an SCP reaches the stacks, and
condor_annex's run-time calls meet the same SCPs."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from annex_stacks import names, stack_specs
from tests.e2e.conftest import World

pytestmark = pytest.mark.e2e

ALLOW = "198.51.100.7/32"
#: Control Tower's CT.EC2.PV.6 in SCP form (governed_accounts.md).
DENY_SPOT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Action": ["ec2:RequestSpotFleet", "ec2:RequestSpotInstances"],
            "Resource": "*",
        }
    ],
}
DENY_SECURITY_GROUPS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "ec2:CreateSecurityGroup", "Resource": "*"}],
}


def test_setup_as_root_under_scps_and_condor_annex_spot_fleets_refused(world: World, organization):
    from annex_cdk.aws import condor_annex_calls as replay

    organization([DENY_SPOT])
    world.run("setup", "--allow-from", ALLOW)
    cfn = world.client("cloudformation")
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for name in stack_specs.CORE_STACKS
        for o in cfn.describe_stacks(StackName=name)["Stacks"][0].get("Outputs", [])
    }
    ec2 = world.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    annex = replay.Annex("physics", outputs[names.OUT_BUCKET], outputs[names.OUT_ODI_LEASE])
    launch = {
        "image_id": image,
        "instance_profile_arn": outputs[names.OUT_INSTANCE_PROFILE],
        "security_group_ids": [outputs[names.OUT_SECURITY_GROUP]],
    }
    instances = replay.run_instances(ec2, annex, key_name=names.KEY_PAIR_NAME, **launch)
    ec2.terminate_instances(InstanceIds=instances)
    with pytest.raises(ClientError, match="explicit deny in a service control policy"):
        replay.request_spot_fleet(
            ec2, annex, fleet_role_arn=outputs[names.OUT_INSTANCE_PROFILE], **launch
        )
    world.run("destroy", "--yes")


def test_an_scp_reaches_the_stacks_cloudformation_creates(world: World, organization):
    organization([DENY_SECURITY_GROUPS])
    proc = world.run("setup", "--allow-from", ALLOW, "--json", check=False)
    assert proc.returncode != 0, proc.stdout
    assert json.loads(proc.stdout)["ok"] is False
    # The stack's own event, as the progress shows it: CloudFormation asked with root's rights.
    failed = [line for line in proc.stderr.splitlines() if "CREATE_FAILED" in line]
    assert len(failed) == 1, proc.stderr
    assert "AWS::EC2::SecurityGroup" in failed[0]
    assert "is not authorized to perform: ec2:CreateSecurityGroup" in failed[0]
    assert "with an explicit deny in a service control policy" in failed[0]
