"""The step scripts the GitHub Actions workflow runs, run here as a hosted runner runs them.

The runner is bare: a HOME with no ~/.condor and no HTCondor config (CONDOR_CONFIG unset, and
HTCondor's fallbacks absent or not ours), credentials only in the environment, GITHUB_OUTPUT
and GITHUB_STEP_SUMMARY files, CI=true. The scripts must work there and leave HOME as they
found it: a submit host takes the setup over later with `annex-cdk write-config`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from annex_stacks import names, stack_specs
from annex_stacks.policy.callers import BEYOND_THE_POLICY
from annex_stacks.policy.ci_roles import deploy_document, plan_document
from tests.e2e.conftest import REGION, World
from tests.infra.test_submit_host_stack import _resolve
from tests.policy_eval import allows, iam_actions

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ALLOW_FROM = "198.51.100.7/32 203.0.113.0/24"


def _runner_home(world: World) -> Path:
    home = world.root / "runner-home"
    home.mkdir(exist_ok=True)
    return home


def _ci(
    world: World, script: str, **extra: str
) -> tuple[subprocess.CompletedProcess[str], str, dict[str, str]]:
    summary, output = world.root / "summary.md", world.root / "output.txt"
    summary.write_text("")
    output.write_text("")
    env = world.env
    env.pop("CONDOR_CONFIG", None)
    env.update(
        HOME=str(_runner_home(world)),
        CI="true",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        AWS_REGION=REGION,
        ANNEX_ALLOW_FROM=ALLOW_FROM,
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(output),
    )
    env.update(extra)
    assert "AWS_ACCESS_KEY_ID" in env  # the emulator's credentials, from the environment
    proc = subprocess.run(
        [str(ROOT / "scripts" / "ci" / script)],
        env=env,
        cwd=world.root,  # not the checkout: setup records settings in a CDK project it runs in
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc, summary.read_text(), _outputs(output.read_text())


def _outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT as the runner reads it: name=value lines and name<<DELIMITER blocks."""
    found: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            name, delimiter = line.split("<<", 1)
            found[name] = "\n".join(iter(lambda: next(lines), delimiter))
        elif "=" in line:
            name, value = line.split("=", 1)
            found[name] = value
    return found


def _stack_names(world: World) -> set[str]:
    stacks = world.client("cloudformation").describe_stacks()["Stacks"]
    return {s["StackName"] for s in stacks}


def test_pull_request_diff_then_main_setup_then_clean_diff_on_a_bare_runner(world: World):
    home = _runner_home(world)
    proc, summary, output = _ci(world, "annex-diff")
    assert proc.returncode == 0, proc.stderr
    assert output["changed"] == "true" and output["dangerous"] == "false"
    assert output["failed"] == "false"
    assert "Merging this changes the setup:" in summary and "```diff" in summary
    # The PR comment's body: marked, so that the workflow updates it instead of adding one.
    assert output["report"].startswith("<!-- annex-cdk-diff -->")
    assert "```diff" in output["report"]

    proc, summary, _ = _ci(world, "annex-setup")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"| {names.SECURITY_GROUP_STACK} | create | CREATE_COMPLETE |" in summary
    assert "Your setup looks OK." in proc.stdout  # the AWS-side deep check after deploying
    assert "write-config" in summary  # what the submit host runs next
    assert set(stack_specs.CORE_STACKS) <= _stack_names(world)

    proc, summary, output = _ci(world, "annex-diff")
    assert proc.returncode == 0, proc.stderr
    assert output["changed"] == "false" and "No change" in summary

    # Nothing local: no ~/.condor, no PEM, no user_config on the runner.
    assert not (home / ".condor").exists()
    assert [p for p in home.rglob("*") if ".pem" in p.name or p.name == "user_config"] == []


def test_the_private_key_is_never_read_on_the_runner(world: World):
    proc, _, _ = _ci(world, "annex-setup")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = world.client("cloudformation").describe_stacks(StackName=names.KEY_PAIR_STACK)
    [parameter] = [
        o["OutputValue"]
        for o in outputs["Stacks"][0]["Outputs"]
        if o["OutputKey"] == names.OUT_KEY_PAIR_PARAMETER
    ]
    # Take the private key away: whatever reads it now says so.
    world.client("ssm").delete_parameter(Name=parameter)
    gone = f"private key parameter {parameter} is gone"

    proc, _, _ = _ci(world, "annex-setup")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Your setup looks OK." in proc.stdout
    assert gone not in proc.stdout + proc.stderr
    # The control: a submit host's setup does read it (and carries on without a PEM), so the
    # step above could have shown the same line.
    proc = world.run("setup", "--yes", check=False)
    assert gone in proc.stderr


@pytest.mark.parametrize("debug", ["", "1"])
def test_diff_errors_fail_the_job_and_report_no_change(world: World, debug: str):
    """With ANNEX_CDK_DEBUG=1 too: debugging a pipeline must not open its gate."""
    down = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "ANNEX_CDK_DEBUG": debug}
    proc, summary, output = _ci(world, "annex-diff", **down)
    assert proc.returncode == 2
    assert "annex-cdk diff failed" in summary
    assert output["changed"] == "false" and output["failed"] == "true"
    proc, summary, _ = _ci(world, "annex-setup", **down)
    assert proc.returncode == 2 and "nothing deployed" in proc.stderr
    assert _stack_names(world) == set()


def test_a_dangerous_change_is_refused_unless_a_reviewer_allowed_it(world: World):
    proc, _, _ = _ci(world, "annex-setup")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    other_key = "--key-name HTCondorAnnex-OtherKey"  # a new key pair replaces the old one

    proc, _, output = _ci(world, "annex-diff", ANNEX_CDK_ARGS=other_key)
    assert proc.returncode == 0, proc.stderr
    assert output["dangerous"] == "true" and "**DANGEROUS**" in output["report"]

    before = world.client("ec2").describe_key_pairs()["KeyPairs"]
    proc, summary, _ = _ci(world, "annex-setup", ANNEX_CDK_ARGS=other_key)
    assert proc.returncode == 1
    assert "refused" in summary and "DANGEROUS" in proc.stderr
    assert world.client("ec2").describe_key_pairs()["KeyPairs"] == before  # nothing deployed

    proc, summary, _ = _ci(
        world, "annex-setup", ANNEX_CDK_ARGS=other_key, ANNEX_ALLOW_DANGEROUS="true"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pairs = world.client("ec2").describe_key_pairs()["KeyPairs"]
    assert [p["KeyName"] for p in pairs] == ["HTCondorAnnex-OtherKey"]


def test_each_step_needs_no_more_than_its_ci_role_holds(world: World):
    """Every AWS call the steps make, against the HTCondorAnnex-CiRoles policies (IAM itself
    is not evaluated by the emulator; tests/policy_eval.py reads the documents)."""
    where = {"bucket_expression": names.BUCKET_NAME_PATTERN, "key_pair_name": names.KEY_PAIR_NAME}
    roles = {
        "annex-diff": _resolve(plan_document(**where)),
        "annex-setup": _resolve(deploy_document(**where)),
    }
    for script in ("annex-diff", "annex-setup", "annex-diff"):
        record = world.root / f"{script}.calls"
        record.unlink(missing_ok=True)
        proc, _, _ = _ci(world, script, ANNEX_CDK_RECORD_CALLS=str(record))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        calls = set(record.read_text().split())
        assert "cloudformation:DescribeStacks" in calls
        needed = {a for call in calls for a in iam_actions(call)}
        if script == "annex-setup":  # the lock is a plain String: no kms:Decrypt
            needed.discard("kms:Decrypt")
        # Calls no policy grants, made only where the caller may (the account pre-flight's
        # IMDS read says it could not look, and goes on): policy/callers.py says why for each.
        needed -= set(BEYOND_THE_POLICY)
        missing = sorted(a for a in needed if not allows(roles[script], a))
        assert missing == [], script


def test_the_ci_roles_stack_deploys_and_a_pipeline_run_keeps_it(world: World):
    repository = "octo-org/annex-pool"
    world.run("setup", "--yes", "--allow-from", "198.51.100.7/32", "--ci-roles",
              "--ci-repository", repository)  # fmt: skip
    stack = world.client("cloudformation").describe_stacks(StackName=names.CI_ROLES_STACK)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0]["Outputs"]}
    iam = world.client("iam")
    [provider] = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert outputs[names.OUT_CI_OIDC_PROVIDER] == provider["Arn"]
    assert provider["Arn"].endswith(f":oidc-provider/{names.GITHUB_OIDC_HOST}")
    role = iam.get_role(RoleName=outputs[names.OUT_CI_DEPLOY_ROLE].rsplit("/", 1)[1])["Role"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Federated": provider["Arn"]}
    assert trust["Condition"]["StringEquals"][f"{names.GITHUB_OIDC_HOST}:sub"] == (
        f"repo:{repository}:environment:{names.CI_DEFAULT_ENVIRONMENT}"
    )
    # The pipeline passes no CI flags: the stack records them, so its diff shows no change.
    proc, _, output = _ci(world, "annex-diff", ANNEX_ALLOW_FROM="")
    assert proc.returncode == 0, proc.stderr
    assert output["changed"] == "false", output["report"]
