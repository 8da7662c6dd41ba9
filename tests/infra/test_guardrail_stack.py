"""HTCondorAnnex-Guardrail: synthesized with cdk-nag, then deployed to the emulator, where its
schedule fires the deployed function with its own role's credentials and IAM enforced: what the
role allows is what the function needs, against condor_annex's replayed launches."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from functools import cache
from typing import Any

import boto3
import pytest

from annex_cdk.aws import condor_annex_calls
from annex_cdk.aws.condor_annex_calls import Annex
from annex_emulator.server import EmulatorProcess
from annex_lambda_src import guardrail
from annex_stacks import names
from annex_stacks.settings import AnnexSettings
from tests.infra.conftest import resources, statements

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = f"htcondor-annex-{ACCOUNT}-{REGION}"
AMI = "ami-12c6146b"
SETTINGS = AnnexSettings(
    region=REGION,
    max_instances=2,
    max_dollars=40.0,
    heartbeat_minutes=30,
    budget_email="ops@example.org",
)


@cache
def _template(settings: AnnexSettings = SETTINGS) -> dict[str, Any]:
    import aws_cdk as cdk

    from annex_stacks import nag
    from annex_stacks.guardrail_stack import GuardrailStack

    app = cdk.App(outdir=tempfile.mkdtemp(prefix="guardrail-synth-"))
    GuardrailStack(
        app,
        names.GUARDRAIL_STACK,
        settings=settings,
        env=cdk.Environment(region=REGION),
        synthesizer=cdk.LegacyStackSynthesizer(),
        analytics_reporting=False,
    )
    nag.register(app)  # synthesis fails on any unacknowledged finding
    assembly = app.synth()
    return dict(assembly.get_stack_by_name(names.GUARDRAIL_STACK).template)


def test_the_function_runs_the_bundle_every_five_minutes_with_the_caps() -> None:
    template = _template()
    (fn,) = resources(template, "AWS::Lambda::Function").values()
    env = fn["Properties"]["Environment"]["Variables"]
    assert json.loads(env[names.GUARDRAIL_CAPS_ENV]) == {
        "max_dollars": 40.0,
        "max_instance_hours": None,
        "max_instances": 2,
        "max_vcpus": None,
    }
    assert env[names.GUARDRAIL_HEARTBEAT_MINUTES_ENV] == "30"
    assert "def guardrail_handler" in fn["Properties"]["Code"]["ZipFile"]
    assert "def expire_odi_lease" in fn["Properties"]["Code"]["ZipFile"]  # lease.py's teardown
    (schedule,) = resources(template, "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    (budget,) = resources(template, "AWS::Budgets::Budget").values()
    notes = budget["Properties"]["NotificationsWithSubscribers"]
    assert sorted(n["Notification"]["NotificationType"] for n in notes) == ["ACTUAL", "FORECASTED"]
    assert budget["Properties"]["Budget"]["BudgetLimit"]["Amount"] == 40.0 * 31
    # CloudFormation takes a template body of at most 51,200 bytes (no bootstrap bucket).
    assert len(json.dumps(template)) < 51_200


def test_termination_is_tag_scoped_and_the_deny_is_the_only_policy_it_may_write() -> None:
    found = statements(_template())
    by_sid = {s.get("Sid"): s for s in found}
    terminate = by_sid["TerminateAnnexInstances"]
    assert terminate["Condition"] == {
        "StringLike": {f"ec2:ResourceTag/{names.TAG_ANNEX_NAME}": "*"}
    }
    iam_actions = {
        a
        for s in found
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        if a.startswith("iam:")
    }
    assert iam_actions == {
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:ListPolicyVersions",
        "iam:CreatePolicyVersion",
        "iam:DeletePolicyVersion",
    }
    assert by_sid["ArmAndLiftTheDeny"]["Resource"] == {"Ref": names.LID_GUARDRAIL_DENY}
    assert by_sid["CountActions"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": names.GUARDRAIL_METRIC_NAMESPACE}
    }


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(region=REGION) as process:
        yield process


def test_the_deployed_schedule_drains_with_only_its_roles_rights(emu: EmulatorProcess) -> None:
    """The template on the emulator; condor_annex launches three annexes over the cap; the clock
    moves five minutes; the schedule fires the deployed code as its role, IAM enforced."""
    session = boto3.session.Session()
    aws = {
        n: session.client(n, **emu.boto3_kwargs())
        for n in ("s3", "ec2", "events", "iam", "cloudformation")
    }
    aws["s3"].create_bucket(Bucket=BUCKET)
    aws["iam"].create_instance_profile(InstanceProfileName="annex")
    profile = f"arn:aws:iam::{ACCOUNT}:instance-profile/annex"
    aws["cloudformation"].create_stack(
        StackName=names.GUARDRAIL_STACK,
        TemplateBody=json.dumps(_template()),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = aws["cloudformation"].describe_stacks(StackName=names.GUARDRAIL_STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    launched: dict[str, list[str]] = {}
    for name in ("old", "middle", "new"):
        annex = Annex(name, BUCKET, "arn:aws:lambda:us-east-1:123456789012:function:odi")
        condor_annex_calls.upload_config(aws["s3"], annex, b"tarball")
        condor_annex_calls.start_lease(aws["events"], annex, int(time.time()) + 3000)
        launched[name] = condor_annex_calls.run_instances(
            aws["ec2"],
            annex,
            image_id=AMI,
            instance_profile_arn=profile,
            security_group_ids=[],
            key_name=None,
        )
        time.sleep(1.1)  # launch times are to the second: the newest must be known

    emu.enforce_iam(True)
    try:
        (fired,) = emu.advance_clock(5 * 60 + 1)["fired"]
    finally:
        emu.enforce_iam(False)
    assert fired["ok"], emu.log_tail(5) + json.dumps(fired, indent=1)[:300]
    report = fired["result"]
    assert [a["action"] for a in report["actions"]] == ["arm-deny", "end-annex"]
    assert report["actions"][1]["annex"] == "new"
    states = {
        i["InstanceId"]: i["State"]["Name"]
        for r in aws["ec2"].describe_instances()["Reservations"]
        for i in r["Instances"]
    }
    assert states[launched["new"][0]] in ("shutting-down", "terminated")
    assert {states[launched[n][0]] for n in ("old", "middle")} == {"running"}
    deny_arn = outputs[names.OUT_GUARDRAIL_DENY_POLICY]
    version = aws["iam"].get_policy(PolicyArn=deny_arn)["Policy"]["DefaultVersionId"]
    doc = aws["iam"].get_policy_version(PolicyArn=deny_arn, VersionId=version)["PolicyVersion"]
    assert doc["Document"] == guardrail.DENY_ARMED
    state = json.loads(
        aws["s3"].get_object(Bucket=BUCKET, Key=names.GUARDRAIL_STATE_KEY)["Body"].read()
    )
    assert state["lastRun"]["usage"]["instances"] == 3
