"""The example GitHub Actions workflow: linted, pinned, keyless."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "annex-cdk.yml"
SCRIPTS = sorted((ROOT / "scripts" / "ci").iterdir())
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_actionlint_is_clean():
    # shellcheck sits next to actionlint, so the `run:` blocks are checked too.
    proc = _run(str(BIN / "actionlint"), str(WORKFLOW))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_scripts_pass_shellcheck():
    proc = _run(str(BIN / "shellcheck"), *map(str, SCRIPTS), "scripts/install", ".ci/run")
    assert proc.returncode == 0, proc.stdout


def test_actions_are_pinned_by_sha_and_aws_access_is_oidc():
    doc = yaml.safe_load(WORKFLOW.read_text())
    uses = [step["uses"] for job in doc["jobs"].values() for step in job["steps"] if "uses" in step]
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
    text = WORKFLOW.read_text()
    assert "AWS_SECRET_ACCESS_KEY" not in text and "secrets." not in text
    for job in doc["jobs"].values():
        assert job["permissions"]["id-token"] == "write"
        creds = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
        assert creds and "role-to-assume" in creds[0]["with"]


def test_pull_requests_diff_and_main_deploys():
    doc = yaml.safe_load(WORKFLOW.read_text())
    runs = {name: [s.get("run", "") for s in job["steps"]] for name, job in doc["jobs"].items()}
    assert "scripts/ci/annex-diff" in runs["diff"]
    assert "scripts/ci/annex-setup" in runs["setup"]
    assert "pull_request" in doc["jobs"]["diff"]["if"]
    assert "refs/heads/main" in doc["jobs"]["setup"]["if"]
