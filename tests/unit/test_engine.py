"""The engine's decisions, and its behaviour against moto's CloudFormation in-process."""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from annex_cdk.aws.engine import Action, Engine, Live, StackState, decide, import_template, plan
from annex_cdk.errors import StackBlockedError, where

TEMPLATE = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "annex-test"}}},
    "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
}
CHANGED = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "annex-test"}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "annex-test"}},
    },
    "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
}


@pytest.mark.parametrize(
    ("status", "deployed", "expected"),
    [
        (None, None, Action.CREATE),
        ("DELETE_COMPLETE", None, Action.CREATE),
        ("CREATE_COMPLETE", TEMPLATE, Action.SKIP),
        ("UPDATE_COMPLETE", json.dumps(TEMPLATE, indent=4), Action.SKIP),  # formatting differs
        ("CREATE_COMPLETE", CHANGED, Action.UPDATE),
        ("UPDATE_ROLLBACK_COMPLETE", CHANGED, Action.UPDATE),
        ("UPDATE_ROLLBACK_COMPLETE", TEMPLATE, Action.SKIP),
        ("ROLLBACK_COMPLETE", TEMPLATE, Action.REPLACE),
        ("REVIEW_IN_PROGRESS", None, Action.REPLACE),
        ("DELETE_FAILED", TEMPLATE, Action.REPLACE),
        ("UPDATE_IN_PROGRESS", TEMPLATE, Action.BUSY),
        ("CREATE_IN_PROGRESS", None, Action.BUSY),
        ("UPDATE_ROLLBACK_FAILED", TEMPLATE, Action.CONTINUE_ROLLBACK),
        ("IMPORT_ROLLBACK_FAILED", TEMPLATE, Action.BLOCKED),
    ],
)
def test_decide(status, deployed, expected):
    assert decide(StackState("S", status, "id" if status else None), deployed, TEMPLATE) is expected


@pytest.fixture
def cfn(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("cloudformation", region_name="us-east-1")


def _converge(engine: Engine, templates, *, replace_ok=False):
    live = engine.read_all(templates)
    return engine.converge(templates, plan(templates, live), replace_ok=replace_ok)


def test_create_then_noop_then_update(cfn):
    events: list[tuple[str, str, str]] = []
    engine = Engine(cfn, progress=lambda *e: events.append(e))
    first = _converge(engine, {"A": TEMPLATE, "B": TEMPLATE})
    assert {r.action for r in first.values()} == {Action.CREATE}
    assert first["A"].status == "CREATE_COMPLETE"
    assert first["A"].outputs["TopicArn"].startswith("arn:aws:sns:")

    before = {s["StackName"]: s.get("LastUpdatedTime") for s in cfn.describe_stacks()["Stacks"]}
    again = _converge(engine, {"A": TEMPLATE, "B": TEMPLATE})
    assert {r.action for r in again.values()} == {Action.SKIP}
    after = {s["StackName"]: s.get("LastUpdatedTime") for s in cfn.describe_stacks()["Stacks"]}
    assert before == after  # nothing was touched in CloudFormation

    changed = _converge(engine, {"A": CHANGED, "B": TEMPLATE})
    assert changed["A"].action is Action.UPDATE and changed["A"].status == "UPDATE_COMPLETE"
    assert changed["B"].action is Action.SKIP
    assert any(stack == "A" and status == "UPDATE_COMPLETE" for stack, status, _ in events)


def test_blocked_stack_needs_consent_and_is_replaced_with_it(cfn):
    engine = Engine(cfn)
    _converge(engine, {"A": TEMPLATE})
    real = engine.state

    def rolled_back(name):
        state = real(name)
        return StackState(state.name, "ROLLBACK_COMPLETE", state.stack_id, {}, "resource failed")

    engine.state = rolled_back  # type: ignore[method-assign]
    live = {"A": Live(rolled_back("A"), None)}
    with pytest.raises(StackBlockedError, match="ROLLBACK_COMPLETE") as err:
        engine.converge({"A": TEMPLATE}, plan({"A": TEMPLATE}, live), replace_ok=False)
    assert "--yes" in (err.value.hint or "")
    engine.state = real  # type: ignore[method-assign]
    result = engine.converge({"A": TEMPLATE}, plan({"A": TEMPLATE}, live), replace_ok=True)
    assert result["A"].status == "CREATE_COMPLETE"


def test_busy_stack_is_reported_not_touched(cfn):
    engine = Engine(cfn)
    live = {"A": Live(StackState("A", "UPDATE_IN_PROGRESS", "id"), TEMPLATE)}
    with pytest.raises(StackBlockedError, match="busy"):
        engine.converge({"A": CHANGED}, plan({"A": CHANGED}, live), replace_ok=True)
    assert cfn.describe_stacks()["Stacks"] == []


def test_delete_is_concurrent_and_idempotent(cfn):
    engine = Engine(cfn)
    _converge(engine, {"A": TEMPLATE, "B": CHANGED})
    results = engine.delete(["A", "B", "Never"])
    assert {r.status for r in results.values()} == {"DELETE_COMPLETE"}
    assert not engine.state("A").exists and not engine.state("B").exists


def test_stop_event_ends_waiting(cfn):
    engine = Engine(cfn)
    calls = threading.Event()
    engine.state = lambda name: (calls.set(), StackState(name, "CREATE_IN_PROGRESS", name))[1]  # type: ignore[method-assign]
    engine._events = lambda stack_id: []  # type: ignore[method-assign]
    engine.stop.set()
    assert engine._wait("A", "A", since=None, total=1).status == "CREATE_IN_PROGRESS"
    assert calls.is_set()


def test_events_read_beside_a_settled_state_are_read_again_until_they_end_the_operation():
    """The poll reads the state and the events at once: events that predate the stack's own
    final event (CloudFormation writes it last) are read again, so no resource line is lost."""

    def event(n: int, lid: str, status: str) -> dict:
        return {
            "EventId": f"e{n}",
            "StackName": "A",
            "LogicalResourceId": lid,
            "ResourceStatus": status,
        }

    reads = [
        [event(2, "Topic", "CREATE_IN_PROGRESS"), event(1, "A", "CREATE_IN_PROGRESS")],
        [event(4, "A", "CREATE_COMPLETE"), event(3, "Topic", "CREATE_COMPLETE"),
         event(2, "Topic", "CREATE_IN_PROGRESS"), event(1, "A", "CREATE_IN_PROGRESS")],
    ]  # fmt: skip
    seen: list[str] = []

    class Progress:
        def __call__(self, *args: object) -> None: ...
        def resource(self, e: object) -> None:
            seen.append(f"{e.logical_id} {e.status}")  # type: ignore[attr-defined]

    engine = Engine(None, progress=Progress())
    engine.state = lambda name: StackState(name, "CREATE_COMPLETE", name)  # type: ignore[method-assign]
    engine._events = lambda stack_id: reads.pop(0)  # type: ignore[method-assign]
    assert engine._wait("A", "A", since=None, total=1).status == "CREATE_COMPLETE"
    assert seen == ["Topic CREATE_IN_PROGRESS", "Topic CREATE_COMPLETE"] and not reads


def test_a_poll_that_fails_names_its_own_call(cfn):
    """The poll's two calls run in threads of their own: each names itself in the error."""
    engine = Engine(cfn)
    with pytest.raises(ClientError) as caught:  # no stack A: its events cannot be read
        engine._annotated("A", lambda: engine._wait("A", "A", since=None, total=1))
    assert where(caught.value) == ("A", "cloudformation DescribeStackEvents")


def test_the_plan_keeps_a_deployed_stack_no_longer_wanted():
    live = {
        "Wanted": Live(StackState("Wanted"), None),
        "Left": Live(StackState("Left", "CREATE_COMPLETE", "id"), {"Resources": {}}),
        "Gone": Live(StackState("Gone", "DELETE_COMPLETE", "id2"), None),
    }
    todo = plan({"Wanted": {"Resources": {}}}, live)
    assert {n: a for n, (_, a) in todo.items()} == {"Wanted": Action.CREATE, "Left": Action.KEEP}


def test_events_of_an_operation_stop_at_its_marker_or_its_start():
    def event(n: int, lid: str, status: str, reason: str = "") -> dict:
        return {
            "EventId": f"e{n}", "StackName": "S", "LogicalResourceId": lid,
            "ResourceStatus": status, "ResourceStatusReason": reason,
        }  # fmt: skip

    newest_first = [
        event(6, "S", "UPDATE_ROLLBACK_COMPLETE"),
        event(5, "B", "UPDATE_FAILED", "now"),
        event(4, "S", "UPDATE_IN_PROGRESS"),
        event(3, "S", "CREATE_COMPLETE"),
        event(2, "A", "CREATE_FAILED", "long ago"),
        event(1, "S", "CREATE_IN_PROGRESS"),
    ]

    class Cfn:
        def describe_stack_events(self, StackName: str) -> dict:
            return {"StackEvents": newest_first}

    engine = Engine(Cfn())
    assert [e["EventId"] for e in engine.events_of("S", since="e3")] == ["e4", "e5", "e6"]
    assert [e["EventId"] for e in engine.events_of("S")] == ["e4", "e5", "e6"]
    assert engine.failure_reason("S") == "B: now"  # not the oldest failure in the history


def test_an_import_template_holds_only_the_imported_resources_retained_and_no_outputs():
    template = {
        "Parameters": {"P": {"Type": "String"}},
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Delete"},
            "BucketPolicy": {"Type": "AWS::S3::BucketPolicy"},
        },
        "Outputs": {"BucketName": {"Value": {"Ref": "Bucket"}}},
    }
    assert import_template(template, ["Bucket"]) == {
        "Parameters": {"P": {"Type": "String"}},
        # Retain while importing: a failed import must never delete what it was adopting.
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"}},
    }
