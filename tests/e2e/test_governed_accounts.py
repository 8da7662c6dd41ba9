"""annex-cdk in a governed account: the emulator plays a landing zone's account (no default VPC,
IMDSv2 required) and the product must see it before any change, name every finding with its
fix, create the default VPC when asked, put the organization's permissions boundary on every
role (on the annex-cdk path and the plain `cdk` path) and register the image it builds for
IMDSv2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from annex_cdk.aws import condor_annex_calls as replay
from annex_cdk.aws.session import AwsTarget, Credentials
from annex_cdk.errors import EXIT_BLOCKED
from annex_cdk.ops.rehearse import scratch_home
from annex_emulator import landing_zone
from annex_emulator.server import EmulatorProcess, Posture
from annex_stacks import names, stack_specs
from tests.e2e.conftest import REGION, World
from tests.e2e.test_cdk_cli import cdk, cdk_project

pytestmark = pytest.mark.e2e

ALLOW = "198.51.100.7/32"
BOUNDARY = landing_zone.boundary_arn("123456789012")


@pytest.fixture(scope="module")
def governed_emulator() -> Iterator[EmulatorProcess]:
    posture = Posture(no_default_vpc=True, imds_required=True, boundary_policy=True)
    with EmulatorProcess(region=REGION, posture=posture) as emu:
        yield emu


@pytest.fixture
def governed(governed_emulator: EmulatorProcess, tmp_path: Path, synth_cache: Path) -> World:
    governed_emulator.reset()
    paths, condor_config, _ = scratch_home(tmp_path)
    return World(tmp_path, paths, condor_config, governed_emulator, synth_cache)


def _target(world: World) -> AwsTarget:
    """The world's own condor_annex key files, as condor_annex would use them."""
    condor = world.paths.home / names.CONDOR_USER_DIR
    creds = Credentials(condor / names.PUBLIC_KEY_FILE, condor / names.PRIVATE_KEY_FILE)
    return AwsTarget(REGION, creds, endpoint_url=world.emu.endpoint_url)


def _stacks(world: World) -> set[str]:
    listed = world.client("cloudformation").describe_stacks()["Stacks"]
    return {s["StackName"] for s in listed if s["StackStatus"] != "DELETE_COMPLETE"}


def _roles(world: World) -> dict[str, str | None]:
    iam = world.client("iam")
    return {
        r["RoleName"]: iam.get_role(RoleName=r["RoleName"])["Role"]
        .get("PermissionsBoundary", {})
        .get("PermissionsBoundaryArn")
        for r in iam.list_roles()["Roles"]
        if r["RoleName"].startswith("HTCondorAnnex")
    }


def test_setup_sees_the_account_before_any_change(governed: World):
    proc = governed.run("setup", "--allow-from", ALLOW, check=False)
    assert proc.returncode == EXIT_BLOCKED, proc.stderr
    err = proc.stderr
    # Every finding in one run, each with its fix.
    assert f"the default VPC in {REGION}: there is none" in err
    assert f"fix: annex-cdk setup --create-default-vpc --region {REGION}" in err
    assert f"IMDSv2 in {REGION}: instances here are IMDSv2-only" in err
    assert "setup stopped before any change" in err and "Traceback" not in err
    assert _stacks(governed) == set()
    assert governed.client("ec2").describe_vpcs()["Vpcs"] == []

    # check-setup --deep reports the same posture, every finding in one run.
    deep = governed.run("check-setup", "--deep", "--json", check=False)
    report = json.loads(deep.stdout)
    lines = "\n".join(c["line"] for c in report["checks"]) + "\n".join(report["warnings"])
    assert f"the default VPC in {REGION}" in lines
    assert f"IMDSv2 in {REGION}" in lines


def test_create_default_vpc_then_condor_annex_launches_and_destroy_keeps_the_vpc(governed: World):
    report = json.loads(
        governed.run("setup", "--allow-from", ALLOW, "--create-default-vpc", "--json").stdout
    )
    ec2 = governed.client("ec2")
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    outputs = {k: v for s in report["stacks"].values() for k, v in s["outputs"].items()}
    group = outputs[names.OUT_SECURITY_GROUP]
    [found] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    assert found["VpcId"] == vpc["VpcId"]
    # condor_annex's own launch (no subnet, no MetadataOptions) now finds the default subnet,
    # and the account's defaults make the instance IMDSv2-only.
    account = replay.AnnexAccount(_target(governed))
    annex = replay.Annex("physics", outputs[names.OUT_BUCKET], outputs[names.OUT_ODI_LEASE])
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    [instance] = account.run_instances(
        annex,
        image_id=image,
        instance_profile_arn=outputs[names.OUT_INSTANCE_PROFILE],
        security_group_ids=[group],
        key_name=None,
    )
    [reservation] = ec2.describe_instances(InstanceIds=[instance])["Reservations"]
    assert reservation["Instances"][0]["MetadataOptions"]["HttpTokens"] == "required"
    account.terminate([instance])
    # A second setup neither creates another VPC nor complains.
    again = governed.run("setup", "--create-default-vpc", "--json")
    assert json.loads(again.stdout)["ok"] is True
    assert len(ec2.describe_vpcs()["Vpcs"]) == 1
    governed.run("destroy", "--yes")
    assert _stacks(governed) == set()
    assert [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]] == [vpc["VpcId"]]


def test_the_boundary_goes_on_every_role_in_place(world: World):
    world.run("setup", "--allow-from", ALLOW, "--submit-host-role")
    assert set(_roles(world).values()) == {None}
    # diff: adding a boundary updates the roles in place (CloudFormation: no interruption).
    diff = json.loads(
        world.run("diff", "--permissions-boundary", BOUNDARY, "--json", check=None).stdout
    )
    changed = {n: s for n, s in diff["stacks"].items() if s["changed"]}
    assert {names.LAMBDA_STACK, names.INSTANCE_PROFILE_STACK, names.SUBMIT_HOST_STACK} <= set(
        changed
    )
    assert all(s["action"] == "update" and not s["dangerous"] for s in changed.values()), changed
    world.client("iam").create_policy(
        PolicyName=landing_zone.BOUNDARY_POLICY_NAME,
        PolicyDocument=json.dumps(landing_zone.boundary_document()),
    )
    world.run("setup", "--permissions-boundary", BOUNDARY)
    roles = _roles(world)
    assert len(roles) >= 4 and set(roles.values()) == {BOUNDARY}, roles
    # Recorded: a later setup without the flag keeps it.
    again = json.loads(world.run("setup", "--json").stdout)
    assert again["settings"][names.CTX_PERMISSIONS_BOUNDARY] == BOUNDARY
    assert not any(s["changed"] for s in again["stacks"].values())


def test_plain_cdk_puts_the_boundary_on_every_role(world: World):
    project = cdk_project(world)
    cdk(world, project, "synth", "--all", "-c", f"{names.CTX_PERMISSIONS_BOUNDARY}={BOUNDARY}")
    roles = []
    for template in (project / "cdk.out").glob("HTCondorAnnex-*.template.json"):
        for resource in json.loads(template.read_text())["Resources"].values():
            if resource["Type"] == "AWS::IAM::Role":
                roles.append(resource["Properties"].get("PermissionsBoundary"))
    assert len(roles) >= 3 and set(roles) == {BOUNDARY}


def test_the_image_setup_builds_is_registered_for_imdsv2(governed: World):
    """Image Builder cannot set ImdsSupport; setup does, and check-setup --deep then finds the
    image fit for an account where IMDSv2 is required."""
    report = json.loads(
        governed.run(
            "setup", "--allow-from", ALLOW, "--create-default-vpc", "--build-image", "--json"
        ).stdout
    )
    image_id = report["stacks"][names.IMAGE_STACK]["outputs"][names.OUT_IMAGE_ID]
    [image] = governed.client("ec2").describe_images(ImageIds=[image_id])["Images"]
    assert image["ImdsSupport"] == "v2.0"
    deep = json.loads(governed.run("check-setup", "--deep", "--json", check=None).stdout)
    lines = [c["line"] for c in deep["checks"]]
    assert f"Checking IMDSv2 in {REGION}... OK." in lines
    assert f"Checking the default VPC in {REGION}... OK." in lines
    assert not any("IMDSv2" in w for w in deep["warnings"]), deep["warnings"]
    governed.run("destroy", "--yes")


@pytest.fixture(scope="module")
def landing_zone_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(region=REGION, governed=True) as emu:
        yield emu


@pytest.fixture
def landing_zone_admin(
    landing_zone_emulator: EmulatorProcess, tmp_path: Path, synth_cache: Path
) -> World:
    """A governed account's usual caller: an IAM user with administrator rights (HTCondor's
    guide), whose key is in condor_annex's key files; the SCPs still cap it."""
    landing_zone_emulator.reset()
    paths, condor_config, _ = scratch_home(tmp_path)
    world = World(tmp_path, paths, condor_config, landing_zone_emulator, synth_cache)
    iam = world.client("iam")  # the emulator's printed key: the account's root user
    iam.create_user(UserName="annex-admin")
    admin = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_user_policy(
        UserName="annex-admin", PolicyName="Admin", PolicyDocument=json.dumps(admin)
    )
    key = iam.create_access_key(UserName="annex-admin")["AccessKey"]
    condor = paths.home / names.CONDOR_USER_DIR
    (condor / names.PUBLIC_KEY_FILE).write_text(key["AccessKeyId"] + "\n")
    (condor / names.PRIVATE_KEY_FILE).write_text(key["SecretAccessKey"] + "\n")
    return world


def test_the_organizations_rules_are_named_as_its_own_before_any_change(landing_zone_admin: World):
    world = landing_zone_admin
    proc = world.run("setup", "--allow-from", ALLOW, "--create-default-vpc", check=False)
    assert proc.returncode == EXIT_BLOCKED, proc.stderr
    err = proc.stderr
    # Named as the organization's rules, not as permissions the admin lacks.
    assert "an SCP denies iam:CreateRole" in err and "without the permissions boundary" in err
    assert "fix: annex-cdk setup --permissions-boundary ARN" in err
    assert "lacks" not in err
    # condor_annex's own launches and spot fleets: named, with what can be done.
    assert "an SCP denies ec2:RunInstances as condor_annex calls it" in err
    assert "an SCP denies ec2:RequestSpotFleet" in err
    # Nothing was changed: no stack, and not even the default VPC that was asked for.
    assert _stacks(world) == set()
    assert world.client("ec2").describe_vpcs()["Vpcs"] == []

    world.run(
        "setup", "--allow-from", ALLOW, "--create-default-vpc", "--permissions-boundary", BOUNDARY
    )
    roles = _roles(world)
    assert roles and set(roles.values()) == {BOUNDARY}
    # condor_annex's on-demand launch, as the admin: refused by the IMDSv2 SCP, as on AWS.
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for name in stack_specs.CORE_STACKS
        for o in world.client("cloudformation")
        .describe_stacks(StackName=name)["Stacks"][0]
        .get("Outputs", [])
    }
    account = replay.AnnexAccount(_target(world))
    annex = replay.Annex("physics", outputs[names.OUT_BUCKET], outputs[names.OUT_ODI_LEASE])
    image = world.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    with pytest.raises(ClientError, match="service control policy"):
        account.run_instances(
            annex,
            image_id=image,
            instance_profile_arn=outputs[names.OUT_INSTANCE_PROFILE],
            security_group_ids=[outputs[names.OUT_SECURITY_GROUP]],
            key_name=None,
        )
    world.run("destroy", "--yes")
    assert _stacks(world) == set()


def test_rehearse_governed_shows_the_way_through_and_the_refusals(world: World):
    proc = world.run("rehearse", "--governed", "--json", timeout=600)
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert [s["step"] for s in report["steps"]] == [
        "check-setup --deep",
        "setup (stops before any change)",
        "setup --create-default-vpc --permissions-boundary",
        "condor_annex's launches (replayed)",
        "destroy",
    ]
    err = proc.stderr
    assert "setup stopped, as it must: setup stopped before any change" in err
    assert "refused, as AWS refuses it: on-demand annex" in err
    assert "with an explicit deny in a service control policy" in err
    assert "refused, as AWS refuses it: spot-fleet annex" in err
