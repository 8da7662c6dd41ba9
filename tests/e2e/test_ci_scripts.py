"""The commands the GitHub Actions workflow runs, run here against the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import REGION, World

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _ci(
    world: World, script: str, **extra: str
) -> tuple[subprocess.CompletedProcess[str], str, str]:
    summary, output = world.root / "summary.md", world.root / "output.txt"
    summary.write_text("")
    output.write_text("")
    env = world.env
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        AWS_REGION=REGION,
        ANNEX_ALLOW_FROM="198.51.100.7/32 203.0.113.0/24",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(output),
        **extra,
    )
    proc = subprocess.run(
        [str(ROOT / "scripts" / "ci" / script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc, summary.read_text(), output.read_text()


def test_pull_request_diff_then_main_setup_then_clean_diff(world: World):
    proc, summary, output = _ci(world, "annex-diff")
    assert proc.returncode == 0, proc.stderr
    assert "changed=true" in output
    assert "Merging this changes the setup:" in summary and "```diff" in summary

    proc, summary, _ = _ci(world, "annex-setup")
    assert proc.returncode == 0, proc.stderr
    assert "| HTCondorAnnex-SecurityGroup | create | CREATE_COMPLETE |" in summary
    assert "Your setup looks OK." in proc.stdout  # the deep check after the deployment

    proc, summary, output = _ci(world, "annex-diff")
    assert proc.returncode == 0
    assert "changed=false" in output and "No change" in summary


def test_diff_errors_fail_the_job(world: World):
    proc, summary, _ = _ci(world, "annex-diff", AWS_ENDPOINT_URL="http://127.0.0.1:9")
    assert proc.returncode == 2
    assert "annex-cdk diff failed" in summary
