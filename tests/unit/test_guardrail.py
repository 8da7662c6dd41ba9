"""The guardrail function against the emulator: annexes launched as condor_annex launches them
(cli/aws/condor_annex_calls: RunInstances and RequestSpotFleet with the annex tag and client token),
prices from the emulator's Price List, the Deny evaluated by the emulator's IAM enforcement."""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from annex_cdk.aws import condor_annex_calls
from annex_cdk.aws.condor_annex_calls import Annex
from annex_emulator import price_list
from annex_emulator.server import EmulatorProcess
from annex_lambda_src import guardrail
from annex_lambda_src.guardrail import Caps, GuardrailConfig, run_guardrail
from annex_stacks import handlers, names

REGION = "us-east-1"
BUCKET = "htcondor-annex-123456789012-us-east-1"
AMI = "ami-12c6146b"
LEASE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:odi"
HEARTBEAT = "/htcondor-annex/test/heartbeat"
HOUR = 3600.0
FLEET = "arn:aws:iam::123456789012:role/fleet"
PROFILE = "arn:aws:iam::123456789012:instance-profile/annex"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(region=REGION) as process:
        yield process


@pytest.fixture
def aws(emu: EmulatorProcess) -> Iterator[dict[str, Any]]:
    emu.reset()
    session = boto3.session.Session()
    services = ("ec2", "s3", "events", "iam", "ssm", "pricing", "cloudwatch")
    clients = {n: session.client(n, **emu.boto3_kwargs()) for n in services}
    clients["s3"].create_bucket(Bucket=BUCKET)
    clients["iam"].create_instance_profile(InstanceProfileName="annex")
    yield clients


@pytest.fixture
def clock(emu: EmulatorProcess, aws: dict[str, Any]) -> Callable[[], float]:
    """The emulator's clock at 01:00 UTC tomorrow, where instances then launch: the hours a test
    adds stay on one UTC day (the guardrail's ledger starts afresh at midnight) whatever the hour
    the suite runs at. Returns the clock's now."""
    real = time.time()
    offset = emu.advance_clock(real - real % 86400 + 86400 + HOUR - real)["offset"]
    return lambda: time.time() + float(offset)


def _policy(aws: dict[str, Any]) -> str:
    out = aws["iam"].create_policy(
        PolicyName="guardrail-deny", PolicyDocument=json.dumps(guardrail.DENY_DISARMED)
    )
    return str(out["Policy"]["Arn"])


def _config(aws: dict[str, Any], caps: Caps, **kwargs: Any) -> GuardrailConfig:
    return GuardrailConfig(caps=caps, bucket=BUCKET, deny_policy_arn=_policy(aws), **kwargs)


def _run(aws: dict[str, Any], config: GuardrailConfig, now: float | None = None) -> dict[str, Any]:
    return run_guardrail(config, **aws, region=REGION, now=time.time() if now is None else now)


def _launch(
    aws: dict[str, Any], name: str, count: int = 1, *, spot: bool = False, **kw: Any
) -> list[str]:
    """An annex as condor_annex starts it: tarball, lease rule, then the instances or fleet."""
    annex = Annex(name, BUCKET, LEASE_ARN)
    condor_annex_calls.upload_config(aws["s3"], annex, b"tarball")
    condor_annex_calls.start_lease(aws["events"], annex, int(time.time()) + 3000)
    common = {
        "image_id": AMI,
        "instance_profile_arn": PROFILE,
        "security_group_ids": [],
        "count": count,
        **kw,
    }
    if spot:
        fleet = condor_annex_calls.request_spot_fleet(
            aws["ec2"], annex, fleet_role_arn=FLEET, **common
        )
        active = aws["ec2"].describe_spot_fleet_instances(SpotFleetRequestId=fleet)
        return [i["InstanceId"] for i in active["ActiveInstances"]]
    return condor_annex_calls.run_instances(aws["ec2"], annex, key_name=None, **common)


def _states(aws: dict[str, Any], ids: list[str]) -> set[str]:
    res = aws["ec2"].describe_instances(InstanceIds=ids)["Reservations"]
    return {i["State"]["Name"] for r in res for i in r["Instances"]}


def _rules(aws: dict[str, Any]) -> set[str]:
    return {r["Name"] for r in aws["events"].list_rules()["Rules"]}


def _objects(aws: dict[str, Any]) -> set[str]:
    return {o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def _deny(aws: dict[str, Any], arn: str) -> dict[str, Any]:
    version = aws["iam"].get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    doc = aws["iam"].get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
    return doc["Document"] if isinstance(doc["Document"], dict) else json.loads(doc["Document"])


def test_over_the_instance_cap_denies_then_drains_newest_annexes_first(aws: dict[str, Any]) -> None:
    untagged = aws["ec2"].run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
    # condor_annex's prefix match would have taken "beta2" with "beta"; launch order is age.
    beta2 = _launch(aws, "beta2")
    time.sleep(1.1)  # EC2 reports launch times to the second
    alpha = _launch(aws, "alpha")
    time.sleep(1.1)
    beta = _launch(aws, "beta", 2)
    time.sleep(1.1)
    gamma = _launch(aws, "gamma", spot=True)
    config = _config(aws, Caps(max_instances=2))

    report = _run(aws, config)

    assert report["usage"]["instances"] == 5
    assert report["breaches"] == [{"cap": "max_instances", "value": 5, "limit": 2}]
    assert [a["action"] for a in report["actions"]] == ["arm-deny", "end-annex", "end-annex"]
    assert [a.get("annex") for a in report["actions"][1:]] == ["gamma", "beta"]
    assert _states(aws, beta + gamma) <= {"shutting-down", "terminated"}
    assert _states(aws, alpha + beta2 + [untagged["InstanceId"]]) == {"running"}
    assert report["actions"][1]["cancelledSpotFleetRequests"]  # the fleet, not only its instance
    assert _rules(aws) == {"alpha", "beta2"}
    assert _objects(aws) == {
        condor_annex_calls.config_key("alpha"),
        condor_annex_calls.config_key("beta2"),
        guardrail.STATE_KEY,
    }
    assert _deny(aws, config.deny_policy_arn or "") == guardrail.DENY_ARMED

    again = _run(aws, config)  # at the cap now: nothing more to do, the Deny stays
    assert again["breaches"] == [] and again["actions"] == []
    assert again["deny"]["armed"] is True


def test_the_deny_refuses_condor_annexs_launches_as_iam_evaluates_it(
    aws: dict[str, Any], emu: EmulatorProcess
) -> None:
    """A user holding launch rights plus the stack's Deny policy, as the emulator enforces IAM."""
    iam = aws["iam"]
    arn = _policy(aws)
    iam.create_user(UserName="condor")
    allow = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "ec2:RunInstances",
                    "ec2:RequestSpotFleet",
                    "ec2:CreateTags",
                    "iam:PassRole",
                ],
                "Resource": "*",
            }
        ],
    }
    iam.put_user_policy(UserName="condor", PolicyName="launch", PolicyDocument=json.dumps(allow))
    iam.attach_user_policy(UserName="condor", PolicyArn=arn)
    key = iam.create_access_key(UserName="condor")["AccessKey"]
    kwargs = {
        **emu.boto3_kwargs(),
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }
    as_condor = {"ec2": boto3.client("ec2", **kwargs)}
    annex = Annex("delta", BUCKET, LEASE_ARN)
    launch = {"image_id": AMI, "instance_profile_arn": PROFILE, "security_group_ids": []}

    def as_condor_launches(armed: bool) -> None:
        guardrail.set_deny(iam, arn, armed)
        emu.enforce_iam(True)
        try:
            if not armed:
                assert condor_annex_calls.run_instances(
                    as_condor["ec2"], annex, key_name=None, **launch
                )
                return
            denied = as_condor["ec2"].exceptions.ClientError
            with pytest.raises(denied, match="not authorized to perform: ec2:RunInstances"):
                condor_annex_calls.run_instances(as_condor["ec2"], annex, key_name=None, **launch)
            with pytest.raises(denied, match="not authorized to perform: ec2:RequestSpotFleet"):
                condor_annex_calls.request_spot_fleet(
                    as_condor["ec2"], annex, fleet_role_arn=FLEET, **launch
                )
            # An untagged launch by the same identity is no annex: not denied.
            as_condor["ec2"].run_instances(ImageId=AMI, MinCount=1, MaxCount=1)
        finally:
            emu.enforce_iam(False)

    as_condor_launches(armed=False)
    as_condor_launches(armed=True)
    as_condor_launches(armed=False)


def test_dollars_come_from_the_price_list_and_an_unknown_price_is_a_breach(
    aws: dict[str, Any], clock: Callable[[], float]
) -> None:
    priced = _launch(aws, "priced", 2)  # m4.large, condor_annex's default type
    config = _config(aws, Caps(max_dollars=0.5))
    price = price_list.LINUX_PRICES[(REGION, condor_annex_calls.DEFAULT_INSTANCE_TYPE)][1]

    under = _run(aws, config, clock() + 2 * HOUR)
    assert under["usage"]["prices"] == {condor_annex_calls.DEFAULT_INSTANCE_TYPE: price}
    assert under["usage"]["dollars"] == pytest.approx(2 * 2 * price, abs=0.01)
    assert "AWS Price List" in under["usage"]["priceSource"]
    assert under["breaches"] == [] and _states(aws, priced) == {"running"}

    over = _run(aws, config, clock() + 3 * HOUR)
    assert [b["cap"] for b in over["breaches"]] == ["max_dollars"]
    assert _states(aws, priced) <= {"shutting-down", "terminated"}


def test_an_unknown_price_is_never_zero(aws: dict[str, Any]) -> None:
    unknown = _launch(aws, "exotic", instance_type="m6i.large")  # not in the Price List table
    report = _run(aws, _config(aws, Caps(max_dollars=1000.0)))
    assert report["usage"]["dollars"] is None
    assert report["breaches"][0]["cap"] == "max_dollars"
    assert "m6i.large" in report["breaches"][0]["why"]
    assert _states(aws, unknown) <= {"shutting-down", "terminated"}


def test_vcpus_and_instance_hours_caps(aws: dict[str, Any], clock: Callable[[], float]) -> None:
    _launch(aws, "cpus", 3)  # m4.large: 2 vCPUs each
    report = _run(aws, _config(aws, Caps(max_vcpus=6, max_instance_hours=10.0)), clock() + HOUR)
    assert report["usage"]["vcpus"] == 6
    assert report["usage"]["instanceHours"] == pytest.approx(3.0, abs=0.05)
    assert report["breaches"] == []


def test_the_deny_lifts_on_the_next_utc_day_or_when_a_cap_is_raised(
    aws: dict[str, Any], clock: Callable[[], float]
) -> None:
    _launch(aws, "one", 2)
    config = _config(aws, Caps(max_instances=1))
    now = clock()
    assert _run(aws, config, now)["deny"]["armed"] is True
    arn = config.deny_policy_arn or ""

    raised = GuardrailConfig(caps=Caps(max_instances=5), bucket=BUCKET, deny_policy_arn=arn)
    lifted = _run(aws, raised, now + 60)
    assert [a["action"] for a in lifted["actions"]] == ["lift-deny"]
    assert _deny(aws, arn) == guardrail.DENY_DISARMED

    _launch(aws, "two", 2)
    assert _run(aws, config, now + 120)["deny"]["armed"] is True
    tomorrow = now - now % 86400 + 86400 + 60
    assert _run(aws, config, tomorrow)["deny"]["armed"] is False
    assert _deny(aws, arn) == guardrail.DENY_DISARMED


def test_a_stale_heartbeat_drains_every_annex_and_none_arms_nothing(aws: dict[str, Any]) -> None:
    ids = _launch(aws, "hb", 2)
    config = _config(aws, Caps(), heartbeat_parameter=HEARTBEAT, heartbeat_minutes=15)
    before = _run(aws, config, time.time() + 3 * HOUR)  # no heartbeat yet: arms nothing
    assert before["heartbeat"]["ageSeconds"] is None and before["actions"] == []
    aws["ssm"].put_parameter(Name=HEARTBEAT, Value="alive", Type="String", Overwrite=True)
    fresh = _run(aws, config, time.time() + 14 * 60)
    assert fresh["heartbeat"]["stale"] is False and _states(aws, ids) == {"running"}
    stale = _run(aws, config, time.time() + 16 * 60)
    assert stale["heartbeat"]["stale"] is True
    assert [a["annex"] for a in stale["actions"]] == ["hb"]
    assert _states(aws, ids) <= {"shutting-down", "terminated"}


def test_the_bundle_is_one_index_py_without_name_collisions() -> None:
    """Deployed, guardrail.py follows lease.py in one file: no top-level name may be defined
    twice, or the later file would change the earlier one's behaviour."""
    bundle = handlers.bundle(handlers.GUARDRAIL_FILES)
    compile(bundle, "index.py", "exec")
    defined: dict[str, str] = {}
    for file_name in handlers.GUARDRAIL_FILES:
        for node in ast.parse(handlers.source(file_name)).body:
            targets: list[str] = []
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                targets = [node.name]
            elif isinstance(node, ast.Assign):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                targets = [node.target.id]
            for name in targets:
                assert name not in defined, f"{name} defined in {defined.get(name)} and {file_name}"
                defined[name] = file_name
    assert "annex_lambda_src" not in bundle.split("guardrail_handler")[-1]
    assert guardrail.ANNEX_TAG == names.TAG_ANNEX_NAME
