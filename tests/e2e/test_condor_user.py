"""`setup --condor-user`: condor_annex's own IAM user holding exactly the run-time policy, its
access key made through IAM (never in a template or output), kept 0600 and never printed, and
condor_annex pointed at it; destroy deletes the keys, the user and the files."""

from __future__ import annotations

import json
import stat

import pytest
from botocore.exceptions import ClientError

from annex_stacks import names, stack_specs
from tests.e2e.conftest import REGION, World

pytestmark = pytest.mark.e2e

ALLOW = "198.51.100.7/32"


def _outputs(world: World) -> dict[str, str]:
    cfn = world.client("cloudformation")
    return {
        o["OutputKey"]: o["OutputValue"]
        for name in (*stack_specs.CORE_STACKS, names.CONDOR_USER_STACK)
        for o in cfn.describe_stacks(StackName=name)["Stacks"][0].get("Outputs", [])
    }


def test_condor_annex_gets_an_identity_of_its_own(world: World):
    from annex_cdk.aws import condor_annex_calls as replay

    proc = world.run("setup", "--allow-from", ALLOW, "--condor-user")
    outputs = _outputs(world)
    user = outputs[names.OUT_CONDOR_USER]
    iam = world.client("iam")
    [key] = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    condor = world.paths.condor_dir
    public = condor / names.CONDOR_USER_PUBLIC_KEY_FILE
    private = condor / names.CONDOR_USER_PRIVATE_KEY_FILE
    for path in (public, private):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public.read_text().strip() == key["AccessKeyId"]
    secret = private.read_text().strip()
    assert secret and secret not in proc.stdout + proc.stderr
    # Never in a template or an output: CloudFormation knows no key of the user.
    template = world.client("cloudformation").get_template(StackName=names.CONDOR_USER_STACK)
    assert "AWS::IAM::AccessKey" not in json.dumps(template["TemplateBody"])
    assert secret not in json.dumps(outputs)
    config = world.paths.user_config.read_text()
    assert f"{names.KEY_ACCESS_KEY_FILE} = {public}" in config
    assert f"{names.KEY_SECRET_KEY_FILE} = {private}" in config

    # A re-run keeps the key and its files.
    world.run("setup")
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == [
        key["AccessKeyId"]
    ]
    assert private.read_text().strip() == secret

    # The key runs condor_annex's calls, and nothing of setup's.
    import boto3

    def as_condor(service: str):
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=world.emu.endpoint_url,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=secret,
        )

    image = world.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    world.emu.enforce_iam(True)
    try:
        annex = replay.Annex("physics", outputs[names.OUT_BUCKET], outputs[names.OUT_ODI_LEASE])
        replay.upload_config(as_condor("s3"), annex, b"tarball")
        instances = replay.run_instances(
            as_condor("ec2"),
            annex,
            key_name=names.KEY_PAIR_NAME,
            image_id=image,
            instance_profile_arn=outputs[names.OUT_INSTANCE_PROFILE],
            security_group_ids=[outputs[names.OUT_SECURITY_GROUP]],
        )
        as_condor("ec2").terminate_instances(InstanceIds=instances)
        with pytest.raises(ClientError, match="AccessDenied"):
            as_condor("cloudformation").create_stack(
                StackName="HTCondorAnnex-X", TemplateBody='{"Resources": {}}'
            )
    finally:
        world.emu.enforce_iam(False)

    world.run("destroy", "--yes")
    assert user not in [u["UserName"] for u in iam.list_users()["Users"]]
    assert not public.exists() and not private.exists()


def test_credentials_rotate_replaces_the_key_and_keeps_a_working_one(world: World):
    from jsonschema import validate

    from tests import json_schemas

    world.run("setup", "--allow-from", ALLOW, "--condor-user")
    user = _outputs(world)[names.OUT_CONDOR_USER]
    iam = world.client("iam")
    condor = world.paths.condor_dir
    public = condor / names.CONDOR_USER_PUBLIC_KEY_FILE
    private = condor / names.CONDOR_USER_PRIVATE_KEY_FILE
    old_id, old_secret = public.read_text().strip(), private.read_text().strip()

    # With IAM enforced, the emulator refuses a key IAM does not know: the proof is real.
    world.emu.enforce_iam(True)
    try:
        proc = world.run("credentials", "--rotate", "--json")
    finally:
        world.emu.enforce_iam(False)
    document = json.loads(proc.stdout)
    validate(document, json_schemas.CREDENTIALS_ROTATE)
    new_id, new_secret = public.read_text().strip(), private.read_text().strip()
    assert new_id != old_id and new_secret != old_secret
    for path in (public, private):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(condor.glob("*.new"))
    assert new_secret not in proc.stdout + proc.stderr
    assert new_id not in proc.stdout + proc.stderr  # only masked
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == [
        new_id
    ]

    import boto3

    sts = boto3.client(
        "sts",
        region_name=REGION,
        endpoint_url=world.emu.endpoint_url,
        aws_access_key_id=new_id,
        aws_secret_access_key=new_secret,
    )
    assert sts.get_caller_identity()["Arn"].endswith(f"user/{user}")

    # Without the stack there is nothing to rotate: one line, no traceback, files untouched.
    world.run("destroy", "--yes")
    proc = world.run("credentials", "--rotate", check=False)
    assert proc.returncode != 0
    assert names.CONDOR_USER_STACK in proc.stderr and "Traceback" not in proc.stderr


def test_credentials_rotate_takes_no_key_source(world: World):
    proc = world.run("credentials", "--rotate", "--from-stdin", check=False)
    assert proc.returncode == 2 and "--rotate" in proc.stderr


def test_check_setup_deep_reports_the_condor_keys_owner_and_age(world: World):
    world.run("setup", "--allow-from", ALLOW, "--condor-user")
    user = _outputs(world)[names.OUT_CONDOR_USER]
    public = world.paths.condor_dir / names.CONDOR_USER_PUBLIC_KEY_FILE

    def deep_check() -> tuple[int, dict[str, dict]]:
        proc = world.run("check-setup", "--deep", "--json", check=False)
        checks = json.loads(proc.stdout)["checks"]
        return proc.returncode, {
            c["name"]: c for c in checks if c["name"].startswith(names.DEEP_CONDOR_USER_KEY)
        }

    _, found = deep_check()
    assert (
        found[names.DEEP_CONDOR_USER_KEY]["ok"]
        and user in found[names.DEEP_CONDOR_USER_KEY]["line"]
    )
    age = found[f"{names.DEEP_CONDOR_USER_KEY}:age"]
    assert age["ok"] and age["fix"] is None

    # IAM's clock (the emulator's, through its replies' Date) moves past the rotation age:
    # a warning naming the fix, not a failure. An hour more than the days: the Date header
    # has whole seconds, so a check in the second the key was made reads a moment before it.
    world.emu.advance_clock((names.CONDOR_USER_KEY_MAX_AGE_DAYS + 1) * 86400 + 3600)
    _, found = deep_check()
    age = found[f"{names.DEEP_CONDOR_USER_KEY}:age"]
    assert age["ok"] and f"{names.CONDOR_USER_KEY_MAX_AGE_DAYS + 1} days old" in age["line"]
    assert age["fix"].startswith("annex-cdk credentials --rotate")

    # The key files hold a key that is not the user's: a finding, fixed by a rotation.
    key_id = public.read_text()
    public.write_text("AKIAIOSFODNN7EXAMPLE\n")
    _, found = deep_check()
    owner = found[names.DEEP_CONDOR_USER_KEY]
    assert not owner["ok"] and owner["fix"].startswith("annex-cdk credentials --rotate")
    public.write_text(key_id)
    world.run("destroy", "--yes")


def test_where_an_scp_denies_iam_users_setup_names_the_instance_profile_way(
    world: World, organization
):
    from annex_cdk.errors import EXIT_BLOCKED

    # A governed account's usual caller: an IAM user allowed everything, whom SCPs still cap.
    iam = world.client("iam")  # the root user's key
    iam.create_user(UserName="annex-admin")
    admin = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_user_policy(
        UserName="annex-admin", PolicyName="Admin", PolicyDocument=json.dumps(admin)
    )
    key = iam.create_access_key(UserName="annex-admin")["AccessKey"]
    condor = world.paths.condor_dir
    (condor / names.PUBLIC_KEY_FILE).write_text(key["AccessKeyId"] + "\n")
    (condor / names.PRIVATE_KEY_FILE).write_text(key["SecretAccessKey"] + "\n")
    organization(
        [
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}],
            }
        ]
    )
    proc = world.run("setup", "--allow-from", ALLOW, "--condor-user", check=False)
    assert proc.returncode == EXIT_BLOCKED, proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if "an SCP denies iam:CreateUser" in ln]
    assert "--condor-user" in line
    [fix] = [ln for ln in proc.stderr.splitlines() if "--from-instance" in ln]
    assert "setup --submit-host-role" in fix
    assert "lacks" not in proc.stderr  # the organization's rule, not a missing permission
    # Stopped before any change.
    assert not world.client("cloudformation").describe_stacks()["Stacks"]
    # Without --condor-user the same caller is not stopped by that SCP.
    proc = world.run("setup", "--allow-from", ALLOW, check=False)
    assert "iam:CreateUser" not in proc.stderr
