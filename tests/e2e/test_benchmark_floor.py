"""The benchmark's floor program (benchmarks/floor.py) makes the calls a recorded run made."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks import floor
from tests.e2e.conftest import World


def _floor(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, floor.__file__, *args],
        env=world.env,
        cwd=world.root,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_replay_makes_the_calls_of_the_recorded_no_op(world: World) -> None:
    world.run("setup", "--allow-from", "198.51.100.7/32", "--json")
    world.run("setup", "--json")  # the first no-op after a deploy records the resources
    recording = world.root / "calls.json"
    world.emu.calls(clear=True)
    recorded = _floor(world, "record", str(recording), "--", "setup", "--json")
    assert recorded.returncode == 0, recorded.stderr
    assert json.loads(recorded.stdout)["ok"]  # the command's own output, as without recording
    by_action = world.emu.calls()
    world.emu.calls(clear=True)

    replayed = _floor(world, "replay", str(recording))
    assert replayed.returncode == 0, replayed.stderr
    # The same calls, by service and action, as the emulator counted them both times.
    assert world.emu.calls() == by_action
    calls = floor.Call.load_all(recording)
    assert len(calls) == sum(by_action.values())
    # The stacks, their resources as the record names them, and the PEM's key.
    assert {c.operation for c in calls} >= {
        "GetCallerIdentity",
        "DescribeStacks",
        "DescribeStackResources",
        "GetRole",
        "DescribeSecurityGroups",
        "GetParameter",
    }


def test_a_replay_answered_otherwise_than_recorded_fails(world: World, tmp_path: Path) -> None:
    recording = tmp_path / "calls.json"
    missing = floor.Call(
        "cloudformation", "us-east-1", "DescribeStacks", {"StackName": "NoSuchStack"}, None
    )
    recording.write_text(json.dumps([missing.__dict__]))
    replayed = _floor(world, "replay", str(recording))
    assert replayed.returncode == 1
    assert "DescribeStacks answered ValidationError, recorded None" in replayed.stderr


def test_describe_counts_the_calls_by_service() -> None:
    def call(service: str) -> floor.Call:
        return floor.Call(service, "us-east-1", "Op", {}, None)

    calls = [call("iam"), call("cloudformation"), call("sts"), call("cloudformation")]
    assert floor.describe(calls) == "4 calls (cloudformation 2, iam 1, sts 1)"
