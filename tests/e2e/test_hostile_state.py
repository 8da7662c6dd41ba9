"""Hostile state on AWS and on disk, end to end: a lock holder that writes terminal escapes,
destroy's journal planted as a link, a directory or a lie, an endpoint with a password."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from annex_cdk import errors
from annex_stacks import names
from tests.e2e.conftest import CLI, REGION, World
from tests.e2e.test_hangs_and_locks import _children

pytestmark = pytest.mark.e2e
ALLOW = ("--allow-from", "198.51.100.7/32")
ESC = "\x1b"


def _stacks(world: World) -> set[str]:
    return {s["StackName"] for s in world.client("cloudformation").describe_stacks()["Stacks"]}


def test_unlock_off_a_terminal_names_the_holder_with_its_escapes_shown(world: World):
    ssm = world.client("ssm")
    holder = {
        "host": f"ci-runner-7{ESC}]0;owned{ESC}\\{ESC}[2J",
        "purpose": f"destroy{ESC}[8m",
        "pid": 4242,
        "since": time.time(),
        "token": "t",
    }
    ssm.put_parameter(Name=names.LOCK_PARAMETER, Value=json.dumps(holder), Type="String")
    asked = world.run("unlock", check=False)  # not a terminal, no --yes
    assert asked.returncode == errors.EXIT_USAGE
    assert "ci-runner-7\\x1b]0;owned" in asked.stderr and "pid 4242" in asked.stderr
    assert "--yes" in asked.stderr
    removed = world.run("unlock", "--yes")
    for output in (asked.stdout, asked.stderr, removed.stdout, removed.stderr):
        assert ESC not in output
    assert "destroy\\x1b[8m is running" in removed.stdout
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=names.LOCK_PARAMETER)


def test_destroys_journal_is_checked_before_anything_is_deleted(world: World):
    world.run("setup", *ALLOW)
    before = _stacks(world)
    condor = world.paths.condor_dir
    journal = condor / f".annex-cdk-destroy.{REGION}.json"
    victim = world.root / "victim"
    victim.write_bytes(b"keep me\n")
    plants = {
        "a link": lambda: journal.symlink_to(victim),
        "a directory": lambda: journal.mkdir(),
        "a journal naming ../victim": lambda: journal.write_text(
            json.dumps({"key_name": "../victim", "pem_sha256": "0" * 64})
        ),
    }
    for what, plant in plants.items():
        plant()
        proc = world.run("destroy", "--yes", check=False)
        assert proc.returncode == errors.EXIT_LOCAL_FILES, (what, proc.stderr)
        assert str(journal) in proc.stderr and "--key-name" not in proc.stderr, what
        assert "Traceback" not in proc.stderr
        assert _stacks(world) == before, what  # nothing deleted on AWS, the bucket kept
        assert victim.read_bytes() == b"keep me\n"
        journal.rmdir() if journal.is_dir() and not journal.is_symlink() else journal.unlink()
    proc = world.run("destroy", "--yes")
    assert not journal.exists() and victim.read_bytes() == b"keep me\n"


@pytest.mark.parametrize("command", ["diff", "setup"])
def test_sigterm_during_synthesis_under_json_is_the_json_error_document(
    world: World, tmp_path: Path, command: str
):
    """CI cancels with TERM, to the step's process only: still exit 130 and, under --json, the
    error document a pipeline parses (stdout was empty)."""
    env = world._env({"XDG_CACHE_HOME": str(tmp_path / "no-cache")})
    args = [str(CLI), command, *ALLOW, "--json", *(["--yes"] if command == "setup" else [])]
    proc = subprocess.Popen(
        args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240  # a margin against a hang, not a time window
    while "node" not in _children(proc.pid):  # jsii has started: synthesis is under way
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == errors.EXIT_INTERRUPTED, err
    document = json.loads(out)
    assert document["ok"] is False and document["error"]["exit_code"] == errors.EXIT_INTERRUPTED
    assert "Traceback" not in err


@pytest.mark.parametrize("debug", [("--debug",), ()])
@pytest.mark.parametrize("how", ["flag", "environment"])
def test_debug_changes_neither_the_exit_code_nor_the_json_document(
    world: World, debug: tuple[str, ...], how: str
):
    """diff --exit-code promises 2 for any error: a CI gate reads it. --debug (or
    ANNEX_CDK_DEBUG=1) adds the traceback on stderr, nothing else."""
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens: exit 4, made 2
    flags = debug if how == "flag" else ()
    if debug and how == "environment":
        env["ANNEX_CDK_DEBUG"] = "1"
    proc = world.run(*flags, "diff", *ALLOW, "--exit-code", "--json", env=env, check=False)
    assert proc.returncode == 2, proc.stderr
    document = json.loads(proc.stdout)
    assert document["ok"] is False and document["error"]["kind"] == "EndpointError"
    assert ("Traceback" in proc.stderr) == bool(debug)


def _foreign_stack(world: World, name: str) -> None:
    """A stack another tool named HTCondorAnnex-*: a parameter and a topic of its own."""
    template = {
        "Description": "team-x alerting",
        "Resources": {
            "Setting": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/team-x/threshold", "Type": "String", "Value": "42"},
            },
            "Alerts": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "team-x-alerts"}},
        },
    }
    world.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def _foreign_intact(world: World) -> bool:
    value = world.client("ssm").get_parameter(Name="/team-x/threshold")["Parameter"]["Value"]
    topics = world.client("sns").list_topics()["Topics"]
    return value == "42" and any(t["TopicArn"].endswith(":team-x-alerts") for t in topics)


def test_a_stack_we_did_not_make_is_changed_only_with_a_named_consent(world: World):
    stack = names.SECURITY_GROUP_STACK
    _foreign_stack(world, stack)
    diff = world.run("diff", *ALLOW, "--json", check=False)
    document = json.loads(diff.stdout)
    assert document["stacks"][stack]["dangerous"] is True, diff.stdout
    text = world.run("diff", *ALLOW, check=False).stdout
    assert "DANGEROUS: not annex-cdk's" in text and "team-x alerting" in text

    proc = world.run("setup", *ALLOW, "--yes", check=False)
    assert proc.returncode == errors.EXIT_BLOCKED, proc.stderr
    assert f"--take-over {stack}" in proc.stderr and "Traceback" not in proc.stderr
    assert _foreign_intact(world)
    assert _stacks(world) == {stack}  # nothing else deployed either

    world.run("setup", *ALLOW, "--yes", "--take-over", stack)
    assert names.KEY_PAIR_STACK in _stacks(world)


def test_destroy_deletes_a_stack_we_did_not_make_only_with_a_named_consent(world: World):
    world.run("setup", *ALLOW)
    _foreign_stack(world, names.IMAGE_STACK)
    before = _stacks(world)
    proc = world.run("destroy", "--yes", check=False)
    assert proc.returncode == errors.EXIT_BLOCKED, proc.stderr
    assert f"--take-over {names.IMAGE_STACK}" in proc.stderr
    assert _stacks(world) == before and _foreign_intact(world)  # nothing deleted at all
    world.run("destroy", "--yes", "--take-over", names.IMAGE_STACK)
    assert _stacks(world) == set()


def test_key_files_setup_was_given_are_found_by_every_later_command(world: World):
    """condor_annex reads ANNEX_DEFAULT_*_KEY_FILE from user_config: so do check-setup,
    write-config and destroy, with no credentials in the environment and none in ~/.condor."""
    keys = world.root / "keys"
    keys.mkdir(mode=0o700)
    condor = world.paths.condor_dir
    for name, new in ((names.PUBLIC_KEY_FILE, "id"), (names.PRIVATE_KEY_FILE, "secret")):
        (condor / name).rename(keys / new)
    no_env = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
    files = ("--access-key-file", str(keys / "id"), "--secret-key-file", str(keys / "secret"))
    world.run("setup", *ALLOW, *files, env=no_env)
    for command in (("check-setup",), ("write-config",), ("destroy", "--yes")):
        proc = world.run(*command, env=no_env, check=False)
        assert proc.returncode == 0, (command, proc.stderr)
        assert "no AWS credentials found" not in proc.stderr
    assert _stacks(world) == set()


def test_update_rollback_failed_diff_and_setup_agree_and_yes_continues_the_rollback(
    world: World,
):
    """A stack whose update rollback failed takes no update and no delete: diff says what
    setup will do, setup refuses with the same sentence, and --yes runs CloudFormation's
    ContinueUpdateRollback, then the update."""
    world.run("setup", *ALLOW)
    stack = names.SECURITY_GROUP_STACK
    world.emu.faults(rollback_failed={stack: "Resource SecurityGroup failed to roll back"})
    moved = ("--allow-from", "203.0.113.9/32")
    diff = world.run("diff", *moved, check=False)
    [line] = [x for x in diff.stdout.splitlines() if x.startswith(f"! {stack}:")]
    promise = "setup --yes continues its rollback (CloudFormation's ContinueUpdateRollback)"
    assert "UPDATE_ROLLBACK_FAILED" in line and promise in line
    refused = world.run("setup", *moved, check=False)
    assert refused.returncode == errors.EXIT_BLOCKED and promise in refused.stderr
    assert "console" not in refused.stderr
    world.run("setup", *moved, "--yes")
    [status] = [
        s["StackStatus"]
        for s in world.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    ]
    assert status == "UPDATE_COMPLETE"
    assert world.run("diff", *moved, "--exit-code", check=False).returncode == 0
