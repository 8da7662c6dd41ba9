"""`check-setup --deep` finds what changed behind annex-cdk's back and names the fix."""

from __future__ import annotations

import json

import pytest

from annex_stacks import names
from tests.e2e.conftest import REGION, World

pytestmark = pytest.mark.e2e


def test_deep_check_finds_drift_and_names_the_fix(world: World):
    world.run("setup", "--allow-from", "198.51.100.7/32")
    clean = world.run("check-setup", "--deep")
    assert "Checking the ingress rules of" in clean.stdout
    assert clean.stdout.splitlines()[-1] == "Your setup looks OK."

    cfn = world.client("cloudformation")
    [sg_stack] = cfn.describe_stacks(StackName=names.SECURITY_GROUP_STACK)["Stacks"]
    sg = {o["OutputKey"]: o["OutputValue"] for o in sg_stack["Outputs"]}[names.OUT_SECURITY_GROUP]
    ec2 = world.client("ec2")
    ec2.authorize_security_group_ingress(
        GroupId=sg, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )
    text = world.paths.user_config.read_text()
    key = f"{names.local_name(REGION)}.{names.KEY_S3_BUCKET}"
    world.paths.user_config.write_text(text + f"{key} = somebody-elses-bucket\n")

    found = world.run("check-setup", "--deep", "--json", check=False)
    assert found.returncode == 1
    report = json.loads(found.stdout)
    failed = {c["name"]: c for c in report["checks"] if not c["ok"]}
    assert "extra rule tcp 22-22 from 0.0.0.0/0" in failed["deep:security-group"]["detail"]
    assert failed["deep:security-group"]["fix"].startswith(
        f"aws ec2 revoke-security-group-ingress --region {REGION} --group-id {sg}"
    )
    assert "somebody-elses-bucket" in failed["deep:config"]["detail"]
    assert "set again at" in failed["deep:config"]["detail"]

    # Carry out the named fixes; the check is then clean again.
    ec2.revoke_security_group_ingress(
        GroupId=sg, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )
    world.paths.user_config.write_text(text)
    again = world.run("check-setup", "--deep")
    assert again.stdout.splitlines()[-1] == "Your setup looks OK."


def test_deep_check_finds_a_foreign_pem(world: World):
    world.run("setup", "--allow-from", "198.51.100.7/32")
    pem = world.paths.pem(REGION, names.KEY_PAIR_NAME)
    pem.write_text("-----BEGIN RSA PRIVATE KEY-----\nnot it\n-----END RSA PRIVATE KEY-----\n")
    proc = world.run("check-setup", "--deep", check=False)
    assert proc.returncode == 1
    assert "it holds another key" in proc.stdout
    assert "annex-cdk write-config" in proc.stdout


def test_check_setup_on_the_access_point_side(world: World):
    """24.11.2+: says which HTCondor, needs ~/.hpc-annex, warns about HTCondor's 2019 image."""
    world.run("setup", "--allow-from", "198.51.100.7/32")
    proc = world.run("check-setup", "--deep", "--htcondor-version", "25.0", "--json", check=False)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    failed = [c["name"] for c in report["checks"] if not c["ok"]]
    assert failed == ["hpc-annex-dir"]
    [image] = [w for w in report["warnings"] if names.KEY_ODI_IMAGE_ID in w]
    assert "built-in default" in image
    (world.paths.home / names.HPC_ANNEX_DIR).mkdir()
    text = world.run("check-setup", "--deep", "--htcondor-version", "25.0").stdout.splitlines()
    assert "Found HTCondor 25.0 (from --htcondor-version): access-point path" in text[1]
    assert text[-1] == "Your setup looks OK."
    classic = world.run("check-setup", "--htcondor-version", "24.0").stdout
    assert "classic path, condor_annex" in classic and "Warning" not in classic
