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
