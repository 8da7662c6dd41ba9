"""`cdk deploy` and `annex-cdk` on one account: the real pinned CDK CLI against the emulator.

The two paths must mix: after `cdk deploy --all`, annex-cdk finds nothing to change, and after
`annex-cdk setup`, `cdk diff` finds no difference (the settings travel in cdk.context.json).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from annex_stacks import names, stack_specs
from annex_stacks.facade import CONTEXT_FILE
from tests.e2e.conftest import World

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CDK = REPO / "node_modules" / ".bin" / "cdk"
ALLOW = "198.51.100.7/32"


def cdk_project(world: World) -> Path:
    """A CDK project directory like a user's checkout: the repo's cdk.json, the same app."""
    project = world.root / "project"
    project.mkdir()
    config = json.loads((REPO / "cdk.json").read_text())
    config["app"] = f"{sys.executable} {REPO / 'app.py'}"
    (project / "cdk.json").write_text(json.dumps(config))
    return project


def cdk(world: World, project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = world.emu.environ(world.env)
    env.update(CDK_DISABLE_VERSION_CHECK="1", JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    proc = subprocess.run(
        [str(CDK), *args, "--no-notices"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, f"cdk {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def statuses(world: World) -> dict[str, str]:
    cfn = world.client("cloudformation")
    return {s["StackName"]: s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]}


@pytest.mark.parametrize("concurrency", [None, "5"], ids=["default", "concurrency-5"])
def test_cdk_deploy_then_annex_cdk_finds_nothing_to_change(world: World, concurrency: str | None):
    project = cdk_project(world)
    # The one source of truth both tools read: what setup records for `cdk`.
    (project / CONTEXT_FILE).write_text(json.dumps({names.CTX_ALLOWED_CIDRS: [ALLOW]}))
    extra = ["--concurrency", concurrency] if concurrency else []
    cdk(world, project, "deploy", "--all", "--require-approval", "never", *extra)
    assert statuses(world) == {name: "CREATE_COMPLETE" for name in stack_specs.CORE_STACKS}

    world.run("write-config")
    world.run("check-setup", "--deep")
    diff = world.run("diff", "--exit-code", check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    report = json.loads(world.run("setup", "--json").stdout)
    assert {s["action"] for s in report["stacks"].values()} == {"unchanged"}


def test_annex_cdk_setup_then_cdk_diff_shows_no_difference(world: World):
    project = cdk_project(world)
    world.run("setup", "--allow-from", ALLOW, cwd=project)
    recorded = json.loads((project / CONTEXT_FILE).read_text())
    assert recorded[names.CTX_ALLOWED_CIDRS] == [ALLOW]
    proc = cdk(world, project, "diff", "--all", "--fail", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    said = proc.stdout + proc.stderr
    assert "There were no differences" in said
    # The diff came from a read-only change set per stack, not the template fallback.
    assert "Could not create a change set" not in said


def test_annex_cdk_setup_then_cdk_deploy_skips_every_stack(world: World):
    """The CDK CLI skips a stack when `JSON.stringify` of its synthesized template equals the
    deployed one, key order included: setup must deploy the body exactly as synthesized. Its
    first step, making sure no change set of its name is left, needs CloudFormation's
    ChangeSetNotFound for a change set that does not exist."""
    project = cdk_project(world)
    world.run("setup", "--allow-from", ALLOW, cwd=project)
    cfn = world.client("cloudformation")

    def events() -> dict[str, int]:
        return {
            name: len(cfn.describe_stack_events(StackName=name)["StackEvents"])
            for name in stack_specs.CORE_STACKS
        }

    before = events()
    proc = cdk(world, project, "deploy", "--all", "--require-approval", "never", "-v")
    said = proc.stdout + proc.stderr
    for name in stack_specs.CORE_STACKS:
        assert f"{name} (no changes)" in said, said
    assert "template has changed" not in said
    assert events() == before  # no change set executed, no update begun
    assert statuses(world) == {name: "CREATE_COMPLETE" for name in stack_specs.CORE_STACKS}
