"""`annex-cdk diff`: what setup would change, and the CI exit-code contract."""

from __future__ import annotations

import json

import pytest

from annex_cdk.templates.change_set import NO_DETAILS, TEMPLATE
from annex_stacks import names
from tests.e2e.conftest import REGION, World

pytestmark = pytest.mark.e2e


def test_the_setup_after_a_diff_takes_its_synthesis_from_the_cache(world: World):
    # Settings no other test uses, so no one else synthesized them before.
    flags = ("--allow-from", "198.51.100.77/32", "--tag", "team=diff-then-setup")
    world.run("diff", *flags, "--exit-code", check=False)
    report = json.loads(world.run("setup", *flags, "--json").stdout)
    assert report["synth_cached"] is True


def test_diff_exit_codes_track_setup(world: World):
    fresh = world.run("diff", "--allow-from", "198.51.100.7/32", "--exit-code", check=False)
    assert fresh.returncode == 1  # nothing deployed yet: every stack would be created
    assert "+ " in fresh.stdout

    world.run("setup", "--allow-from", "198.51.100.7/32")
    assert world.run("diff", "--exit-code", check=False).returncode == 0

    change = world.run(
        "diff", "--allow-from", "203.0.113.0/24", "--no-ssh", "--exit-code", check=False
    )
    assert change.returncode == 1
    assert "~ SecurityGroup (AWS::EC2::SecurityGroup)" in change.stdout
    assert "+ tcp 9618 from 203.0.113.0/24" in change.stdout
    assert "- tcp 22 from 198.51.100.7/32" in change.stdout
    data = json.loads(world.run("diff", "--allow-from", "203.0.113.0/24", "--json").stdout)
    changed = {n for n, s in data["stacks"].items() if s["changed"]}
    assert changed == {names.SECURITY_GROUP_STACK}
    # diff asked CloudFormation (the emulator) for a change set, which has no per-resource
    # replacement details there: the template diff, saying so (real AWS: tests/unit/
    # test_change_set_diff.py).
    sg = data["stacks"][names.SECURITY_GROUP_STACK]
    assert (sg["source"], sg["source_note"]) == (TEMPLATE, NO_DETAILS), sg
    assert f"  (from the template diff: {NO_DETAILS})" in change.stdout.splitlines()

    world.run("setup", "--allow-from", "203.0.113.0/24", "--no-ssh")
    assert world.run("diff", "--exit-code", check=False).returncode == 0


def test_diff_flags_a_key_pair_replacement_as_dangerous(world: World):
    world.run("setup", "--allow-from", "198.51.100.7/32")
    proc = world.run("diff", "--key-name", "another-key", "--exit-code", check=False)
    assert proc.returncode == 1
    assert "KeyPair (AWS::EC2::KeyPair) will be REPLACED" in proc.stdout
    assert "DANGEROUS" in proc.stdout


def test_diff_errors_exit_2_with_exit_code(world: World):
    proc = world.run("diff", "--exit-code", "--endpoint-url", "http://127.0.0.1:9", check=False)
    assert proc.returncode == 2
    assert "cannot reach" in proc.stderr


def test_diff_shows_what_setup_does_with_a_stack_no_longer_wanted(world: World):
    """One plan: the key pair stack left behind by --reuse-key-pair is kept, not "deleted"."""
    world.run("setup", "--allow-from", "198.51.100.7/32")
    material = world.client("ec2").create_key_pair(KeyName="my-key")["KeyMaterial"]
    pem = world.paths.pem(REGION, "my-key")
    pem.parent.mkdir(parents=True, exist_ok=True)
    pem.write_text(material)
    pem.chmod(0o600)
    world.run("setup", "--key-name", "my-key", "--reuse-key-pair")
    proc = world.run("diff", "--exit-code", check=False)
    assert proc.returncode == 0, proc.stdout
    assert f"Stack {names.KEY_PAIR_STACK}: deployed, no longer managed" in proc.stdout
    assert "DANGEROUS" not in proc.stdout
    report = json.loads(world.run("setup", "--json").stdout)
    assert names.KEY_PAIR_STACK not in report["stacks"]  # left alone, as diff said
    status = world.client("cloudformation").describe_stacks(StackName=names.KEY_PAIR_STACK)
    assert status["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
