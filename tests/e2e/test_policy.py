"""`annex-cdk policy` covers every AWS call annex-cdk makes (recorded from real runs of the
installed CLI), and `--submit-host-role` deploys, keeps and destroys the role that carries it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT_ID

from annex_stacks import names, stack_specs
from annex_stacks.policy import policy_document
from annex_stacks.policy.callers import BEYOND_THE_POLICY
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
    document = _merged(json.loads(printed))
    missing = sorted(
        f"{call} -> {action}"
        for call in calls - set(BEYOND_THE_POLICY)
        for action in iam_actions(call)
        if not allows(document, action)
    )
    assert missing == [], "add these to annex_stacks/policy/callers.py"
    # Calls annex-cdk may make and have refused (this run: the pre-flight's IMDS read) really
    # are outside the policy.
    assert set(BEYOND_THE_POLICY) & calls
    assert not any(allows(document, call) for call in BEYOND_THE_POLICY)


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
        *(f"Checking for {d}... OK." for _, d in stack_specs.CHECKED_STACKS),
    ]

    destroyed = json.loads(world.run("destroy", "--yes", "--json").stdout)
    assert destroyed["stacks"][names.SUBMIT_HOST_STACK]["status"] == "DELETE_COMPLETE"
    assert destroyed["leftovers"] == []
    assert _stacks(world) == {}
    roles = world.client("iam").list_roles()["Roles"]
    assert not [r for r in roles if r["RoleName"].startswith(names.STACK_PREFIX)]


# --- Least privilege enforced: the emulator evaluates every call with its resources and
# condition context (annex_emulator.iam_enforcement) as a user holding exactly the policy.

POLICY_USER = "submit-host"


def _documents(printed: dict | list) -> list[dict]:
    """`annex-cdk policy` prints one document, or a list when it is split."""
    return printed if isinstance(printed, list) else [printed]


def _merged(printed: dict | list) -> dict:
    statements = [s for d in _documents(printed) for s in d["Statement"]]
    return {"Version": "2012-10-17", "Statement": statements}


def _policy_user(world: World, printed: dict | list) -> dict[str, str]:
    """An IAM user holding exactly the printed documents (managed policies, as `policy` advises),
    and its key as the variables annex-cdk and boto3 read."""
    iam = world.client("iam")
    iam.create_user(UserName=POLICY_USER)
    for n, document in enumerate(_documents(printed)):
        arn = iam.create_policy(PolicyName=f"annex-cdk-{n}", PolicyDocument=json.dumps(document))
        iam.attach_user_policy(UserName=POLICY_USER, PolicyArn=arn["Policy"]["Arn"])
    key = iam.create_access_key(UserName=POLICY_USER)["AccessKey"]
    # Where condor_annex (and so annex-cdk by default) reads its key: the user's own files.
    condor_dir = world.paths.home / names.CONDOR_USER_DIR
    (condor_dir / names.PUBLIC_KEY_FILE).write_text(key["AccessKeyId"] + "\n")
    (condor_dir / names.PRIVATE_KEY_FILE).write_text(key["SecretAccessKey"] + "\n")
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def _as(world: World, keys: dict[str, str], service: str):
    import boto3

    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=world.emu.endpoint_url,
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
    )


def _refused(fn) -> bool:
    try:
        fn()
    except ClientError as err:
        # moto answers JSON services' denials in XML: botocore then sees only the status.
        assert "AccessDenied" in str(err) or "UnauthorizedOperation" in str(err), str(err)
        return True
    return False


def test_least_privilege_is_enforced(world: World):
    from annex_cdk.aws import condor_annex_calls as replay

    printed = world.run("policy", "--offline", "--region", REGION, "--account", ACCOUNT_ID)
    keys = _policy_user(world, json.loads(printed.stdout))
    admin_ec2 = world.client("ec2")
    image = admin_ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    # Someone else's instance, without condor_annex's tag, started before enforcement.
    foreign = admin_ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)
    foreign_id = foreign["Instances"][0]["InstanceId"]
    world.emu.enforce_iam(True)
    try:
        world.client("s3").list_buckets()  # the emulator's own key is the root user's
        stranger = {"AWS_ACCESS_KEY_ID": "AKIANOBODY0000000000", "AWS_SECRET_ACCESS_KEY": "x"}
        with pytest.raises(ClientError, match="InvalidAccessKeyId"):  # no user has that key
            _as(world, stranger, "s3").list_buckets()
        env = {"ANNEX_CDK_DEBUG": None}
        world.run("setup", "--allow-from", ALLOW, env=env)
        world.run("diff", env=env)
        world.run("check-setup", "--deep", env=env)
        world.run("write-config", env=env)

        cfn = _as(world, keys, "cloudformation")
        outputs = {  # by name: a DescribeStacks of every stack is on *, outside the policy
            o["OutputKey"]: o["OutputValue"]
            for name in stack_specs.CORE_STACKS
            for o in cfn.describe_stacks(StackName=name)["Stacks"][0].get("Outputs", [])
        }
        assert _refused(lambda: cfn.describe_stacks())
        s3, ec2, events = (_as(world, keys, s) for s in ("s3", "ec2", "events"))
        annex = replay.Annex("physics", outputs[names.OUT_BUCKET], outputs[names.OUT_ODI_LEASE])
        launch = {
            "image_id": image,
            "instance_profile_arn": outputs[names.OUT_INSTANCE_PROFILE],
            "security_group_ids": [outputs[names.OUT_SECURITY_GROUP]],
        }
        # condor_annex's calls for an on-demand annex, its -duration, and its rollback.
        replay.upload_config(s3, annex, b"tarball")
        instances = replay.run_instances(ec2, annex, key_name=names.KEY_PAIR_NAME, **launch)
        replay.start_lease(events, annex, 2_000_000_000)
        replay.extend_lease(events, annex, 2_000_000_100)
        ec2.terminate_instances(InstanceIds=instances)
        # ... and for a spot fleet with the user's own fleet role, and its rollback.
        fleet_role = f"arn:aws:iam::{ACCOUNT_ID}:role/my-spot-fleet-role"
        fleet = replay.request_spot_fleet(ec2, annex, fleet_role_arn=fleet_role, **launch)
        ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=[fleet], TerminateInstances=True)

        # Outside the policy's resources, or without the condition it requires: refused.
        assert _refused(lambda: s3.put_object(Bucket=annex.bucket, Key="index.html", Body=b"x"))
        assert _refused(lambda: ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1))
        assert _refused(lambda: ec2.terminate_instances(InstanceIds=[foreign_id]))
        assert _refused(
            lambda: events.put_targets(
                Rule=annex.id,
                Targets=[
                    {"Id": "x", "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:other"}
                ],
            )
        )
        assert _refused(
            lambda: _as(world, keys, "ssm").get_parameter(Name="/production/db-password")
        )

        events.remove_targets(Rule=annex.id, Ids=[annex.id])
        events.delete_rule(Name=annex.id)
        world.run("destroy", "--yes", env=env)
        world.emu.enforce_iam(False)
        assert _stacks(world) == {}
    finally:
        world.emu.enforce_iam(False)


def test_the_runtime_policy_is_what_condor_annex_needs_after_setup(world: World):
    """A user holding exactly `annex-cdk policy --runtime` (read from the deployed setup: its
    lease functions are the only targets) makes condor_annex's calls as its source makes them
    (aws/condor_annex_calls.py), and nothing of setup's: no stack, no role."""
    from annex_cdk.aws import condor_annex_calls as replay

    world.run("setup", "--allow-from", ALLOW)
    printed = world.run("policy", "--runtime", "--region", REGION).stdout
    assert "cloudformation:" not in printed and "iam:Create" not in printed
    keys = _policy_user(world, json.loads(printed))
    cfn = world.client("cloudformation")
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for name in stack_specs.CORE_STACKS
        for o in cfn.describe_stacks(StackName=name)["Stacks"][0].get("Outputs", [])
    }
    image = world.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    world.emu.enforce_iam(True)
    try:
        s3, ec2, events = (_as(world, keys, s) for s in ("s3", "ec2", "events"))
        annex = replay.Annex("physics", outputs[names.OUT_BUCKET], outputs[names.OUT_ODI_LEASE])
        launch = {
            "image_id": image,
            "instance_profile_arn": outputs[names.OUT_INSTANCE_PROFILE],
            "security_group_ids": [outputs[names.OUT_SECURITY_GROUP]],
        }
        replay.upload_config(s3, annex, b"tarball")
        instances = replay.run_instances(ec2, annex, key_name=names.KEY_PAIR_NAME, **launch)
        replay.start_lease(events, annex, 2_000_000_000)
        ec2.terminate_instances(InstanceIds=instances)
        fleet_role = f"arn:aws:iam::{ACCOUNT_ID}:role/my-spot-fleet-role"
        fleet = replay.request_spot_fleet(ec2, annex, fleet_role_arn=fleet_role, **launch)
        ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=[fleet], TerminateInstances=True)
        events.remove_targets(Rule=annex.id, Ids=[annex.id])
        events.delete_rule(Name=annex.id)
        # Nothing of setup's: stacks, roles, the key pair's secret.
        template = json.dumps({"Resources": {"B": {"Type": "AWS::S3::Bucket"}}})
        mine = _as(world, keys, "cloudformation")
        assert _refused(
            lambda: mine.create_stack(StackName="HTCondorAnnex-X", TemplateBody=template)
        )
        assert _refused(
            lambda: _as(world, keys, "iam").create_role(
                RoleName="HTCondorAnnex-X", AssumeRolePolicyDocument="{}"
            )
        )
        assert _refused(lambda: _as(world, keys, "ssm").get_parameter(Name=names.LOCK_PARAMETER))
    finally:
        world.emu.enforce_iam(False)


def test_condor_user_setup_rotate_check_and_destroy_under_its_documents(world: World):
    """setup --condor-user, credentials --rotate, check-setup --deep and destroy as a user
    holding exactly `annex-cdk policy` and `annex-cdk policy --condor-user`, IAM enforced."""
    common = ("policy", "--offline", "--region", REGION, "--account", ACCOUNT_ID)
    first = _documents(json.loads(world.run(*common).stdout))
    own = _documents(json.loads(world.run(*common, "--condor-user").stdout))
    _policy_user(world, [*first, *own])
    world.emu.enforce_iam(True)
    try:
        env = {"ANNEX_CDK_DEBUG": None}
        world.run("setup", "--allow-from", ALLOW, "--condor-user", env=env)
        world.run("credentials", "--rotate", env=env)
        proc = world.run("check-setup", "--deep", "--json", env=env, check=False)
        document = json.loads(proc.stdout)
        assert "checks" in document, document
        found = {c["name"]: c for c in document["checks"]}
        assert found[names.DEEP_CONDOR_USER_KEY]["ok"], found[names.DEEP_CONDOR_USER_KEY]
        world.run("destroy", "--yes", env=env)
        world.emu.enforce_iam(False)
        assert _stacks(world) == {}
        users = [u["UserName"] for u in world.client("iam").list_users()["Users"]]
        assert not [u for u in users if u.startswith(names.CONDOR_USER_STACK)]
    finally:
        world.emu.enforce_iam(False)


def test_rehearse_least_privilege_runs_as_the_policy_and_the_condor_user(world: World):
    proc = world.run("rehearse", "--least-privilege", "--json", timeout=600)
    report = json.loads(proc.stdout)
    assert report["ok"] is True, proc.stderr[-3000:]
    assert [s["step"] for s in report["steps"]] == [
        "setup --condor-user",
        "check-setup --deep",
        "credentials --rotate",
        "annexes (replayed condor_annex) (condor_annex's own key)",
        "destroy",
    ]
    err = proc.stderr
    assert "Emulator (IAM enforced)" in err
    # Every lease check held, on condor_annex's own key.
    assert "FAILED" not in err and "ok: instances terminated" in err
    assert "holds a key of HTCondorAnnex-CondorUser-" in err
