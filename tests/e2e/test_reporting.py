"""What the commands report: only the current operation's events, and unexpected errors that
name where they happened, keep their traceback in a log, and keep the exit-code contracts."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from jsonschema import validate

from annex_cdk.commands.failure import LOG_NAME
from annex_cdk.templates.stack_report import NOT_DEPLOYED
from annex_stacks import names, stack_specs
from tests import json_schemas
from tests.e2e.conftest import World

pytestmark = pytest.mark.e2e

ALLOW = "198.51.100.7/32"
#: The installed CLI with one engine read made to fail unexpectedly (a bug, not an AWS fault).
BROKEN = (
    "import sys\n"
    "from annex_cdk.aws import engine\n"
    "def boom(self, name):\n"
    "    self.cfn.describe_stacks(StackName=name)\n"
    "    raise ValueError('injected')\n"
    "engine.Engine.state = boom\n"
    "from annex_cdk.commands.app import main\n"
    "main()\n"
)


def run_broken(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BROKEN, *args],
        env=world.env,
        cwd=world.root,
        capture_output=True,
        text=True,
        timeout=300,
    )


#: A resource line as `cdk deploy` prints it: `stack | n/N | time | status | type | logical id`.
RESOURCE_LINE = re.compile(
    r"^(?P<stack>HTCondorAnnex-\S+) \| +(?P<done>\d+)/(?P<total>\d+) \| "
    r"(?P<time>\d\d:\d\d:\d\d) \| (?P<status>[A-Z_]+) +\| (?P<type>\S+::\S+) \| "
    r"(?P<logical_id>\w+)(?: \((?P<reason>.*)\))?$"
)


def _resource_lines(stderr: str) -> dict[str, list[re.Match[str]]]:
    """Each stack's resource lines, in order."""
    found: dict[str, list[re.Match[str]]] = {}
    for line in stderr.splitlines():
        if match := RESOURCE_LINE.match(line):
            found.setdefault(match["stack"], []).append(match)
    return found


def _resource_counts(world: World) -> dict[str, int]:
    cfn = world.client("cloudformation")
    return {
        s["StackName"]: len(
            cfn.describe_stack_resources(StackName=s["StackName"])["StackResources"]
        )
        for s in cfn.describe_stacks()["Stacks"]
    }


def test_progress_of_an_update_and_a_destroy_shows_only_that_operation(world: World):
    first = json.loads(world.run("setup", "--allow-from", ALLOW, "--json").stdout)
    validate(first, json_schemas.SETUP)
    counts = _resource_counts(world)
    update = world.run("setup", "--allow-from", "203.0.113.0/24")
    # One line per resource event of the update, of the one stack it changes, counted
    # against that stack's resources; none of its creation.
    updated = _resource_lines(update.stderr)
    assert set(updated) == {names.SECURITY_GROUP_STACK}, update.stderr
    lines = updated[names.SECURITY_GROUP_STACK]
    assert {int(m["total"]) for m in lines} == {counts[names.SECURITY_GROUP_STACK]}
    done = [int(m["done"]) for m in lines]
    assert done == sorted(done) and 1 <= done[-1] <= counts[names.SECURITY_GROUP_STACK]
    assert all(m["status"].startswith("UPDATE_") for m in lines), update.stderr
    assert any(m["logical_id"] == names.LID_SECURITY_GROUP for m in lines), update.stderr
    assert "UPDATE_COMPLETE" in update.stderr
    history = [
        line
        for line in update.stderr.splitlines()
        if "CREATE_COMPLETE" in line and not line.endswith("unchanged")
    ]
    assert history == [], update.stderr  # the old code replayed every stack's creation
    destroy = world.run("destroy", "--yes", "--json")
    assert "DELETE_COMPLETE" in destroy.stderr
    destroyed = json.loads(destroy.stdout)
    validate(destroyed, json_schemas.DESTROY)
    stacks = destroyed["stacks"]
    assert stacks[names.SECURITY_GROUP_STACK]["status"] == "DELETE_COMPLETE"
    # Never there, so never "deleted".
    assert stacks[names.SUBMIT_HOST_STACK]["status"] == NOT_DEPLOYED
    assert stacks[names.SUBMIT_HOST_STACK]["action"] == "unchanged"
    assert "CREATE_COMPLETE" not in destroy.stderr, destroy.stderr
    assert "UPDATE_COMPLETE" not in destroy.stderr, destroy.stderr
    # Every deployed stack's resources, each deleted once: n runs up to N.
    deleted = _resource_lines(destroy.stderr)
    assert set(deleted) == set(counts), destroy.stderr
    for stack, lines in deleted.items():
        assert {int(m["total"]) for m in lines} == {counts[stack]}, stack
        assert int(lines[-1]["done"]) == counts[stack], destroy.stderr
        assert all(m["status"].startswith("DELETE_") for m in lines), destroy.stderr


def _json(world: World, *args: str) -> dict:
    proc = world.run(*args, "--json", check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)  # stdout is the document alone


def test_every_command_json_follows_its_schema_and_one_stack_shape(world: World):
    setup = _json(world, "setup", "--allow-from", ALLOW)
    validate(setup, json_schemas.SETUP)
    unchanged = _json(world, "diff", "--allow-from", ALLOW)
    validate(unchanged, json_schemas.DIFF)
    assert unchanged["changed"] is False and unchanged["ok"] is True
    changed = _json(world, "diff", "--allow-from", "203.0.113.0/24")
    validate(changed, json_schemas.DIFF)
    assert {n for n, s in changed["stacks"].items() if s["changed"]} == {names.SECURITY_GROUP_STACK}
    checked = _json(world, "check-setup")
    validate(checked, json_schemas.CHECK_SETUP)
    validate(_json(world, "write-config"), json_schemas.WRITE_CONFIG)
    validate(_json(world, "unlock", "--yes"), json_schemas.UNLOCK)
    synth = _json(world, "synth", "--allow-from", ALLOW, "--out", str(world.root / "out"))
    validate(synth, json_schemas.SYNTH)

    # One shape per stack: the same keys with the same meaning in every command's document.
    sg = names.SECURITY_GROUP_STACK
    entries = {
        "setup": setup["stacks"][sg],
        "diff": unchanged["stacks"][sg],
        "check-setup": checked["stacks"][sg],
    }
    for command, entry in entries.items():
        assert entry["name"] == sg, command
        assert entry["status"] in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}, command
        assert entry["outputs"] == setup["stacks"][sg]["outputs"] != {}, command
        assert entry["changed"] is (command == "setup"), command
    assert entries["setup"]["action"] == "create"
    assert entries["diff"]["action"] == "unchanged"
    assert entries["check-setup"]["action"] is None
    assert changed["stacks"][sg]["action"] == "update"

    destroyed = _json(world, "destroy", "--yes")
    validate(destroyed, json_schemas.DESTROY)
    assert destroyed["stacks"][sg]["status"] == "DELETE_COMPLETE"
    assert destroyed["stacks"][sg]["action"] == "delete" and destroyed["stacks"][sg]["changed"]


def test_an_unexpected_error_names_command_stack_and_call_and_logs_the_traceback(world: World):
    world.run("setup", "--allow-from", ALLOW)
    proc = run_broken(world, "diff", "--exit-code")
    assert proc.returncode == 2, proc.stderr  # CI: any error at all is 2, never "changes"
    [line, hint] = proc.stderr.strip().splitlines()
    assert line.startswith("annex-cdk: unexpected error: diff: HTCondorAnnex-")
    assert "during cloudformation DescribeStacks" in line and "ValueError: injected" in line
    log = world.paths.home / ".local" / "state" / "annex-cdk" / LOG_NAME
    assert str(log) in hint
    assert "Traceback" in log.read_text() and "injected" in log.read_text()
    assert "Traceback" not in proc.stderr

    plain = run_broken(world, "diff")
    assert plain.returncode == 1

    as_json = run_broken(world, "diff", "--json")
    document = json.loads(as_json.stdout)
    validate(document, json_schemas.ERROR)
    assert document["ok"] is False and document["error"]["kind"] == "unexpected"
    assert document["error"]["exit_code"] == as_json.returncode == 1
    assert any(stack in document["error"]["message"] for stack in stack_specs.MANAGED_STACKS)


def test_a_domain_error_with_json_is_a_json_document_on_stdout(world: World):
    proc = world.run("diff", "--json", "--endpoint-url", "http://127.0.0.1:9", check=False)
    assert proc.returncode != 0
    document = json.loads(proc.stdout)
    validate(document, json_schemas.ERROR)
    assert document["error"]["exit_code"] == proc.returncode
    assert "cannot reach" in document["error"]["message"]


def test_rehearse_json_prints_only_json(world: World):
    proc = world.run("rehearse", "--json", timeout=600)
    document = json.loads(proc.stdout)  # the step table no longer comes first
    validate(document, json_schemas.REHEARSE)
    assert document["ok"] is True
