"""Hostile state on AWS and on disk, end to end: a lock holder that writes terminal escapes,
destroy's journal planted as a link, a directory or a lie, an endpoint with a password."""

from __future__ import annotations

import json
import time

import pytest

from annex_cdk import errors
from annex_stacks import names
from tests.e2e.conftest import REGION, World

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
