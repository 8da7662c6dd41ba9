"""`annex-cdk spend` and `annex-cdk heartbeat` against the emulator: before the guardrail, and
after its deployed schedule has drained condor_annex's replayed launches over a cap."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from jsonschema import validate
from typer.testing import CliRunner

from annex_cdk.aws import condor_annex_calls
from annex_cdk.aws.condor_annex_calls import Annex
from annex_cdk.aws.session import AwsTarget, Credentials
from annex_cdk.commands.app import app
from annex_cdk.ops.guardrail import run_heartbeat, run_spend
from annex_emulator import price_list
from annex_emulator.server import EmulatorProcess
from annex_stacks import names
from tests import json_schemas
from tests.infra.test_guardrail_stack import ACCOUNT, AMI, BUCKET, REGION, SETTINGS, _template


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(region=REGION) as process:
        yield process


@pytest.fixture
def target(emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> AwsTarget:
    emu.reset()
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    return AwsTarget(REGION, Credentials(), endpoint_url=emu.endpoint_url)


def _cli(emu: EmulatorProcess, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--region", REGION, "--endpoint-url", emu.endpoint_url])


def test_without_the_guardrail_spend_says_nothing_enforces_a_cap(
    target: AwsTarget, emu: EmulatorProcess
) -> None:
    report = run_spend(target)
    validate({"schema_version": 1, "ok": report.ok, **report.as_dict()}, json_schemas.SPEND)
    assert report.deployed is None and report.caps == [] and report.ok
    assert any(names.GUARDRAIL_STACK in n for n in report.notes)
    assert report.heartbeat_age is None
    written = run_heartbeat(target).written
    assert abs(written - time.time()) < 5
    assert run_spend(target).heartbeat_age is not None


def test_spend_after_the_schedule_drained_an_annex(target: AwsTarget, emu: EmulatorProcess) -> None:
    session = boto3.session.Session()
    aws = {
        n: session.client(n, **emu.boto3_kwargs())
        for n in ("s3", "ec2", "events", "iam", "cloudformation")
    }
    aws["s3"].create_bucket(Bucket=BUCKET)
    aws["iam"].create_instance_profile(InstanceProfileName="annex")
    aws["cloudformation"].create_stack(
        StackName=names.GUARDRAIL_STACK,
        TemplateBody=json.dumps(_template()),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    for name in ("first", "second", "third"):
        annex = Annex(name, BUCKET, "arn:aws:lambda:us-east-1:123456789012:function:odi")
        condor_annex_calls.start_lease(aws["events"], annex, int(time.time()) + 3000)
        condor_annex_calls.run_instances(
            aws["ec2"],
            annex,
            image_id=AMI,
            instance_profile_arn=f"arn:aws:iam::{ACCOUNT}:instance-profile/annex",
            security_group_ids=[],
            key_name=None,
        )
        time.sleep(1.1)
    (fired,) = emu.advance_clock(5 * 60 + 1)["fired"]
    assert fired["ok"], fired

    result = _cli(emu, "spend", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    validate(doc, json_schemas.SPEND)
    assert doc["ok"] is True and doc["guardrail"] is True
    assert doc["now"]["instances"] == SETTINGS.max_instances == 2
    assert [a["name"] for a in doc["now"]["annexes"]] == ["first", "second"]
    caps = {c["cap"]: c for c in doc["caps"]}
    assert caps["max_instances"] == {
        "cap": "max_instances",
        "limit": 2,
        "value": 2,
        "breached": False,
    }
    price = price_list.LINUX_PRICES[(REGION, condor_annex_calls.DEFAULT_INSTANCE_TYPE)][1]
    assert doc["today"]["prices"] == {condor_annex_calls.DEFAULT_INSTANCE_TYPE: price}
    assert doc["deny"]["armed"] is True
    assert [a["action"] for a in doc["lastRun"]["actions"]] == ["arm-deny", "end-annex"]
    assert doc["lastRun"]["actions"][1]["annex"] == "third"
    assert doc["budget"]["limit"] == SETTINGS.max_dollars * 31
    assert "hours" in doc["budget"]["note"]

    text = _cli(emu, "spend")
    assert text.exit_code == 0
    assert "--max-instances      2 of 2: ok" in text.stdout
    assert "ARMED since" in text.stdout
    assert "end-annex third" in text.stdout

    beat_json = _cli(emu, "heartbeat", "--json")
    validate(json.loads(beat_json.stdout), json_schemas.HEARTBEAT)
    beat = _cli(emu, "heartbeat", "--classad")
    assert beat.exit_code == 0 and beat.stdout.startswith("AnnexHeartbeatTime = ")
