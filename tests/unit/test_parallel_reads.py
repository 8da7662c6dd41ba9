"""The reads check-setup --deep, setup and diff make at once: answers in the order asked, the
first failure in that order, one shared client per service, drift polled at once, and every
stack's lost resources read against the emulator in one go."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from annex_cdk.aws import cfn as cfn_module
from annex_cdk.aws.cfn import CloudFormation
from annex_cdk.aws.parallel import InBackground, at_once, gather, settle
from annex_cdk.aws.resources import Gone, gone_resources_of
from annex_cdk.aws.session import AwsTarget, Credentials
from annex_cdk.ops.account_posture import CREATE_DEFAULT_VPC, account_findings
from annex_cdk.ops.rehearse import scratch_home
from annex_emulator.server import EmulatorProcess, Posture
from annex_stacks.settings import AnnexSettings

REGION = "us-east-1"
ACCOUNT = "123456789012"
# Never reached: these tests make no call through it.
NOWHERE = AwsTarget(REGION, Credentials(), endpoint_url="http://127.0.0.1:9")


def _waits_for(event: threading.Event, value: str) -> Any:
    def call() -> str:
        if not event.wait(timeout=10):
            raise AssertionError("ran one after another")
        return value

    return call


def test_answers_come_in_the_order_asked_whatever_order_they_end():
    later = threading.Event()

    def sets_it() -> str:
        later.set()
        return "second"

    # The first ends only after the second has run: one by one this would fail.
    assert gather([_waits_for(later, "first"), sets_it]) == ["first", "second"]


def test_the_first_failure_in_the_order_asked_is_raised_after_every_call_ended():
    ended: list[str] = []
    second_failed = threading.Event()

    def first() -> str:
        second_failed.wait(timeout=10)  # fails after the second, in time
        ended.append("first")
        raise KeyError("first")

    def second() -> str:
        ended.append("second")
        second_failed.set()
        raise ValueError("second")

    def third() -> str:
        ended.append("third")
        return "third"

    with pytest.raises(KeyError, match="first"):
        gather([first, second, third])
    assert sorted(ended) == ["first", "second", "third"]
    outcomes = settle([first, second, third])
    assert [type(o.error) for o in outcomes] == [KeyError, ValueError, type(None)]
    assert outcomes[2].get() == "third"


def test_one_call_runs_in_the_callers_thread():
    assert gather([threading.current_thread]) == [threading.current_thread()]
    assert gather([]) == []
    assert at_once(lambda: 1, lambda: "two") == (1, "two")


def test_a_background_call_runs_while_the_caller_goes_on_and_answers_when_asked():
    asked = threading.Event()
    background = InBackground(_waits_for(asked, "read"))
    asked.set()  # the caller's own work, done while the call waits
    assert background.result() == "read"

    def fails() -> str:
        raise LookupError("AWS said no")

    failing = InBackground(fails)
    with pytest.raises(LookupError, match="AWS said no"):  # raised where the answer is taken
        failing.result()


def test_one_client_per_service_is_shared_by_every_thread():
    target = AwsTarget(REGION, Credentials(), endpoint_url="http://127.0.0.1:9")
    clients = gather([lambda: target.client("ec2")] * 8)
    assert all(c is clients[0] for c in clients)
    assert target.client("ec2", quick=True) is not clients[0]  # its own timeouts
    assert target.client("iam") is not clients[0]
    # A target of its own (another region, say) has clients of its own.
    other = AwsTarget("eu-west-1", Credentials(), endpoint_url="http://127.0.0.1:9")
    assert other.client("ec2") is not clients[0]


def test_clients_are_made_while_the_callers_identity_is_asked(monkeypatch):
    """A no-op setup asks who the caller is while other threads make the next round's clients:
    the question (a round trip to STS) must not hold them up."""
    target = AwsTarget(REGION, Credentials(), endpoint_url="http://127.0.0.1:9")
    asking, made = threading.Event(), threading.Event()

    def ask(self: AwsTarget) -> dict[str, str]:
        asking.set()
        if not made.wait(timeout=10):
            raise AssertionError("making a client waited for the caller's identity")
        return {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:root"}

    monkeypatch.setattr(AwsTarget, "_ask_identity", ask)
    identity = InBackground(target.account_id)
    assert asking.wait(timeout=10)
    target.client("ec2")
    made.set()
    assert identity.result() == ACCOUNT


class _DriftApi:
    """CloudFormation's drift calls, answering IN_PROGRESS `polls_busy` times."""

    def __init__(self, polls_busy: int) -> None:
        self.polls_busy = polls_busy
        self.polls = 0

    def detect_stack_drift(self, StackName: str) -> dict[str, str]:
        return {"StackDriftDetectionId": "d-1"}

    def describe_stack_drift_detection_status(self, StackDriftDetectionId: str) -> dict[str, str]:
        self.polls += 1
        busy = self.polls <= self.polls_busy
        status = "DETECTION_IN_PROGRESS" if busy else "DETECTION_COMPLETE"
        return {"DetectionStatus": status, "StackDriftStatus": "IN_SYNC"}


@pytest.mark.parametrize("busy", [0, 10])
def test_drift_is_asked_at_once_then_polled_with_a_short_backoff(monkeypatch, busy):
    slept: list[float] = []
    monkeypatch.setattr(cfn_module.time, "sleep", slept.append)
    cfn = CloudFormation(NOWHERE)
    api = _DriftApi(busy)
    cfn._client = api
    assert cfn.drift("HTCondorAnnex-KeyPair").status == "IN_SYNC"
    assert api.polls == busy + 1  # the first poll comes right after DetectStackDrift
    assert len(slept) == busy
    if slept:
        assert slept[0] <= 0.25 and max(slept) <= 1.0
        assert slept == sorted(slept)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(region=REGION, posture=Posture(no_default_vpc=True)) as process:
        yield process


def _client(emu: EmulatorProcess, service: str, region: str = REGION) -> Any:
    return boto3.client(service, **{**emu.boto3_kwargs(), "region_name": region})


def _stack(emu: EmulatorProcess, name: str, resources: dict[str, Any]) -> None:
    cfn = _client(emu, "cloudformation")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": resources}))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1})


def _log_group(name: str) -> dict[str, Any]:
    return {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": name}}


def test_every_stacks_lost_resources_are_read_in_one_go(emu, tmp_path):
    _stack(emu, "Lost", {"Kept": _log_group("/annex/kept"), "Deleted": _log_group("/annex/gone")})
    _stack(emu, "Whole", {"Logs": _log_group("/annex/whole")})
    _client(emu, "logs").delete_log_group(logGroupName="/annex/gone")  # by hand
    _, _, creds = scratch_home(tmp_path)  # the emulator's keys, as condor_annex's files
    target = AwsTarget(REGION, creds, endpoint_url=emu.endpoint_url)
    lost = gone_resources_of(target, ["Whole", "Lost"])
    assert list(lost) == ["Whole", "Lost"]  # in the order asked
    assert lost == {
        "Whole": [],
        "Lost": [Gone("Lost", "Deleted", "AWS::Logs::LogGroup", "/annex/gone")],
    }
    # A stack that is not there is CloudFormation's error, not a lost resource.
    with pytest.raises(Exception, match="does not exist"):
        gone_resources_of(target, ["Whole", "Nowhere"])


def test_create_default_vpc_is_judged_only_where_the_region_has_none(emu, tmp_path):
    """The posture and IAM's simulation are read at once, so CreateDefaultVpc is simulated
    before setup knows whether it will call it; where a default VPC exists it is not named."""
    iam = _client(emu, "iam")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": CREATE_DEFAULT_VPC, "Resource": "*"},
        ],
    }
    iam.create_user(UserName="no-vpc-maker")
    iam.put_user_policy(UserName="no-vpc-maker", PolicyName="P", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="no-vpc-maker")["AccessKey"]
    public, private = Path(tmp_path, "public"), Path(tmp_path, "private")
    public.write_text(key["AccessKeyId"])
    private.write_text(key["SecretAccessKey"])
    _client(emu, "ec2", "ca-central-1").create_default_vpc()
    for region, named in (("ca-central-1", False), ("sa-east-1", True)):
        target = AwsTarget(region, Credentials(public, private), endpoint_url=emu.endpoint_url)
        settings = AnnexSettings(region=region, account=ACCOUNT)
        findings, simulation = account_findings(
            target, settings, image_id=None, create_default_vpc=True
        )
        assert simulation.principal is not None  # an IAM user: simulated
        refused = [f for f in findings if f"may not call {CREATE_DEFAULT_VPC}" in f.problem]
        assert bool(refused) is named, (region, findings)
        assert CREATE_DEFAULT_VPC not in simulation.missing  # named as a finding, or not at all
