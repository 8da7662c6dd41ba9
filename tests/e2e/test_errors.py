"""Bad input and unreachable AWS: one line, a non-zero exit code, no traceback, no change."""

from __future__ import annotations

import shutil
import time

import pytest

from annex_cdk import errors
from annex_cdk.ops.annex_lease_rehearsal import ANNEX_KINDS, ANNEX_STEP
from annex_cdk.ops.guardrail_rehearsal import GUARDRAIL_STEP
from annex_stacks.facade import CONTEXT_FILE
from tests.conftest import ROOT
from tests.e2e.conftest import World

pytestmark = pytest.mark.e2e


def test_unreachable_endpoint_is_one_line_and_fast(world: World):
    t0 = time.monotonic()
    proc = world.run(
        "setup",
        "--allow-from",
        "198.51.100.7/32",
        "--endpoint-url",
        "http://127.0.0.1:9",
        check=False,
    )
    assert proc.returncode == errors.EXIT_ENDPOINT
    assert "cannot reach http://127.0.0.1:9" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - t0 < 20
    assert not world.paths.user_config.exists()


def test_bad_cidr_names_the_setting(world: World):
    proc = world.run("setup", "--allow-from", "198.51.100.300/32", check=False)
    assert proc.returncode == errors.EXIT_USAGE
    assert "allowed_cidrs" in proc.stderr and "Traceback" not in proc.stderr
    assert world.client("cloudformation").describe_stacks()["Stacks"] == []


def test_unknown_option_is_a_usage_error(world: World):
    proc = world.run("setup", "--no-such-flag", check=False)
    assert proc.returncode == 2
    assert "No such option" in proc.stderr


def test_check_setup_before_setup_fails_with_condor_annex_lines(world: World):
    proc = world.run("check-setup", check=False)
    assert proc.returncode == 1
    assert "Checking for configuration bucket... missing." in proc.stdout
    assert "\tANNEX_DEFAULT_S3_BUCKET is unset." in proc.stdout


def test_destroy_without_yes_off_a_terminal_refuses(world: World):
    proc = world.run("destroy", check=False)
    assert proc.returncode == errors.EXIT_USAGE
    assert "--yes" in proc.stderr


def test_rehearse_runs_the_whole_path(world: World):
    # Run where a user runs the demo: in a CDK project (the checkout holds cdk.json).
    project = world.root / "project"
    project.mkdir()
    shutil.copy(ROOT / "cdk.json", project / "cdk.json")
    proc = world.run("rehearse", timeout=600, cwd=project)
    assert "Rehearsal passed" in proc.stdout
    # Its scratch settings never reach the project's context for plain `cdk`.
    assert not (project / CONTEXT_FILE).exists()
    steps = ("setup", "check-setup", "setup (no-op re-run)", ANNEX_STEP, GUARDRAIL_STEP, "destroy")
    for step in steps:
        assert any(
            line.startswith(step) and line.endswith(" s") for line in proc.stdout.splitlines()
        )
    # The annex phase: condor_annex's calls replayed, the lease extended as -duration does
    # (no bucket in the input), the deployed lease function run after the lease ran out.
    annex_lines = [line for line in proc.stderr.splitlines() if line.lstrip().startswith("[")]
    assert "FAILED" not in proc.stderr
    for kind, _ in ANNEX_KINDS:
        mine = [line for line in annex_lines if f"[{kind}]" in line]
        assert any("'S3BucketName': ''" in line for line in mine), mine
        for what in ("instances terminated", "lease rule deleted", "config tarball deleted"):
            assert any(line.endswith(f"ok: {what}") for line in mine), (what, mine)
        assert any("untouched" in line and "ok:" in line for line in mine), mine
    # The guardrail phase: a burst drained to the cap by the deployed schedule, a launch
    # refused by the Deny, a stale heartbeat that drains the rest.
    guard = [line for line in annex_lines if "[guardrail]" in line]
    for what in (
        "drained to the cap, newest annex first",
        "a new annex launch refused by the Deny while over the cap",
        "a stale heartbeat drained every annex",
    ):
        assert any(line.endswith(f"ok: {what}") for line in guard), (what, guard)
