"""The example GitHub Actions workflow: linted, pinned, keyless."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from annex_stacks import names

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
    proc = _run(
        str(BIN / "shellcheck"),
        *map(str, SCRIPTS),
        "scripts/install",
        "scripts/typecheck",
        ".ci/run",
    )
    assert proc.returncode == 0, proc.stdout


def _workflow() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def _aws_steps(job: dict) -> list[dict]:
    return [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]


def test_actions_are_pinned_by_sha_and_aws_access_is_oidc():
    doc = _workflow()
    uses = [step["uses"] for job in doc["jobs"].values() for step in job["steps"] if "uses" in step]
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
    text = WORKFLOW.read_text()
    assert "AWS_SECRET_ACCESS_KEY" not in text and "secrets." not in text
    for name, job in doc["jobs"].items():
        creds = _aws_steps(job)
        # Only the jobs that reach AWS may ask for an OIDC token.
        assert (job["permissions"].get("id-token") == "write") == bool(creds), name
        for step in creds:
            assert {"role-to-assume", "role-session-name", "aws-region"} <= set(step["with"])


def test_the_job_graph_tests_first_then_diffs_pull_requests_and_deploys_main():
    doc = _workflow()
    jobs = doc["jobs"]
    assert set(doc["on"]) == {"pull_request", "push", "workflow_dispatch"}
    assert doc["permissions"] == {"contents": "read"}
    assert "concurrency" not in doc  # per job: PR diffs must never share a group with deploys
    assert "needs" not in jobs["test"] and "id-token" not in jobs["test"]["permissions"]
    assert jobs["diff"]["needs"] == "test" and jobs["deploy"]["needs"] == "test"
    assert jobs["comment"]["needs"] == "diff"
    runs = {name: [s.get("run", "") for s in job["steps"]] for name, job in jobs.items()}
    assert "scripts/ci/annex-diff" in runs["diff"]
    assert "scripts/ci/annex-setup" in runs["deploy"]
    assert "scripts/ci/annex-pr-comment" in runs["comment"]
    assert "pull_request" in jobs["diff"]["if"] and "head.repo.full_name ==" in jobs["diff"]["if"]
    assert "head.repo.full_name !=" in jobs["fork"]["if"]
    assert jobs["fork"]["permissions"] == {}
    assert "::notice::" in runs["fork"][0]
    assert "refs/heads/main" in jobs["deploy"]["if"] and "workflow_dispatch" in jobs["deploy"]["if"]


def test_each_job_has_the_role_and_rights_its_work_needs():
    jobs = _workflow()["jobs"]
    [plan] = _aws_steps(jobs["diff"])
    [deploy] = _aws_steps(jobs["deploy"])
    assert plan["with"]["role-to-assume"] == "${{ vars.ANNEX_CDK_PLAN_ROLE_ARN }}"
    assert deploy["with"]["role-to-assume"] == "${{ vars.ANNEX_CDK_DEPLOY_ROLE_ARN }}"
    assert jobs["deploy"]["environment"] == names.CI_DEFAULT_ENVIRONMENT
    assert "environment" not in jobs["diff"]
    # The PR comment is written by a job that holds no AWS token, and nothing else may write.
    assert jobs["comment"]["permissions"] == {"pull-requests": "write"}
    for name, job in jobs.items():
        writes = {k for k, v in job["permissions"].items() if v == "write"}
        assert writes <= {"id-token", "pull-requests"}, name
        if "pull-requests" in writes:
            assert name == "comment"


def test_concurrency_diffs_per_pull_request_and_one_deploy_queue_never_cancelled():
    jobs = _workflow()["jobs"]
    diff, deploy = jobs["diff"]["concurrency"], jobs["deploy"]["concurrency"]
    assert "github.event.pull_request.number" in diff["group"]
    assert "pull_request" not in deploy["group"]
    assert diff["group"].split("$")[0] != deploy["group"].split("$")[0]
    assert deploy["cancel-in-progress"] is False


def test_a_reviewer_allows_dangerous_changes_by_the_named_label_or_input():
    doc = _workflow()
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert inputs[names.CI_ALLOW_DANGEROUS_INPUT]["type"] == "boolean"
    assert inputs[names.CI_ALLOW_DANGEROUS_INPUT]["default"] is False
    deploy = doc["jobs"]["deploy"]
    [approval] = [s for s in deploy["steps"] if s.get("id") == "approval"]
    assert names.CI_ALLOW_DANGEROUS_LABEL in approval["run"]
    assert f"inputs.{names.CI_ALLOW_DANGEROUS_INPUT}" in approval["env"]["INPUT"]
    [setup] = [s for s in deploy["steps"] if s.get("run") == "scripts/ci/annex-setup"]
    assert setup["env"]["ANNEX_ALLOW_DANGEROUS"] == "${{ steps.approval.outputs.allowed }}"
    assert deploy["permissions"]["pull-requests"] == "read"  # the merged PR's labels


def test_dependabot_keeps_the_pinned_actions_current():
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"]: u for u in config["updates"]}
    assert ecosystems["github-actions"]["directory"] == "/"
