"""The odi and sfr lease functions against moto, in process.

Moto 5.2.5 gaps, bridged on the test's EC2 client only with botocore event hooks (the handler
code runs unchanged):
- DescribeInstances raises NotImplementedError for the "client-token" filter. The hook takes
  that filter out of the request and applies it to the response the way AWS does, with "*" as
  a wildcard; so the prefix filter still returns annex "foo2"'s instances when "foo" expires,
  and the tests show that the handler itself drops them.
- Spot fleet requests drop ClientToken: moto neither stores nor returns it. The hook writes
  back the token each test passed to RequestSpotFleet. Moto also deletes a fleet cancelled
  with TerminateInstances=True instead of showing it as cancelled_terminating, so the tests
  check that the fleet is gone and that its instances are terminated.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from annex_cdk.aws import condor_annex_calls
from annex_lambda_src import lease
from annex_lambda_src.lease import LeaseEventError, expire_odi_lease, expire_sfr_lease
from annex_stacks import names

REGION = "us-east-1"
BUCKET = "htcondor-annex-123456789012-us-east-1"
NOW = 1_800_000_000
PAST = NOW - 60
FUTURE = NOW + 3600
# Moto does not check the image of RunInstances or RequestSpotFleet, and listing its AMIs would
# cost about two seconds per test.
AMI = "ami-12c6146b"
FLEET_ROLE = "arn:aws:iam::123456789012:role/aws-ec2-spot-fleet-tagging-role"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        clients = {n: boto3.client(n, region_name=REGION) for n in ("s3", "ec2", "events")}
        _install_shims(clients["ec2"])
        clients["s3"].create_bucket(Bucket=BUCKET)
        yield clients


def _install_shims(ec2: Any) -> None:
    fleet_tokens: dict[str, str] = {}
    patterns: list[str] = []
    ec2.fleet_tokens = fleet_tokens  # for the helpers below

    def strip_filter(params: dict[str, Any], **_: Any) -> None:
        patterns.clear()
        kept = []
        for f in params.get("Filters", []):
            if f["Name"] == "client-token":
                patterns.extend(f["Values"])
            else:
                kept.append(f)
        params["Filters"] = kept

    def apply_filter(parsed: dict[str, Any], **_: Any) -> None:
        if not patterns:
            return
        for res in parsed.get("Reservations", []):
            res["Instances"] = [
                i
                for i in res["Instances"]
                if any(fnmatch.fnmatchcase(i.get("ClientToken", ""), p) for p in patterns)
            ]
        parsed["Reservations"] = [r for r in parsed.get("Reservations", []) if r["Instances"]]

    def add_tokens(parsed: dict[str, Any], **_: Any) -> None:
        for r in parsed.get("SpotFleetRequestConfigs", []):
            token = fleet_tokens.get(r["SpotFleetRequestId"])
            if token is not None:
                r["SpotFleetRequestConfig"]["ClientToken"] = token

    ev = ec2.meta.events
    ev.register("before-parameter-build.ec2.DescribeInstances", strip_filter)
    ev.register("after-call.ec2.DescribeInstances", apply_filter)
    ev.register("after-call.ec2.DescribeSpotFleetRequests", add_tokens)


def _annex(aws: dict[str, Any], annex_id: str, *, expiry: int = PAST) -> None:
    """What condor_annex leaves behind for one annex: the config object and the lease rule."""
    aws["s3"].put_object(Bucket=BUCKET, Key=f"config-{annex_id}.tar.gz", Body=b"tarball")
    aws["events"].put_rule(Name=annex_id, ScheduleExpression="rate(5 minutes)", State="ENABLED")
    aws["events"].put_targets(
        Rule=annex_id,
        Targets=[
            {
                "Id": annex_id,
                "Arn": "arn:aws:lambda:us-east-1:123456789012:function:odi",
                "Input": condor_annex_calls.lease_input(
                    annex_id, f"{BUCKET}/{condor_annex_calls.config_key(annex_id)}", expiry
                ),
            }
        ],
    )


def _instances(aws: dict[str, Any], annex_id: str, count: int = 2) -> list[str]:
    out = aws["ec2"].run_instances(
        ImageId=AMI,
        MinCount=count,
        MaxCount=count,
        ClientToken=f"{annex_id}_{uuid.uuid4()}",
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": names.TAG_ANNEX_NAME, "Value": annex_id}]}
        ],
    )
    return [i["InstanceId"] for i in out["Instances"]]


def _fleet(aws: dict[str, Any], annex_id: str) -> str:
    token = f"{annex_id}_{uuid.uuid4()}"
    out = aws["ec2"].request_spot_fleet(
        SpotFleetRequestConfig={
            "ClientToken": token,
            "TargetCapacity": 1,
            "IamFleetRole": FLEET_ROLE,
            "AllocationStrategy": "lowestPrice",
            "LaunchSpecifications": [{"ImageId": AMI, "InstanceType": "t3.micro"}],
        }
    )
    fleet_id = out["SpotFleetRequestId"]
    aws["ec2"].fleet_tokens[fleet_id] = token
    return fleet_id


def _states(aws: dict[str, Any], ids: list[str]) -> set[str]:
    res = aws["ec2"].describe_instances(InstanceIds=ids)["Reservations"]
    return {i["State"]["Name"] for r in res for i in r["Instances"]}


def _objects(aws: dict[str, Any]) -> set[str]:
    return {o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def _rules(aws: dict[str, Any]) -> set[str]:
    return {r["Name"] for r in aws["events"].list_rules()["Rules"]}


def _fleets(aws: dict[str, Any]) -> dict[str, str]:
    configs = aws["ec2"].describe_spot_fleet_requests()["SpotFleetRequestConfigs"]
    return {c["SpotFleetRequestId"]: c["SpotFleetRequestState"] for c in configs}


def _event(annex_id: str, expiry: int = PAST) -> dict[str, Any]:
    """The create-time input, parsed as EventBridge hands it to the function."""
    upload_to = f"{BUCKET}/{condor_annex_calls.config_key(annex_id)}"
    return json.loads(condor_annex_calls.lease_input(annex_id, upload_to, expiry))


def _extended(annex_id: str, expiry: int = PAST) -> dict[str, Any]:
    """The input `condor_annex -annex-name N -duration H` writes: no upload, so no bucket."""
    return json.loads(condor_annex_calls.lease_input(annex_id, "", expiry))


def _odi(aws: dict[str, Any], event: dict[str, Any], now: int = NOW) -> dict[str, Any]:
    return expire_odi_lease(event, s3=aws["s3"], ec2=aws["ec2"], events=aws["events"], now=now)


def _sfr(aws: dict[str, Any], event: dict[str, Any], now: int = NOW) -> dict[str, Any]:
    return expire_sfr_lease(event, s3=aws["s3"], ec2=aws["ec2"], events=aws["events"], now=now)


def test_expired_odi_lease_tears_down_only_its_annex(aws: dict[str, Any]) -> None:
    for annex_id in ("foo", "foo2", "bar"):
        _annex(aws, annex_id)
    mine = _instances(aws, "foo") + _instances(aws, "foo", count=1)
    prefixed = _instances(aws, "foo2")  # "foo" is a prefix of "foo2"
    other = _instances(aws, "bar")

    result = _odi(aws, _event("foo"))

    assert result["expired"] is True
    assert sorted(result["terminatedInstances"]) == sorted(mine)
    assert result["deletedObjects"] == [f"s3://{BUCKET}/config-foo.tar.gz"]
    assert result["deletedRule"] == "foo"
    assert _states(aws, mine) <= {"shutting-down", "terminated"}
    assert _states(aws, prefixed + other) == {"running"}
    assert _objects(aws) == {"config-foo2.tar.gz", "config-bar.tar.gz"}
    assert _rules(aws) == {"foo2", "bar"}
    assert aws["events"].list_targets_by_rule(Rule="foo2")["Targets"][0]["Id"] == "foo2"


def test_odi_lease_skips_instances_already_gone(aws: dict[str, Any]) -> None:
    _annex(aws, "foo")
    gone, alive = _instances(aws, "foo", count=1), _instances(aws, "foo", count=1)
    aws["ec2"].terminate_instances(InstanceIds=gone)

    assert _odi(aws, _event("foo"))["terminatedInstances"] == alive


def test_odi_lease_pages_through_describe_instances(aws: dict[str, Any]) -> None:
    _annex(aws, "foo")
    mine = [i for _ in range(3) for i in _instances(aws, "foo", count=1)]
    for _ in range(8):  # moto pages by reservation; one run_instances call is one reservation
        _instances(aws, "bar", count=1)
    calls: list[str | None] = []

    def small_pages(params: dict[str, Any], **_: Any) -> None:
        params["MaxResults"] = 5
        calls.append(params.get("NextToken"))

    aws["ec2"].meta.events.register("provide-client-params.ec2.DescribeInstances", small_pages)

    assert sorted(_odi(aws, _event("foo"))["terminatedInstances"]) == sorted(mine)
    assert len(calls) == 3 and calls[0] is None and all(calls[1:])


def test_expired_sfr_lease_cancels_only_its_annex(aws: dict[str, Any]) -> None:
    for annex_id in ("foo", "foo2"):
        _annex(aws, annex_id)
    mine = [_fleet(aws, "foo"), _fleet(aws, "foo")]
    prefixed = _fleet(aws, "foo2")
    cancelled = _fleet(aws, "foo")
    aws["ec2"].cancel_spot_fleet_requests(SpotFleetRequestIds=[cancelled], TerminateInstances=False)
    instances = [
        i["InstanceId"]
        for f in mine
        for i in aws["ec2"].describe_spot_fleet_instances(SpotFleetRequestId=f)["ActiveInstances"]
    ]
    assert instances

    result = _sfr(aws, _event("foo"))

    assert sorted(result["cancelledSpotFleetRequests"]) == sorted(mine)
    assert _fleets(aws) == {prefixed: "active", cancelled: "cancelled_running"}
    assert _states(aws, instances) <= {"shutting-down", "terminated"}
    assert _objects(aws) == {"config-foo2.tar.gz"}
    assert _rules(aws) == {"foo2"}


@pytest.mark.parametrize("expire", [expire_odi_lease, expire_sfr_lease])
def test_unexpired_lease_changes_nothing(aws: dict[str, Any], expire: Any) -> None:
    _annex(aws, "foo", expiry=FUTURE)
    instances = _instances(aws, "foo")
    fleet = _fleet(aws, "foo")

    for now in (NOW, FUTURE):  # the lease still holds at the very second it ends
        result = expire(
            _event("foo", FUTURE), s3=aws["s3"], ec2=aws["ec2"], events=aws["events"], now=now
        )
        assert result == {"AnnexID": "foo", "LeaseExpiration": FUTURE, "expired": False}

    assert _objects(aws) == {"config-foo.tar.gz"}
    assert _states(aws, instances) == {"running"}
    assert _fleets(aws) == {fleet: "active"}
    assert _rules(aws) == {"foo"}


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"S3BucketName": BUCKET, "LeaseExpiration": PAST}, "AnnexID"),
        ({"AnnexID": "", "S3BucketName": BUCKET, "LeaseExpiration": PAST}, "AnnexID"),
        ({"AnnexID": 7, "S3BucketName": BUCKET, "LeaseExpiration": PAST}, "AnnexID"),
        ({"AnnexID": "foo", "S3BucketName": BUCKET}, "LeaseExpiration"),
        ({"AnnexID": "foo", "S3BucketName": BUCKET, "LeaseExpiration": "17"}, "LeaseExpiration"),
        ({"AnnexID": "foo", "S3BucketName": BUCKET, "LeaseExpiration": 1.5}, "LeaseExpiration"),
        ({"AnnexID": "foo", "S3BucketName": BUCKET, "LeaseExpiration": True}, "LeaseExpiration"),
        (["foo"], "event"),
    ],
)
@pytest.mark.parametrize("expire", [expire_odi_lease, expire_sfr_lease])
def test_malformed_event_is_rejected(
    aws: dict[str, Any], expire: Any, event: Any, field: str
) -> None:
    _annex(aws, "foo")
    with pytest.raises(LeaseEventError, match=field) as err:
        expire(event, s3=aws["s3"], ec2=aws["ec2"], events=aws["events"], now=NOW)
    assert isinstance(err.value, ValueError)
    assert "\n" not in str(err.value)
    assert _objects(aws) == {"config-foo.tar.gz"}
    assert _rules(aws) == {"foo"}


@pytest.mark.parametrize("run", [_odi, _sfr])
def test_expired_lease_is_idempotent(aws: dict[str, Any], run: Any) -> None:
    _annex(aws, "foo")
    instances = _instances(aws, "foo")
    _fleet(aws, "foo")

    first, second = run(aws, _event("foo")), run(aws, _event("foo"))

    assert first["expired"] is second["expired"] is True
    assert second.get("terminatedInstances", []) == []
    assert second.get("cancelledSpotFleetRequests", []) == []
    assert _rules(aws) == set()
    if run is _odi:
        assert _states(aws, instances) <= {"shutting-down", "terminated"}
    else:
        assert _fleets(aws) == {}


def test_rule_without_target_is_still_deleted(aws: dict[str, Any]) -> None:
    _annex(aws, "foo")
    aws["events"].remove_targets(Rule="foo", Ids=["foo"])

    _odi(aws, _event("foo"))

    assert _rules(aws) == set()


def test_missing_bucket_does_not_stop_the_teardown(aws: dict[str, Any]) -> None:
    _annex(aws, "foo")
    instances = _instances(aws, "foo")
    event = {**_event("foo"), "S3BucketName": "no-such-bucket"}

    result = _odi(aws, event)

    assert result["deletedObjects"] == []
    assert sorted(result["terminatedInstances"]) == sorted(instances)
    assert _rules(aws) == set()


def test_duration_input_names_no_bucket() -> None:
    # PutTargets.cpp:35-39 takes the bucket from UploadTo; annex-update.cpp never sets it.
    assert _extended("foo") == {"AnnexID": "foo", "S3BucketName": "", "LeaseExpiration": PAST}
    assert _event("foo")["S3BucketName"] == BUCKET


@pytest.mark.parametrize("run", [_odi, _sfr])
def test_extended_lease_still_ends_with_the_functions_own_bucket(
    aws: dict[str, Any], run: Any
) -> None:
    for annex_id in ("foo", "foo2"):
        _annex(aws, annex_id)
    mine, neighbour = _instances(aws, "foo"), _instances(aws, "foo2")
    fleet, neighbour_fleet = _fleet(aws, "foo"), _fleet(aws, "foo2")
    expire = expire_odi_lease if run is _odi else expire_sfr_lease

    result = expire(
        _extended("foo"),
        s3=aws["s3"],
        ec2=aws["ec2"],
        events=aws["events"],
        now=NOW,
        bucket=BUCKET,
    )

    assert result["deletedObjects"] == [f"s3://{BUCKET}/config-foo.tar.gz"]
    assert _objects(aws) == {"config-foo2.tar.gz"}
    assert _rules(aws) == {"foo2"}
    if run is _odi:
        assert sorted(result["terminatedInstances"]) == sorted(mine)
        assert _states(aws, mine) <= {"shutting-down", "terminated"}
        assert _states(aws, neighbour) == {"running"}
    else:
        assert result["cancelledSpotFleetRequests"] == [fleet]
        assert _fleets(aws) == {neighbour_fleet: "active"}


@pytest.mark.parametrize("event", [{}, {"S3BucketName": None}, {"S3BucketName": 7}])
def test_lease_without_any_bucket_still_ends_the_annex(
    aws: dict[str, Any], event: dict[str, Any]
) -> None:
    _annex(aws, "foo")
    instances = _instances(aws, "foo")
    raw = {k: v for k, v in _event("foo").items() if k != "S3BucketName"}

    result = _odi(aws, {**raw, **event})

    assert result["deletedObjects"] == []
    assert sorted(result["terminatedInstances"]) == sorted(instances)
    assert _rules(aws) == set()


def test_foreign_bucket_refusal_does_not_stop_the_teardown(aws: dict[str, Any]) -> None:
    _annex(aws, "foo")
    instances = _instances(aws, "foo")

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if params["Bucket"] == "elsewhere":
            raise aws["s3"].exceptions.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "denied"}}, "DeleteObject"
            )

    aws["s3"].meta.events.register("provide-client-params.s3.DeleteObject", refuse)
    event = {**_event("foo"), "S3BucketName": "elsewhere"}

    result = expire_odi_lease(
        event, s3=aws["s3"], ec2=aws["ec2"], events=aws["events"], now=NOW, bucket=BUCKET
    )

    assert result["deletedObjects"] == [f"s3://{BUCKET}/config-foo.tar.gz"]
    assert sorted(result["terminatedInstances"]) == sorted(instances)
    assert _rules(aws) == set()


def test_handlers_use_boto3_and_the_clock(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _annex(aws, "foo", expiry=FUTURE)
    _annex(aws, "bar")
    monkeypatch.setattr(lease.time, "time", lambda: float(NOW))
    monkeypatch.setenv(names.LEASE_BUCKET_ENV, BUCKET)

    assert lease.odi_handler(_extended("foo", FUTURE), None)["expired"] is False
    assert lease.sfr_handler(_extended("bar"), None)["deletedObjects"] == [
        f"s3://{BUCKET}/config-bar.tar.gz"
    ]
    assert _rules(aws) == {"foo"}
    assert _objects(aws) == {"config-foo.tar.gz"}
