"""A re-run with nothing to change: no synthesis, and still nothing missed.

The runs that must not synthesize get a jsii that cannot start (JSII_NODE=/bin/false) and no
synthesis cache: had they synthesized, they would fail. The runs that must synthesize (a change
made elsewhere, new flags, a record not to be trusted) are shown to need it the same way; the
run after each, which converges, may take its templates from the synthesis cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annex_cdk.aws.engine import Action
from annex_cdk.ops import deployed_record
from annex_stacks import names
from tests.e2e.conftest import REGION, World

pytestmark = pytest.mark.e2e

ALLOW = ("--allow-from", "198.51.100.7/32")
NO_CACHE: dict[str, str | None] = {"ANNEX_CDK_NO_SYNTH_CACHE": "1"}
#: jsii cannot start its node process: a run that synthesizes fails.
NO_SYNTHESIS: dict[str, str | None] = {**NO_CACHE, "JSII_NODE": "/bin/false"}


def _actions(proc_stdout: str) -> dict[str, str]:
    return {name: s["action"] for name, s in json.loads(proc_stdout)["stacks"].items()}


def _record(world: World) -> Path:
    """The record this world's setups keep (the cache directory is the whole session's)."""
    env = world.env
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])
        path = deployed_record.entry(env["AWS_ENDPOINT_URL"], REGION)
    assert path.is_file()
    return path


def test_a_re_run_with_nothing_changed_neither_synthesizes_nor_deploys(world: World):
    first = world.run("setup", *ALLOW, "--json")
    assert set(_actions(first.stdout).values()) == {Action.CREATE.value}
    config = world.paths.user_config.read_bytes()

    again = world.run("setup", "--json", env=NO_SYNTHESIS)
    assert set(_actions(again.stdout).values()) == {Action.SKIP.value}
    assert json.loads(again.stdout)["ok"] is True
    assert world.paths.user_config.read_bytes() == config
    world.run("setup", *ALLOW, env=NO_SYNTHESIS)  # the same flags again: the same settings
    world.run("diff", "--exit-code", env=NO_SYNTHESIS)
    record = _record(world)
    assert record.stat().st_mode & 0o777 == 0o600
    assert record.parent.stat().st_mode & 0o777 == 0o700

    other = ("--allow-from", "198.51.100.8/32")  # new flags: a synthesis
    assert world.run("setup", *other, env=NO_SYNTHESIS, check=False).returncode != 0
    changed = world.run("setup", *other, "--json")
    assert _actions(changed.stdout)[names.SECURITY_GROUP_STACK] == Action.UPDATE.value

    world.run("destroy", "--yes")
    assert not record.exists()  # the stacks are gone, their record with them


def test_a_stack_changed_since_is_synthesized_and_converged_again(world: World):
    world.run("setup", *ALLOW)
    cfn = world.client("cloudformation")
    stack = names.SECURITY_GROUP_STACK
    body = cfn.get_template(StackName=stack)["TemplateBody"]
    # The rules only, not the settings the template records: an edit by hand.
    rules = json.dumps(body["Resources"]).replace("198.51.100.7/32", "203.0.113.9/32")
    assert rules != json.dumps(body["Resources"])
    cfn.update_stack(
        StackName=stack, TemplateBody=json.dumps({**body, "Resources": json.loads(rules)})
    )

    blind = world.run("diff", "--exit-code", env=NO_SYNTHESIS, check=False)
    assert blind.returncode not in (0, 1), "diff told a changed stack without synthesizing"
    assert world.run("diff", "--exit-code", check=False).returncode == 1
    repaired = world.run("setup", "--json")
    assert _actions(repaired.stdout)[stack] == Action.UPDATE.value
    assert "198.51.100.7/32" in json.dumps(cfn.get_template(StackName=stack)["TemplateBody"])
    world.run("setup", env=NO_SYNTHESIS)  # and now it is the same again


def test_a_record_not_to_be_trusted_means_a_synthesis_and_is_written_anew(world: World):
    world.run("setup", *ALLOW)
    record = _record(world)
    record.chmod(0o666)  # others could write it
    proc = world.run("setup", env=NO_SYNTHESIS, check=False)
    assert proc.returncode != 0 and "ignoring the record of the last setup" in proc.stderr
    world.run("setup")
    record.write_bytes(b"\xff\x00{not json")  # damaged
    assert world.run("setup", env=NO_SYNTHESIS, check=False).returncode != 0
    proc = world.run("setup")
    assert "Traceback" not in proc.stderr
    assert record.stat().st_mode & 0o777 == 0o600
    world.run("setup", env=NO_SYNTHESIS)


def _listed(world: World) -> dict[str, list[list[str]]]:
    return dict(json.loads(_record(world).read_text())["resources"])


def test_a_re_run_reads_the_resources_the_record_names_beside_their_lists(world: World):
    """After a deploy the record names no resources: the first re-run lists them, reads them
    and records them; later re-runs read those at once. What they read is what each stack
    lists now: a resource deleted by hand since is found, and a record naming others (edited)
    changes nothing but the time it takes."""
    world.run("setup", *ALLOW)
    assert _listed(world) == {}
    world.run("setup", "--json", env=NO_SYNTHESIS)
    listed = _listed(world)
    cfn = world.client("cloudformation")
    for stack, resources in listed.items():
        names_now = {
            r["PhysicalResourceId"]
            for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
        }
        assert {physical for _, _, physical in resources} <= names_now
    [[_, _, group]] = listed[names.SECURITY_GROUP_STACK]

    # A record naming a resource that is not the stack's: it is read, and its answer ignored.
    edited = json.loads(_record(world).read_text())
    edited["resources"][names.SECURITY_GROUP_STACK] = [
        ["SecurityGroup", "AWS::EC2::SecurityGroup", "sg-00000000000000000"]
    ]
    _record(world).write_text(json.dumps(edited))
    again = world.run("setup", "--json", env=NO_SYNTHESIS)
    assert set(_actions(again.stdout).values()) == {Action.SKIP.value}
    assert _listed(world) == listed  # recorded as listed, not as edited

    # The group the record names, deleted by hand: the re-run reads it at once, finds it gone,
    # and takes the full path, which stops at the loss without --yes.
    world.client("ec2").delete_security_group(GroupId=group)
    blocked = world.run("setup", check=False)
    assert blocked.returncode == 7 and "deleted outside annex-cdk" in blocked.stderr
    assert group in blocked.stderr
