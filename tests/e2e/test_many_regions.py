"""Several --region in one command: the regions at once, one summary, each region's own block."""

from __future__ import annotations

import json

import boto3
import pytest
from jsonschema import validate

from annex_cdk.condor.user_config import block_values
from annex_stacks import names
from annex_stacks.stack_specs import CORE_STACKS
from tests import json_schemas
from tests.e2e.conftest import World

pytestmark = pytest.mark.e2e

ALLOW = ("--allow-from", "198.51.100.7/32")
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
FLAGS = tuple(arg for region in REGIONS for arg in ("--region", region))
NO_REGION_ENV = {"AWS_REGION": None, "AWS_DEFAULT_REGION": None}


def client(world: World, service: str, region: str) -> object:
    return boto3.client(service, **{**world.emu.boto3_kwargs(), "region_name": region})


def stacks_in(world: World, region: str) -> set[str]:
    cfn = client(world, "cloudformation", region)
    return {
        s["StackName"]
        for s in cfn.describe_stacks()["Stacks"]  # type: ignore[attr-defined]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }


def effective_region(world: World) -> str | None:
    return world.paths.effective([names.KEY_REGION], REGIONS[0])[names.KEY_REGION]


def test_setup_check_write_config_and_destroy_in_three_regions(world: World):
    setup = world.run("setup", *ALLOW, *FLAGS, "--json", env=NO_REGION_ENV, timeout=900)
    report = json.loads(setup.stdout)
    validate(report, json_schemas.regional(json_schemas.SETUP, default_region={"type": "string"}))
    assert report["ok"] and report["default_region"] == REGIONS[0]
    assert set(report["regions"]) == set(REGIONS)
    text = world.paths.user_config.read_text()
    for region in REGIONS:
        assert report["regions"][region]["ok"]
        assert stacks_in(world, region) == set(CORE_STACKS)
        values = block_values(text, region)
        # condor_annex reads <region_>.ANNEX_DEFAULT_* in that region (its local name).
        assert values[names.KEY_S3_BUCKET] == f"htcondor-annex-123456789012-{region}"
        assert f"{names.local_name(region)}.{names.KEY_SECURITY_GROUP_IDS} = sg-" in text
        assert world.paths.pem(region, names.KEY_PAIR_NAME).stat().st_mode & 0o777 == 0o600
    assert text.count(f"{names.KEY_REGION} =") == 1
    assert effective_region(world) == REGIONS[0]

    check = world.run("check-setup", *FLAGS, env=NO_REGION_ENV)
    for region in REGIONS:
        assert f"Will check setup in region '{region}'." in check.stdout
    assert check.stdout.count("Your setup looks OK.") == len(REGIONS)

    world.run("write-config", *FLAGS, "--default-region", REGIONS[1], env=NO_REGION_ENV)
    assert effective_region(world) == REGIONS[1]
    assert world.paths.user_config.read_text().count(f"{names.KEY_REGION} =") == 1

    destroyed = world.run("destroy", "--yes", *FLAGS, "--json", env=NO_REGION_ENV, timeout=900)
    gone = json.loads(destroyed.stdout)
    validate(gone, json_schemas.regional(json_schemas.DESTROY))
    assert gone["ok"]
    for region in REGIONS:
        assert gone["regions"][region]["leftovers"] == []
        assert stacks_in(world, region) == set()
        assert not world.paths.pem(region, names.KEY_PAIR_NAME).exists()
    # The file had nothing but annex-cdk's blocks: it is gone, as before the first setup.
    assert not world.paths.user_config.exists()


def test_a_failed_region_leaves_the_others_done_and_a_re_run_finishes(world: World):
    # Somebody's own key pair in one region: setup refuses that region before any change.
    ec2 = client(world, "ec2", REGIONS[1])
    ec2.create_key_pair(KeyName=names.KEY_PAIR_NAME)  # type: ignore[attr-defined]
    first = world.run(
        "setup", *ALLOW, *FLAGS, "--json", env=NO_REGION_ENV, check=False, timeout=900
    )
    assert first.returncode == 2, first.stderr  # the failed region's usage error
    report = json.loads(first.stdout)
    validate(report, json_schemas.regional(json_schemas.SETUP, default_region={"type": "string"}))
    assert not report["ok"]
    failed = report["regions"][REGIONS[1]]
    assert failed["ok"] is False and "already exists" in failed["error"]["message"]
    assert f"annex-cdk: {REGIONS[1]}:" in first.stderr
    for region in (REGIONS[0], REGIONS[2]):
        assert report["regions"][region]["ok"]
        assert stacks_in(world, region) == set(CORE_STACKS)
    assert stacks_in(world, REGIONS[1]) == set()
    text = world.paths.user_config.read_text()
    assert block_values(text, REGIONS[0]) and block_values(text, REGIONS[2])
    assert not block_values(text, REGIONS[1])

    ec2.delete_key_pair(KeyName=names.KEY_PAIR_NAME)  # type: ignore[attr-defined]
    again = world.run("setup", *ALLOW, *FLAGS, env=NO_REGION_ENV, timeout=900)
    lines = again.stdout.splitlines()
    for region in REGIONS:
        [line] = [x for x in lines if x.startswith(region)]
        assert "done" in line
    # The regions done before had nothing left to do.
    for region in (REGIONS[0], REGIONS[2]):
        [line] = [x for x in lines if x.startswith(region)]
        assert "0 stack(s) changed" in line
    assert stacks_in(world, REGIONS[1]) == set(CORE_STACKS)


def test_region_flags_are_checked_before_anything_runs(world: World):
    bad = world.run("setup", *ALLOW, *FLAGS, "--default-region", "ap-south-1", check=False)
    assert bad.returncode == 2 and "--default-region ap-south-1" in bad.stderr
    wrong = world.run("setup", *ALLOW, "--region", "us-east-1", "--region", "mars-1", check=False)
    assert wrong.returncode == 2 and "mars-1" in wrong.stderr
    one = world.run("unlock", "--yes", *FLAGS, check=False)
    assert one.returncode == 2 and "takes one --region" in one.stderr
    for region in REGIONS:
        assert stacks_in(world, region) == set()
