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
