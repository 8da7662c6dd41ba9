"""`setup --build-image` on the emulator: the image stack completes, user_config names an AMI
that exists and boots (RunInstances), and destroy leaves no image or snapshot behind."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from annex_cdk.condor import parser as condor_config
from annex_cdk.ops import image_check
from annex_stacks import names
from tests.e2e.conftest import REGION, World

ALLOW = "198.51.100.7/32"

pytestmark = pytest.mark.e2e


def _image_key(world: World) -> str | None:
    """What condor_annex would start instances from (the real parser, as condor_annex reads)."""
    found = condor_config.effective_values(
        [world.paths.user_config], [names.KEY_ODI_IMAGE_ID], REGION
    )
    return found[names.KEY_ODI_IMAGE_ID]


def test_build_image_setup_boot_and_destroy(world: World):
    proc = world.run(
        "setup", "--allow-from", ALLOW, "--build-image", "--image-htcondor", "24.0", "--json"
    )
    report = json.loads(proc.stdout)
    image_stack = report["stacks"][names.IMAGE_STACK]
    assert image_stack["status"] == "CREATE_COMPLETE"
    image_id = image_stack["outputs"][names.OUT_IMAGE_ID]

    # The config names the AMI, and the AMI exists, available, tagged with its series.
    assert _image_key(world) == image_id
    ec2 = world.client("ec2")
    (image,) = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert image["State"] == "available"
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert tags[names.TAG_HTCONDOR_SERIES] == "24.0"
    assert tags[names.TAG_IMAGE_STACK] == names.IMAGE_STACK

    # An annex instance starts from it, as condor_annex's RunInstances would.
    started = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="m5.large")
    instance = started["Instances"][0]
    assert instance["ImageId"] == image_id
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])

    # A re-run without the flag keeps the image stack (its settings are recorded), untouched.
    again = json.loads(world.run("setup", "--json").stdout)
    assert again["stacks"][names.IMAGE_STACK]["action"] == "unchanged"
    assert again["settings"][names.CTX_IMAGE_HTCONDOR] == "24.0"

    snapshots = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]]
    destroyed = json.loads(world.run("destroy", "--yes", "--json").stdout)
    assert destroyed["stacks"][names.IMAGE_STACK]["status"] == "DELETE_COMPLETE"
    assert image_id in destroyed["images_removed"]
    assert destroyed["leftovers"] == []
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    owned = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert not {s["SnapshotId"] for s in owned} & set(snapshots)
    # HTCondor's own per-region default (a 2019 image) is what is left, not ours.
    assert _image_key(world) != image_id


def test_keep_image_keeps_the_ami(world: World):
    world.run("setup", "--allow-from", ALLOW, "--build-image")
    cfn = world.client("cloudformation")
    (stack,) = cfn.describe_stacks(StackName=names.IMAGE_STACK)["Stacks"]
    image_id = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}[names.OUT_IMAGE_ID]
    destroyed = json.loads(world.run("destroy", "--yes", "--keep-image", "--json").stdout)
    assert destroyed["images_removed"] == []
    (image,) = world.client("ec2").describe_images(ImageIds=[image_id])["Images"]
    assert image["State"] == "available"


def _image_finding(world: World, *flags: str) -> dict[str, Any]:
    proc = world.run("check-setup", "--deep", "--json", *flags, check=False)
    report = json.loads(proc.stdout)
    [found] = [c for c in report["checks"] if c["name"] == image_check.CHECK_NAME]
    assert proc.returncode == (0 if found["ok"] else 1), proc.stdout
    return found


def test_deep_check_of_the_image_names_each_fix(world: World):
    """Good -> OK; the other HTCondor side -> a rebuild of the fitting series; deregistered by
    hand -> a rebuild with a new recipe version; and each named fix, carried out, repairs it."""
    (world.paths.home / names.HPC_ANNEX_DIR).mkdir()  # the access point's own check passes
    world.run("setup", "--allow-from", ALLOW, "--build-image", "--image-htcondor", "24.0")
    image_id = _image_key(world)
    assert _image_finding(world, "--htcondor-version", "24.0")["ok"]

    wrong = _image_finding(world, "--htcondor-version", "25.0")
    assert not wrong["ok"]
    assert "carries HTCondor 24.0 (classic path)" in wrong["detail"]
    assert wrong["fix"] == f"annex-cdk setup --region {REGION} --build-image --image-htcondor 25.x"

    world.client("ec2").deregister_image(ImageId=image_id)
    gone = _image_finding(world, "--htcondor-version", "24.0")
    assert not gone["ok"]
    assert f"no such image in {REGION}" in gone["detail"]
    next_version = image_check.next_image_version({})
    assert gone["fix"] == (
        f"annex-cdk setup --region {REGION} --build-image --image-version {next_version}"
    )
    world.run(*shlex.split(gone["fix"])[1:])
    assert _image_key(world) != image_id
    assert _image_finding(world, "--htcondor-version", "24.0")["ok"]

    world.run(*shlex.split(wrong["fix"])[1:])
    assert _image_finding(world, "--htcondor-version", "25.0")["ok"]


def test_diff_shows_a_rebuild_as_replacements_of_the_image_only(world: World):
    world.run("setup", "--allow-from", ALLOW, "--build-image", "--image-htcondor", "24.0")
    for flags, replaced in (
        (("--image-version", "1.0.1"), {names.LID_IMAGE_RECIPE, names.LID_IMAGE}),
        (
            ("--image-htcondor", "25.x"),
            {names.LID_IMAGE_COMPONENT, names.LID_IMAGE_RECIPE, names.LID_IMAGE},
        ),
    ):
        proc = world.run("diff", *flags, "--json", "--exit-code", check=False)
        assert proc.returncode == 1, proc.stderr
        stacks = json.loads(proc.stdout)["stacks"]
        assert {n for n, s in stacks.items() if s["changed"]} == {names.IMAGE_STACK}
        image = stacks[names.IMAGE_STACK]
        assert {
            r["logical_id"] for r in image["resources"] if r["replacement"] != "no"
        } == replaced, image
        assert not any(r["dangerous"] for r in image["resources"])
        text = world.run("diff", *flags).stdout
        # "may be": the image's replacing property refers to the recipe, which is replaced.
        assert (
            f"! {names.LID_IMAGE_RECIPE} (AWS::ImageBuilder::ImageRecipe) will be REPLACED" in text
        )
        assert f"! {names.LID_IMAGE} (AWS::ImageBuilder::Image) may be REPLACED" in text
        assert "DANGEROUS" not in text


def test_an_image_that_is_not_available_is_a_finding_with_its_fix(world: World):
    """EC2 reports an image pending while it is built and failed or invalid after a broken
    build (DescribeImages' ImageState); only `available` boots annex instances."""
    (world.paths.home / names.HPC_ANNEX_DIR).mkdir()
    world.run("setup", "--allow-from", ALLOW, "--build-image", "--image-htcondor", "24.0")
    image_id = _image_key(world)
    for state in ("pending", "failed", "invalid", "error"):
        world.emu.faults(image_states={image_id: state})
        found = _image_finding(world, "--htcondor-version", "24.0")
        assert not found["ok"], state
        assert f"its state is '{state}', not 'available'" in found["detail"]
        if state == "pending":
            assert found["fix"].startswith("wait for the image to finish building")
        else:
            assert found["fix"].startswith(f"annex-cdk setup --region {REGION} --build-image")
    world.emu.faults(image_states={image_id: "available"})
    assert _image_finding(world, "--htcondor-version", "24.0")["ok"]
