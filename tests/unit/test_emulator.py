"""The local AWS emulator: one moto subprocess per module, driven with boto3 as annex-cdk does.

Each test checks what annex-cdk relies on through the *service* APIs (describe_key_pairs,
get_bucket_policy, describe_security_groups, ...), not just the stack status: moto used to report
CREATE_COMPLETE while skipping resources it did not know.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT_ID

from annex_emulator import latency
from annex_emulator import server as emulator
from annex_emulator.server import EmulatorError, EmulatorProcess
from annex_stacks import names

REGION = "us-east-1"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(region=REGION) as process:
        yield process


@pytest.fixture(scope="module")
def aws(emu: EmulatorProcess) -> Any:
    """boto3 clients on the emulator: aws("ec2")."""
    session = boto3.session.Session()
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(service, **emu.boto3_kwargs())
        return clients[service]

    return client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def deploy(aws: Any, name: str, template: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """create_stack or update_stack; the emulator is synchronous, so the call is the operation."""
    cfn = aws("cloudformation")
    body = json.dumps(template)
    try:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError:
        stack = None
    if stack is None:
        cfn.create_stack(StackName=name, TemplateBody=body, **kwargs)
    else:
        cfn.update_stack(StackName=name, TemplateBody=body, **kwargs)
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def status_of(aws: Any, stack_id: str) -> str:
    return aws("cloudformation").describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]


def failures(aws: Any, name: str) -> list[tuple[str, str, str]]:
    events = aws("cloudformation").describe_stack_events(StackName=name)["StackEvents"]
    return [
        (e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason") or "")
        for e in reversed(events)
        if e["ResourceStatus"].endswith("_FAILED") and e["LogicalResourceId"] != e["StackName"]
    ]


# --- the process ---------------------------------------------------------------------------------


def _listeners(port: int) -> set[str]:
    """Local addresses with a LISTEN socket on `port`, from /proc/net/tcp{,6} (hex, as stored)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":
                found.add(address)
    return found


def test_emulator_listens_on_loopback_only(emu: EmulatorProcess) -> None:
    assert emu.running and emu.endpoint_url == f"http://127.0.0.1:{emu.port}"
    emu.wait_ready(loaded=True)  # moto loads in the background after the socket listens
    assert emu.startup_seconds is not None and emu.loaded_seconds is not None
    assert emu.startup_seconds <= emu.loaded_seconds
    if os.path.exists("/proc/net/tcp"):
        assert _listeners(emu.port) == {"0100007F"}  # 127.0.0.1, nothing else, no IPv6
    try:
        addresses = {str(i[4][0]) for i in socket.getaddrinfo(socket.gethostname(), None)}
    except socket.gaierror:  # a host name that does not resolve: nothing more to try
        addresses = set()
    for address in addresses - {"127.0.0.1", "127.0.1.1", "::1"}:
        with pytest.raises(OSError), socket.create_connection((address, emu.port), 0.5):
            pass
    with pytest.raises(ValueError, match="loopback"):
        emulator.run(host="0.0.0.0")


def test_env_points_a_child_process_at_the_emulator(emu: EmulatorProcess) -> None:
    assert emu.env() == {
        "AWS_ENDPOINT_URL": emu.localhost_url,  # works for boto3 and the Node CDK CLI
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    base = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_PROFILE": "prod",
        "AWS_SESSION_TOKEN": "t",
        "AWS_ENDPOINT_URL_S3": "https://elsewhere",
        "NO_PROXY": "example.org",
    }
    env = emu.environ(base)
    assert not {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"} & set(env)
    assert env["NO_PROXY"] == "example.org,127.0.0.1,localhost"
    assert emulator.is_cleared("AWS_PROFILE") and not emulator.is_cleared("AWS_REGION")
    code = "import boto3; print(boto3.client('sts').get_caller_identity()['Account'])"
    child = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert child.stdout.strip() == ACCOUNT_ID, child.stderr


def _signed_environ(service: str) -> dict[str, str]:
    """The WSGI headers of a request botocore signed for `service`, as the emulator sees them."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url="http://127.0.0.1:1/", data=b"Action=X")
    SigV4Auth(Credentials("testing", "testing"), service, REGION).add_auth(request)
    return {"HTTP_AUTHORIZATION": request.headers["Authorization"]}


def test_latency_is_chosen_per_service_from_the_request_signature() -> None:
    delays = latency.parse(["100", "s3=30", "sts=0"])
    assert delays == {"*": 100.0, "s3": 30.0, "sts": 0.0}
    assert latency.parse(latency.as_args(delays)[1::2]) == delays
    assert latency.service(_signed_environ("cloudformation")) == "cloudformation"
    assert latency.seconds_for(delays, _signed_environ("cloudformation")) == 0.1
    assert latency.seconds_for(delays, _signed_environ("s3")) == 0.03
    assert latency.seconds_for(delays, _signed_environ("sts")) == 0.0
    assert latency.seconds_for(delays, {}) == 0.1  # unsigned: the delay for every service
    assert latency.seconds_for({"s3": 30.0}, _signed_environ("ssm")) == 0.0
    assert latency.seconds_for({}, _signed_environ("s3")) == 0.0
    for bad in ("fast", "-5", "s3=", "=30", "S3=30"):
        with pytest.raises(latency.LatencyError, match="--latency-ms"):
            latency.parse([bad])


def test_the_emulators_botocore_sessions_share_one_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto makes sessions of its own while it loads: each parsed EC2's model again; and a
    loader of moto's own for each service's first request, which listed every service."""
    import botocore.session
    from moto.core import utils as moto_utils

    from annex_emulator import botocore_data

    monkeypatch.setattr(botocore.session, "create_loader", botocore.session.create_loader)
    monkeypatch.setattr(moto_utils, "create_loader", moto_utils.create_loader)
    botocore_data.share_one_loader()
    assert moto_utils.create_loader() is moto_utils.create_loader()
    first, second = boto3.Session(), boto3.Session()
    loader = first._loader
    assert second._loader is loader
    assert first.client("sts", region_name=REGION) is not None
    assert loader.search_paths and len(loader.search_paths) == len(set(loader.search_paths))


def test_the_delay_runs_from_arrival_and_covers_the_emulators_own_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AWS's latency includes the service's work: moto's work is done within the delay (the
    body is made first), and the answer leaves at arrival + delay, not after both."""
    events: list[str] = []
    monkeypatch.setattr(latency.time, "monotonic", lambda: 10.0)
    monkeypatch.setattr(latency, "wait_until", lambda when: events.append(f"wait until {when}"))

    def moto(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        events.append("moto answers")
        start_response("200 OK", [])
        yield b"<GetCallerIdentityResponse/>"
        events.append("body made")

    gate = emulator._LoadingGate(latency={"*": 100.0})
    gate.app = moto
    gate.loaded.set()
    environ = {"PATH_INFO": "/", "REQUEST_METHOD": "POST", **_signed_environ("sts")}
    body = gate(environ, lambda status, headers: None)
    assert body == [b"<GetCallerIdentityResponse/>"]
    assert events == ["moto answers", "body made", "wait until 10.1"]


def test_an_emulator_with_latency_answers_no_sooner_than_told_and_counts_calls() -> None:
    """A lower bound only: a loaded machine can make a call slower, never faster."""
    with EmulatorProcess(region=REGION, latency_ms={"*": 400, "s3": 0}) as slow:
        health = json.loads(
            urllib.request.urlopen(slow.endpoint_url + emulator.HEALTH_PATH, timeout=30).read()
        )
        assert health["latency_ms"] == {"*": 400, "s3": 0}
        sts = boto3.client("sts", **slow.boto3_kwargs())
        started = time.monotonic()
        assert sts.get_caller_identity()["Account"] == ACCOUNT_ID
        assert time.monotonic() - started >= 0.4
        # Every AWS call is counted by service and action (the benchmarks' call counts).
        boto3.client("s3", **slow.boto3_kwargs()).list_buckets()
        assert slow.calls() == {"s3:GET": 1, "sts:GetCallerIdentity": 1}
        slow.reset()
        assert slow.calls() == {}


def test_the_emulator_command_takes_latencies_and_says_so(tmp_path: Path) -> None:
    cli = Path(sys.executable).parent / "annex-cdk"
    args = [str(cli), "emulator", "--port", "0", "--latency-ms", "100", "--latency-ms", "s3=30"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert "listening on http://127.0.0.1:" in first
    assert second.strip() == (
        "Every AWS answer is delayed as an account's would be: 100 ms, s3 30 ms."
    )
    bad = subprocess.run(
        [str(cli), "emulator", "--latency-ms", "fast"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert "--latency-ms" in bad.stderr and "Traceback" not in bad.stderr


def test_start_failures_are_reported_and_cleaned_up(tmp_path: Path) -> None:
    def fake_python(name: str, script: str) -> str:
        path = tmp_path / name
        path.write_text(f"#!/bin/sh\n{script}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
        return str(path)

    with pytest.raises(EmulatorError, match="exited with status 3"):
        EmulatorProcess(python=fake_python("crashes", "exit 3")).start()
    hangs = fake_python("hangs", "echo starting; exec sleep 30")
    process = EmulatorProcess(python=hangs, startup_timeout=0.3)
    with pytest.raises(EmulatorError, match="did not start in time") as failure:
        process.start()
    assert "starting" in str(failure.value)  # the log's tail comes with the error
    assert not process.running
    process.stop()  # idempotent


def test_reset_forgets_everything(emu: EmulatorProcess, aws: Any) -> None:
    bucket = unique("annex-reset")
    aws("s3").create_bucket(Bucket=bucket)
    emu.reset()
    assert bucket not in [b["Name"] for b in aws("s3").list_buckets()["Buckets"]]


# --- AWS::EC2::KeyPair ---------------------------------------------------------------------------


def key_pair_template(key_name: str) -> dict[str, Any]:
    lid = names.LID_KEY_PAIR
    return {
        "Resources": {
            lid: {
                "Type": "AWS::EC2::KeyPair",
                "Properties": {
                    "KeyName": key_name,
                    "KeyType": "rsa",
                    "KeyFormat": "pem",
                    "Tags": [{"Key": names.TAG_SETUP, "Value": names.TAG_SETUP_VALUE}],
                },
            }
        },
        "Outputs": {
            names.OUT_KEY_PAIR_NAME: {"Value": {"Ref": lid}},
            names.OUT_KEY_PAIR_ID: {"Value": {"Fn::GetAtt": [lid, "KeyPairId"]}},
            names.OUT_KEY_PAIR_PARAMETER: {
                "Value": {"Fn::Sub": f"{names.KEY_PAIR_SSM_PREFIX}${{{lid}.KeyPairId}}"}
            },
        },
    }


def test_key_pair_stack_creates_key_and_private_key_parameter(aws: Any) -> None:
    key_name, stack_name = unique("annex-key"), unique("KeyPair")
    stack = deploy(aws, stack_name, key_pair_template(key_name))
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    out = outputs(stack)
    key_id = out[names.OUT_KEY_PAIR_ID]
    assert out[names.OUT_KEY_PAIR_NAME] == key_name
    assert out[names.OUT_KEY_PAIR_PARAMETER] == f"{names.KEY_PAIR_SSM_PREFIX}{key_id}"

    [key] = aws("ec2").describe_key_pairs(KeyNames=[key_name])["KeyPairs"]
    assert key["KeyPairId"] == key_id and key["KeyType"] == "rsa"
    tags = {t["Key"]: t["Value"] for t in key["Tags"]}
    assert tags[names.TAG_SETUP] == names.TAG_SETUP_VALUE
    assert tags["aws:cloudformation:stack-name"] == stack_name
    parameter = aws("ssm").get_parameter(
        Name=out[names.OUT_KEY_PAIR_PARAMETER], WithDecryption=True
    )["Parameter"]
    assert parameter["Type"] == "SecureString"
    assert parameter["Value"].startswith("-----BEGIN RSA PRIVATE KEY-----")

    aws("cloudformation").delete_stack(StackName=stack_name)
    assert status_of(aws, stack["StackId"]) == "DELETE_COMPLETE"
    assert (
        aws("ec2").describe_key_pairs(Filters=[{"Name": "key-name", "Values": [key_name]}])[
            "KeyPairs"
        ]
        == []
    )
    with pytest.raises(ClientError, match="ParameterNotFound"):
        aws("ssm").get_parameter(Name=out[names.OUT_KEY_PAIR_PARAMETER])


def test_key_pair_name_collision_fails_and_spares_the_existing_key(aws: Any) -> None:
    key_name, stack_name = unique("annex-key"), unique("KeyPair")
    theirs = aws("ec2").create_key_pair(KeyName=key_name)["KeyPairId"]
    template = key_pair_template(key_name)
    # Something the stack does create before the key pair fails, so the rollback has work.
    template["Resources"] = {
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": stack_name}},
        **template["Resources"],
    }
    aws("cloudformation").create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
    stack = aws("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]

    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert f"[{names.LID_KEY_PAIR}]" in stack["StackStatusReason"]
    assert "Outputs" not in stack
    [(lid, status, reason)] = failures(aws, stack_name)
    assert (lid, status) == (names.LID_KEY_PAIR, "CREATE_FAILED") and "already exists" in reason
    assert aws("logs").describe_log_groups(logGroupNamePrefix=stack_name)["logGroups"] == []

    def key_id() -> str:
        return aws("ec2").describe_key_pairs(KeyNames=[key_name])["KeyPairs"][0]["KeyPairId"]

    assert key_id() == theirs
    aws("cloudformation").delete_stack(StackName=stack_name)
    assert status_of(aws, stack["StackId"]) == "DELETE_COMPLETE"
    assert key_id() == theirs


def test_key_pair_replacement_with_the_same_name_rolls_back(aws: Any) -> None:
    key_name, stack_name = unique("annex-key"), unique("KeyPair")
    before = outputs(deploy(aws, stack_name, key_pair_template(key_name)))
    template = key_pair_template(key_name)
    template["Resources"][names.LID_KEY_PAIR]["Properties"]["KeyType"] = "ed25519"

    stack = deploy(aws, stack_name, template)

    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    [(_, status, reason)] = failures(aws, stack_name)
    assert status == "UPDATE_FAILED" and "custom-named resource requires replacing" in reason
    assert outputs(stack) == before
    with pytest.raises(ClientError, match="No updates are to be performed"):
        deploy(aws, stack_name, key_pair_template(key_name))
    aws("cloudformation").delete_stack(StackName=stack_name)


def test_last_updated_time_appears_with_the_first_update_and_moves_with_each(aws: Any) -> None:
    """DescribeStacks has no LastUpdatedTime until a stack is updated, then the time of its
    latest update, as CloudFormation answers (API_Stack); a refused update changes nothing."""
    topic = {"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup"}}}
    name = unique("Updated")
    created = deploy(aws, name, topic)
    assert "LastUpdatedTime" not in created
    with pytest.raises(ClientError, match="No updates are to be performed"):
        deploy(aws, name, topic)
    assert "LastUpdatedTime" not in status_stack(aws, name)
    topic["Resources"]["Other"] = {"Type": "AWS::Logs::LogGroup"}
    first = deploy(aws, name, topic)["LastUpdatedTime"]
    assert first >= created["CreationTime"]
    time.sleep(0.01)
    topic["Resources"].pop("Other")
    assert deploy(aws, name, topic)["LastUpdatedTime"] > first
    aws("cloudformation").delete_stack(StackName=name)


def status_stack(aws: Any, name: str) -> dict[str, Any]:
    return aws("cloudformation").describe_stacks(StackName=name)["Stacks"][0]  # type: ignore[no-any-return]  # boto3 ships no types


# --- AWS::S3::Bucket and AWS::S3::BucketPolicy ------------------------------------------------


def bucket_template(name_pattern: str, retain: bool = False) -> dict[str, Any]:
    lid = names.LID_BUCKET
    arn = {"Fn::GetAtt": [lid, "Arn"]}
    return {
        "Resources": {
            lid: {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain" if retain else "Delete",
                "UpdateReplacePolicy": "Retain" if retain else "Delete",
                "Properties": {
                    "BucketName": {"Fn::Sub": name_pattern},
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "Tags": [{"Key": names.TAG_SETUP, "Value": names.TAG_SETUP_VALUE}],
                },
            },
            "BucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": lid},
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [  # what CDK's enforce_ssl=True writes
                            {
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Resource": [arn, {"Fn::Join": ["", [arn, "/*"]]}],
                            }
                        ],
                    },
                },
            },
        },
        "Outputs": {names.OUT_BUCKET: {"Value": {"Ref": lid}}},
    }


def test_bucket_properties_and_policy_reach_s3(aws: Any) -> None:
    stack_name = unique("Bucket")
    stack = deploy(aws, stack_name, bucket_template(names.BUCKET_NAME_PATTERN))
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    bucket = outputs(stack)[names.OUT_BUCKET]
    assert bucket == names.bucket_name(ACCOUNT_ID, REGION)
    s3 = aws("s3")

    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"][0]["Resource"][1] == f"arn:aws:s3:::{bucket}/*"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags[names.TAG_SETUP] == names.TAG_SETUP_VALUE
    assert tags["aws:cloudformation:logical-id"] == names.LID_BUCKET
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    controls = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
    assert controls["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    # The enforce-SSL deny must not block the emulator's clients (it stands in for HTTPS).
    s3.put_object(Bucket=bucket, Key="config-1.tar.gz", Body=b"config")
    assert s3.get_object(Bucket=bucket, Key="config-1.tar.gz")["Body"].read() == b"config"

    # Deleting a stack whose bucket holds objects fails as on AWS, and keeps the stack.
    aws("cloudformation").delete_stack(StackName=stack_name)
    failed = aws("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    assert failed["StackStatus"] == "DELETE_FAILED"
    [(lid, _, reason)] = failures(aws, stack_name)
    assert lid == names.LID_BUCKET and "not empty" in reason
    assert s3.head_bucket(Bucket=bucket)
    versions = s3.list_object_versions(Bucket=bucket)
    s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
            ]
        },
    )
    aws("cloudformation").delete_stack(StackName=stack_name)
    assert status_of(aws, stack["StackId"]) == "DELETE_COMPLETE"
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_retained_bucket_survives_stack_delete(aws: Any) -> None:
    stack_name = unique("Bucket")
    pattern = unique("annex-retained") + "-${AWS::Region}"
    stack = deploy(aws, stack_name, bucket_template(pattern, retain=True))
    bucket = outputs(stack)[names.OUT_BUCKET]
    aws("cloudformation").delete_stack(StackName=stack_name)
    assert status_of(aws, stack["StackId"]) == "DELETE_COMPLETE"
    assert aws("s3").head_bucket(Bucket=bucket)
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):  # the policy itself went
        aws("s3").get_bucket_policy(Bucket=bucket)


def test_an_import_change_set_adopts_a_kept_bucket_and_is_checked_as_aws_checks_it(aws: Any):
    """CloudFormation's resource import: moto would create the bucket again (BucketAlreadyExists)."""
    cfn, s3 = aws("cloudformation"), aws("s3")
    bucket = unique("annex-kept")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    resource = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}}
    entry = {
        "ResourceType": "AWS::S3::Bucket",
        "LogicalResourceId": names.LID_BUCKET,
        "ResourceIdentifier": {"BucketName": bucket},
    }

    def change_set(stack: str, resources: dict[str, Any], to_import: dict[str, Any]) -> Any:
        return cfn.create_change_set(
            StackName=stack,
            ChangeSetName="import",
            ChangeSetType="IMPORT",
            TemplateBody=json.dumps({"Resources": resources}),
            ResourcesToImport=[to_import],
        )

    refusals = [
        ({names.LID_BUCKET: resource}, entry, "DeletionPolicy"),
        (
            {names.LID_BUCKET: resource | {"DeletionPolicy": "Retain"}, "Other": resource},
            entry,
            "exactly the resources to import",
        ),
        (
            {names.LID_BUCKET: resource | {"DeletionPolicy": "Retain"}},
            entry | {"ResourceIdentifier": {"BucketName": unique("annex-none")}},
            "do not exist",
        ),
    ]
    for resources, to_import, needle in refusals:
        with pytest.raises(ClientError, match=needle):
            change_set(unique("Import"), resources, to_import)

    stack = unique("Import")
    created = change_set(stack, {names.LID_BUCKET: resource | {"DeletionPolicy": "Retain"}}, entry)
    cfn.execute_change_set(ChangeSetName=created["Id"])
    assert status_of(aws, created["StackId"]) == "IMPORT_COMPLETE"
    [owned] = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    assert owned["PhysicalResourceId"] == bucket
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    cfn.delete_stack(StackName=stack)  # DeletionPolicy Retain: the bucket stays
    assert s3.head_bucket(Bucket=bucket)


# --- AWS::EC2::SecurityGroup ---------------------------------------------------------------------


def security_group_template(
    aws: Any, ingress: list[dict[str, Any]], description: str
) -> dict[str, Any]:
    lid = names.LID_SECURITY_GROUP
    # Egress rules need the VPC named (the registry schema's dependentRequired).
    [vpc] = aws("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    return {
        "Resources": {
            lid: {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": description,
                    "VpcId": vpc["VpcId"],
                    "SecurityGroupIngress": ingress,
                    "SecurityGroupEgress": [
                        {
                            "CidrIp": "0.0.0.0/0",
                            "Description": "Allow all outbound traffic by default",
                            "IpProtocol": "-1",
                        }
                    ],
                    "Tags": [{"Key": names.TAG_SETUP, "Value": names.TAG_SETUP_VALUE}],
                },
            }
        },
        "Outputs": {names.OUT_SECURITY_GROUP: {"Value": {"Fn::GetAtt": [lid, "GroupId"]}}},
    }


def rules(aws: Any, group_id: str) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    [group] = aws("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]

    def flatten(permissions: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
        return {
            (
                p["IpProtocol"],
                p.get("FromPort"),
                p.get("ToPort"),
                r.get("CidrIp") or r.get("CidrIpv6"),
                r.get("Description"),
            )
            for p in permissions
            for r in p.get("IpRanges", []) + p.get("Ipv6Ranges", [])
        }

    return flatten(group["IpPermissions"]), flatten(group["IpPermissionsEgress"])


def collector(cidr: str, description: str | None = None) -> dict[str, Any]:
    port = names.DEFAULT_COLLECTOR_PORT
    rule = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "CidrIp": cidr}
    return rule | ({"Description": description} if description else {})


def test_security_group_rules_update_in_place_and_description_replaces(aws: Any) -> None:
    stack_name = unique("SecurityGroup")
    port, ssh = names.DEFAULT_COLLECTOR_PORT, names.SSH_PORT
    ssh_v6 = {"IpProtocol": "tcp", "FromPort": ssh, "ToPort": ssh, "CidrIpv6": "2001:db8::/32"}
    first = deploy(
        aws,
        stack_name,
        security_group_template(aws, [collector("10.0.0.0/8", "pool"), ssh_v6], "annex"),
    )
    group_id = outputs(first)[names.OUT_SECURITY_GROUP]
    everything_out = {("-1", None, None, "0.0.0.0/0", "Allow all outbound traffic by default")}
    assert rules(aws, group_id) == (
        {("tcp", port, port, "10.0.0.0/8", "pool"), ("tcp", ssh, ssh, "2001:db8::/32", None)},
        everything_out,
    )

    ingress = [collector("10.0.0.0/8", "pool v2"), collector("192.0.2.7/32")]
    second = deploy(aws, stack_name, security_group_template(aws, ingress, "annex"))
    assert second["StackStatus"] == "UPDATE_COMPLETE"
    assert outputs(second)[names.OUT_SECURITY_GROUP] == group_id
    assert rules(aws, group_id) == (
        {("tcp", port, port, "10.0.0.0/8", "pool v2"), ("tcp", port, port, "192.0.2.7/32", None)},
        everything_out,
    )

    rules_before_replacement = rules(aws, group_id)
    third = deploy(aws, stack_name, security_group_template(aws, ingress, "annex, described anew"))
    new_id = outputs(third)[names.OUT_SECURITY_GROUP]
    assert third["StackStatus"] == "UPDATE_COMPLETE" and new_id != group_id
    with pytest.raises(ClientError, match=r"InvalidGroup\.NotFound"):
        aws("ec2").describe_security_groups(GroupIds=[group_id])
    assert rules(aws, new_id) == rules_before_replacement
    aws("cloudformation").delete_stack(StackName=stack_name)
    with pytest.raises(ClientError, match=r"InvalidGroup\.NotFound"):
        aws("ec2").describe_security_groups(GroupIds=[new_id])


def test_standalone_ingress_rule_is_replaced_on_change(aws: Any) -> None:
    stack_name = unique("SecurityGroup")
    template: dict[str, Any] = {
        "Resources": {
            "Group": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "g"}},
            "Collector": {
                "Type": "AWS::EC2::SecurityGroupIngress",
                "Properties": collector("198.51.100.0/24")
                | {"GroupId": {"Fn::GetAtt": ["Group", "GroupId"]}},
            },
        },
        "Outputs": {"Group": {"Value": {"Ref": "Group"}}},
    }
    group_id = outputs(deploy(aws, stack_name, template))["Group"]
    template["Resources"]["Collector"]["Properties"]["CidrIp"] = "198.51.100.7/32"
    assert deploy(aws, stack_name, template)["StackStatus"] == "UPDATE_COMPLETE"
    port = names.DEFAULT_COLLECTOR_PORT
    assert rules(aws, group_id)[0] == {("tcp", port, port, "198.51.100.7/32", None)}
    aws("cloudformation").delete_stack(StackName=stack_name)


def test_change_set_create_has_outputs(aws: Any) -> None:
    stack_name, key_name = unique("ChangeSet"), unique("annex-key")
    cfn = aws("cloudformation")
    body = json.dumps(key_pair_template(key_name))
    cfn.create_change_set(
        StackName=stack_name, ChangeSetName="create", ChangeSetType="CREATE", TemplateBody=body
    )
    cfn.execute_change_set(StackName=stack_name, ChangeSetName="create")
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert outputs(stack)[names.OUT_KEY_PAIR_NAME] == key_name
    cfn.delete_stack(StackName=stack_name)


def test_a_missing_change_set_is_change_set_not_found_as_on_cloudformation(aws: Any) -> None:
    """CloudFormation's API reference: DescribeChangeSet and ExecuteChangeSet answer
    `ChangeSetNotFound` (HTTP 404), which the SDKs raise as ChangeSetNotFoundException; the
    CDK CLI's deploy takes exactly that for "no change set of this name is left"."""
    stack_name = unique("NoChangeSet")
    cfn = aws("cloudformation")
    deploy(aws, stack_name, key_pair_template(unique("annex-key")))
    calls = (
        lambda: cfn.describe_change_set(
            StackName=stack_name, ChangeSetName="cdk-deploy-change-set"
        ),
        lambda: cfn.describe_change_set(ChangeSetName=unique("never-made")),
        lambda: cfn.execute_change_set(StackName=stack_name, ChangeSetName="cdk-deploy-change-set"),
    )
    for call in calls:
        with pytest.raises(cfn.exceptions.ChangeSetNotFoundException) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == "ChangeSetNotFound"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # A change set that exists is still found by its stack and name, and once deleted is gone.
    body = json.dumps(key_pair_template(unique("annex-key")))
    cfn.create_change_set(StackName=stack_name, ChangeSetName="cs", TemplateBody=body)
    assert cfn.describe_change_set(StackName=stack_name, ChangeSetName="cs")["StackName"] == (
        stack_name
    )
    cfn.delete_change_set(StackName=stack_name, ChangeSetName="cs")
    with pytest.raises(cfn.exceptions.ChangeSetNotFoundException):
        cfn.describe_change_set(StackName=stack_name, ChangeSetName="cs")
    cfn.delete_stack(StackName=stack_name)


# --- Lambda, IAM, Logs -----------------------------------------------------------------------

RETENTION_DAYS = 30
HANDLER = "def handler(event, context):\n    return {'ok': True}\n"


def lambda_template(function_name: str, code: str = HANDLER) -> dict[str, Any]:
    tags = [{"Key": names.TAG_SETUP, "Value": names.TAG_SETUP_VALUE}]
    document = {"Version": "2012-10-17", "Statement": []}  # filled below
    trust = document | {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]
    }
    describe = document | {
        "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}]
    }
    objects = document | {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": {
                    "Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{names.BUCKET_NAME_PATTERN}/"
                    f"{names.CONFIG_OBJECT_PATTERN}"
                },
            }
        ]
    }
    return {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": trust,
                    "Policies": [{"PolicyName": "describe", "PolicyDocument": describe}],
                    "Tags": tags,
                },
            },
            "ObjectPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "objects",
                    "PolicyDocument": objects,
                    "Roles": [{"Ref": "Role"}],
                },
            },
            "Profile": {
                "Type": "AWS::IAM::InstanceProfile",
                "Properties": {"Roles": [{"Ref": "Role"}]},
            },
            "Logs": {
                "Type": "AWS::Logs::LogGroup",
                "DeletionPolicy": "Delete",
                "UpdateReplacePolicy": "Delete",
                "Properties": {
                    "LogGroupName": f"/aws/lambda/{function_name}",
                    "RetentionInDays": RETENTION_DAYS,
                    "Tags": tags,
                },
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "DependsOn": ["ObjectPolicy", "Role"],
                "Properties": {
                    "FunctionName": function_name,
                    "Code": {"ZipFile": code},
                    "Handler": "index.handler",
                    "Runtime": "python3.14",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Timeout": 30,
                    "LoggingConfig": {"LogGroup": {"Ref": "Logs"}},
                    "Tags": tags,
                },
            },
            "Permission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": {"Fn::GetAtt": ["Function", "Arn"]},
                    "Principal": "events.amazonaws.com",
                },
            },
        },
        "Outputs": {
            "FunctionArn": {"Value": {"Fn::GetAtt": ["Function", "Arn"]}},
            "ProfileArn": {"Value": {"Fn::GetAtt": ["Profile", "Arn"]}},
            "Where": {"Value": {"Fn::Sub": "${AWS::AccountId}/${AWS::Region}/${Function}"}},
        },
    }


def test_lambda_stack_deploys_updates_and_deletes(aws: Any) -> None:
    stack_name, function_name = unique("LambdaFunctions"), unique("annex-fn")
    stack_tags = [{"Key": "owner", "Value": "annex-cdk-tests"}]
    stack = deploy(aws, stack_name, lambda_template(function_name), Tags=stack_tags)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures(aws, stack_name)
    assert stack["Tags"] == stack_tags
    out = outputs(stack)
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
    assert out["FunctionArn"] == arn
    assert out["Where"] == f"{ACCOUNT_ID}/{REGION}/{function_name}"
    assert out["ProfileArn"].startswith(f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/")

    function = aws("lambda").get_function(FunctionName=function_name)
    config = function["Configuration"]
    assert config["Runtime"] == "python3.14" and config["Timeout"] == 30
    assert config["LoggingConfig"]["LogGroup"] == f"/aws/lambda/{function_name}"
    assert function["Tags"][names.TAG_SETUP] == names.TAG_SETUP_VALUE
    assert function["Tags"]["owner"] == "annex-cdk-tests"  # stack tags propagate
    statement = json.loads(aws("lambda").get_policy(FunctionName=function_name)["Policy"])
    assert statement["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    [group] = aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{function_name}")[
        "logGroups"
    ]
    assert group["retentionInDays"] == RETENTION_DAYS
    role_name = config["Role"].rsplit("/", 1)[1]
    assert sorted(aws("iam").list_role_policies(RoleName=role_name)["PolicyNames"]) == [
        "describe",
        "objects",
    ]
    objects = aws("iam").get_role_policy(RoleName=role_name, PolicyName="objects")
    resource = objects["PolicyDocument"]["Statement"][0]["Resource"]
    assert resource == f"arn:aws:s3:::htcondor-annex-{ACCOUNT_ID}-{REGION}/config-*.tar.gz"
    role_tags = aws("iam").list_role_tags(RoleName=role_name)["Tags"]
    assert {"Key": names.TAG_SETUP, "Value": names.TAG_SETUP_VALUE} in role_tags

    # An update of inline code, log retention and the role's inline policy, in place.
    template = lambda_template(function_name, code=HANDLER.replace("True", "False"))
    template["Resources"]["Logs"]["Properties"]["RetentionInDays"] = 7
    template["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyName"] = "describe-v2"
    updated = deploy(aws, stack_name, template)
    assert updated["StackStatus"] == "UPDATE_COMPLETE", failures(aws, stack_name)
    assert outputs(updated) == out
    new_config = aws("lambda").get_function(FunctionName=function_name)["Configuration"]
    assert new_config["CodeSha256"] != config["CodeSha256"]
    [group] = aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{function_name}")[
        "logGroups"
    ]
    assert group["retentionInDays"] == 7
    assert sorted(aws("iam").list_role_policies(RoleName=role_name)["PolicyNames"]) == [
        "describe-v2",
        "objects",
    ]

    aws("cloudformation").delete_stack(StackName=stack_name)
    assert status_of(aws, stack["StackId"]) == "DELETE_COMPLETE"
    assert (
        aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{function_name}")[
            "logGroups"
        ]
        == []
    )
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        aws("lambda").get_function(FunctionName=function_name)
    with pytest.raises(ClientError, match="NoSuchEntity"):
        aws("iam").get_role(RoleName=role_name)


def test_resource_type_the_emulator_cannot_create_fails_the_stack(aws: Any) -> None:
    stack_name = unique("Unsupported")
    template = {
        "Resources": {
            "Metadata": {"Type": "AWS::CDK::Metadata", "Properties": {"Analytics": "v2"}},
            "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
        }
    }
    stack = deploy(aws, stack_name, template)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    [(lid, _, reason)] = failures(aws, stack_name)
    assert lid == "Alarm" and "cannot create AWS::CloudWatch::Alarm" in reason
    aws("cloudformation").delete_stack(StackName=stack_name)


def test_a_failing_create_blames_its_own_stack_not_a_concurrent_one(monkeypatch) -> None:
    """annex-cdk creates every stack at once: when one creation fails, the emulator must fail
    (and, with OnFailure=DELETE, delete) that stack, not another created meanwhile."""
    from types import SimpleNamespace

    from annex_emulator import patches, stack_states

    backend = SimpleNamespace(stacks={"old": SimpleNamespace(name="existing")})

    def create_while_another_is_created(self, name, *args, **kwargs):
        # Another request registers its stack first; then this one's resource fails.
        self.stacks["id-other"] = SimpleNamespace(name="HTCondorAnnex-InstanceProfile")
        self.stacks["id-mine"] = SimpleNamespace(name=name)
        raise RuntimeError("injected")

    failed = []
    monkeypatch.setitem(
        patches.ORIGINALS, "CloudFormationBackend.create_stack", create_while_another_is_created
    )
    monkeypatch.setattr(
        stack_states, "_fail_create", lambda backend, stack, exc: failed.append(stack.name)
    )
    stack = stack_states.backend_create_stack(backend, "HTCondorAnnex-SecurityGroup", "{}", {})
    assert stack.name == "HTCondorAnnex-SecurityGroup"
    assert failed == ["HTCondorAnnex-SecurityGroup"]


# --- The moto contract -------------------------------------------------------------------------


def test_the_pinned_moto_meets_the_contract() -> None:
    import moto

    from annex_emulator import moto_contract

    assert moto.__version__ == moto_contract.SUPPORTED_MOTO
    assert moto_contract.problems() == []
    moto_contract.check()


def test_a_changed_moto_callable_fails_start_up_with_one_line(monkeypatch) -> None:
    import moto
    from moto.cloudformation import parsing

    from annex_emulator import moto_contract, patches, teach

    def update(self, template):  # a parameter gone
        raise AssertionError("never called")

    monkeypatch.setattr(parsing.ResourceMap, "update", update)
    with pytest.raises(moto_contract.MotoContractError) as raised:
        teach.install()
    assert str(raised.value) == (
        f"emulator: moto {moto.__version__} changed moto.cloudformation.parsing.ResourceMap.update"
        " (expected parameters (self, template, parameters), found (self, template));"
        " annex-cdk's emulator supports moto 5.2.5"
    )
    assert patches.applied() == []  # refused before teaching anything

    monkeypatch.delattr(parsing, "parse_and_create_resource")
    with pytest.raises(moto_contract.MotoContractError) as raised:
        moto_contract.check()
    assert str(raised.value) == (  # the first difference, in the table's order
        f"emulator: moto {moto.__version__} has no"
        " moto.cloudformation.parsing.parse_and_create_resource;"
        " annex-cdk's emulator supports moto 5.2.5"
    )
    assert len(moto_contract.problems()) == 2


def test_a_renamed_instance_attribute_is_caught_at_start_up(monkeypatch) -> None:
    from annex_emulator import moto_contract

    key = ("moto.logs.models", "LogGroup")
    monkeypatch.setitem(moto_contract.ATTRIBUTES, key, ("name", "kms_key"))
    assert moto_contract.problems() == ["has no moto.logs.models.LogGroup.kms_key"]


def test_a_failed_contract_stops_the_emulator_with_its_line(tmp_path: Path) -> None:
    """The server process reports the contract's line, not a traceback, as why it cannot load."""
    sitecustomize = tmp_path / "sitecustomize.py"
    sitecustomize.write_text(
        "import annex_emulator.moto_contract as c\n"
        "c.SUPPORTED_MOTO = 'the test'\n"
        "c.PRESENT = (*c.PRESENT, ('moto', 'no_such_name'))\n"
    )
    python = tmp_path / "python"
    python.write_text(
        f'#!/bin/sh\nPYTHONPATH="{tmp_path}${{PYTHONPATH:+:$PYTHONPATH}}" exec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    process = EmulatorProcess(python=str(python), startup_timeout=60)
    with pytest.raises(EmulatorError) as raised:
        process.start()
        process.wait_ready(loaded=True)
    process.stop()
    line = "; annex-cdk's emulator supports moto the test"
    assert f"has no moto.no_such_name{line}" in str(raised.value)
    assert "Traceback" not in str(raised.value)


_REAL_OBJECTS = r"""
import json, boto3
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID as A
from annex_emulator import moto_contract, patches, teach

teach.install()
patched = sorted(
    (o.__name__, n) if isinstance(o, type(json)) else (o.__module__, f"{o.__qualname__}.{n}")
    for o, n in patches.applied()
)
template = {"Resources": {
    "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "contract-bucket"}},
    "Key": {"Type": "AWS::EC2::KeyPair", "Properties": {"KeyName": "contract-key"}},
    "Group": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
        "GroupDescription": "contract", "SecurityGroupIngress": [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "10.0.0.0/8"}]}},
    "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "contract-role",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}}},
    "Profile": {"Type": "AWS::IAM::InstanceProfile", "Properties": {
        "InstanceProfileName": "contract-profile", "Roles": [{"Ref": "Role"}]}},
    "Function": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "contract-fn",
        "Runtime": "python3.12", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
        "Code": {"ZipFile": "def handler(event, context):\n    return 1\n"}}},
    "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "contract-logs"}},
    "Schedule": {"Type": "AWS::Scheduler::Schedule", "Properties": {"Name": "contract-schedule",
        "ScheduleExpression": "rate(5 minutes)", "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": {"Fn::GetAtt": ["Function", "Arn"]},
                   "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}}}},
}}
with mock_aws():
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    cfn.create_stack(StackName="contract", TemplateBody=json.dumps(template))
    cfn.create_change_set(StackName="contract-cs", ChangeSetName="cs", ChangeSetType="CREATE",
                          TemplateBody=json.dumps(template))
    from moto.awslambda.utils import get_backend as lambda_backend
    from moto.cloudformation.models import cloudformation_backends
    from moto.ec2.models import ec2_backends
    from moto.iam.models import iam_backends
    from moto.logs.models import logs_backends
    from moto.s3.models import s3_backends
    from moto.scheduler.models import scheduler_backends
    from moto.sts.models import sts_backends

    backend = cloudformation_backends[A]["us-east-1"]
    [stack] = [s for s in backend.stacks.values() if s.name == "contract"]
    assert stack.status == "CREATE_COMPLETE", stack.status
    ec2 = ec2_backends[A]["us-east-1"]
    group = ec2.get_security_group_by_name_or_id(stack.resource_map["Group"].id)
    iam = iam_backends[A]["aws"]
    scheduler = scheduler_backends[A]["us-east-1"]
    objects = {
        ("moto.cloudformation.models", "Stack"): stack,
        ("moto.cloudformation.parsing", "ResourceMap"): stack.resource_map,
        ("moto.cloudformation.models", "CloudFormationBackend"): backend,
        ("moto.cloudformation.models", "ChangeSet"): next(iter(backend.change_sets.values())),
        ("moto.s3.models", "FakeBucket"): s3_backends[A]["aws"].get_bucket("contract-bucket"),
        ("moto.ec2.models", "EC2Backend"): ec2,
        ("moto.ec2.models.key_pairs", "KeyPair"): ec2.key_pairs["contract-key"],
        ("moto.ec2.models.amis", "Ami"): next(iter(ec2.amis.values())),
        ("moto.ec2.models.security_groups", "SecurityGroup"): group,
        ("moto.ec2.models.security_groups", "SecurityGroupRule"): group.ingress_rules[0],
        ("moto.iam.models", "Role"): iam.get_role("contract-role"),
        ("moto.iam.models", "OpenIDConnectProvider"): iam.create_open_id_connect_provider(
            url="https://token.actions.githubusercontent.com", thumbprint_list=[],
            client_id_list=["sts.amazonaws.com"], tags=[]),
        ("moto.iam.models", "InstanceProfile"): iam.get_instance_profile("contract-profile"),
        ("moto.awslambda.models", "LambdaFunction"):
            lambda_backend(A, "us-east-1").get_function("contract-fn"),
        ("moto.logs.models", "LogGroup"): logs_backends[A]["us-east-1"].groups["contract-logs"],
        ("moto.scheduler.models", "EventBridgeSchedulerBackend"): scheduler,
        ("moto.scheduler.models", "ScheduleGroup"): scheduler.schedule_groups["default"],
        ("moto.scheduler.models", "Schedule"):
            scheduler.get_schedule("default", "contract-schedule"),
        ("moto.sts.models", "AssumedRole"): sts_backends[A]["aws"].assume_role(
            region_name="us-east-1", role_session_name="contract",
            role_arn=iam.get_role("contract-role").arn, policy=None, duration=900,
            external_id=None),
    }
    missing = {
        f"{m}.{c}": moto_contract.missing_attributes(obj, m, c) for (m, c), obj in objects.items()
    }
print(json.dumps({"patched": patched, "missing": missing, "covered": sorted(objects)}))
"""


def test_the_contract_covers_every_patch_and_the_attributes_of_real_objects() -> None:
    """In a process of its own: install() patches moto for the whole process."""
    from annex_emulator import moto_contract

    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env = {k: v for k, v in env.items() if not emulator.is_cleared(k)}
    env.pop("AWS_ENDPOINT_URL", None)
    child = subprocess.run(
        [sys.executable, "-c", _REAL_OBJECTS],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    found = json.loads(child.stdout.splitlines()[-1])
    assert sorted(map(list, {(m, p) for m, p, _ in moto_contract.PATCHED})) == found["patched"]
    assert sorted(map(list, moto_contract.ATTRIBUTES)) == found["covered"]
    assert {k: v for k, v in found["missing"].items() if v} == {}


def test_client_token_filter_takes_ec2_wildcards(aws: Any) -> None:
    # condor_annex's lease functions find an annex's instances with client-token = <annexID>*.
    ec2 = aws("ec2")
    annex = unique("tok")
    ids = {}
    for name in (annex, annex + "2", "other" + annex):
        out = ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, ClientToken=f"{name}_{uuid.uuid4()}"
        )
        ids[name] = out["Instances"][0]["InstanceId"]

    def found(pattern: str) -> set[str]:
        pages = ec2.describe_instances(Filters=[{"Name": "client-token", "Values": [pattern]}])
        return {i["InstanceId"] for r in pages["Reservations"] for i in r["Instances"]}

    assert found(annex + "*") == {ids[annex], ids[annex + "2"]}
    assert found(annex + "_*") == {ids[annex]}
    assert found(annex) == set()


def test_spot_fleet_request_keeps_its_client_token(aws: Any) -> None:
    ec2 = aws("ec2")
    token = f"{unique('fleet')}_{uuid.uuid4()}"
    fleet = ec2.request_spot_fleet(
        SpotFleetRequestConfig={
            "ClientToken": token,
            "TargetCapacity": 1,
            "IamFleetRole": f"arn:aws:iam::{ACCOUNT_ID}:role/aws-ec2-spot-fleet-tagging-role",
            "AllocationStrategy": "lowestPrice",
            "LaunchSpecifications": [{"ImageId": "ami-12c6146b", "InstanceType": "m4.large"}],
        }
    )["SpotFleetRequestId"]

    (config,) = ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[fleet])[
        "SpotFleetRequestConfigs"
    ]
    assert config["SpotFleetRequestConfig"]["ClientToken"] == token


def test_a_group_in_use_cannot_be_deleted(aws: Any) -> None:
    ec2 = aws("ec2")
    group = ec2.create_security_group(GroupName=unique("inuse"), Description="in use")["GroupId"]
    out = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SecurityGroupIds=[group]
    )
    instance = out["Instances"][0]["InstanceId"]

    with pytest.raises(ClientError) as err:
        ec2.delete_security_group(GroupId=group)
    assert err.value.response["Error"]["Code"] == "DependencyViolation"
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]

    ec2.terminate_instances(InstanceIds=[instance])
    ec2.delete_security_group(GroupId=group)


# --- CloudFormation's schema check of every resource ---------------------------------------------


def _group(description: str = "annex", **extra: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {"GroupDescription": description, **extra},
    }


@pytest.mark.parametrize(
    ("resource", "why"),
    [
        # A tag with a newline: IAM's registry pattern ^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$ refuses it.
        (
            {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
                    "Tags": [{"Key": "team", "Value": "hep\nphysics"}],
                },
            },
            "#/Tags/0/Value",
        ),
        # An enum: S3 versioning is Enabled or Suspended.
        (
            {
                "Type": "AWS::S3::Bucket",
                "Properties": {"VersioningConfiguration": {"Status": "On"}},
            },
            "#/VersioningConfiguration/Status",
        ),
        ({"Type": "AWS::EC2::SecurityGroup", "Properties": {}}, "GroupDescription"),  # required
        (_group(Colour="blue"), "Colour"),  # no such property
        (_group("x" * 256), "#/GroupDescription"),  # maxLength 255
        (
            {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": 7 * [1]}},
            "#/Value",
        ),  # a list where a string is wanted
    ],
)
def test_every_resource_is_checked_against_its_registry_schema(
    aws: Any, resource: dict[str, Any], why: str
) -> None:
    stack_name = unique("Schema")
    stack = deploy(aws, stack_name, {"Resources": {"Thing": resource}})
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    [(lid, status, reason)] = failures(aws, stack_name)
    assert (lid, status) == ("Thing", "CREATE_FAILED")
    assert reason.startswith("Properties validation failed for resource Thing with message:")
    assert why in reason
    aws("cloudformation").delete_stack(StackName=stack_name)


def test_a_kept_verdict_refuses_again_under_its_own_name(aws: Any) -> None:
    """The schema check's verdicts are kept by type and properties: the same bad properties
    are refused again, each time naming the resource at hand; a value JSON tells apart (a
    number, a string of digits, a string of letters) gets a verdict of its own."""
    bad = {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": 7 * [1]}}
    for lid in ("First", "Second"):
        stack_name = unique("Kept")
        assert deploy(aws, stack_name, {"Resources": {lid: bad}})["StackStatus"] == (
            "ROLLBACK_COMPLETE"
        )
        [(failed, _, reason)] = failures(aws, stack_name)
        assert failed == lid and f"for resource {lid} with message:" in reason
        aws("cloudformation").delete_stack(StackName=stack_name)
    for port, created in ((9618, True), ("9618", True), ("condor", False)):
        stack_name = unique("KeptPort")
        ingress = [{"IpProtocol": "tcp", "FromPort": port, "ToPort": 9618, "CidrIp": "10.0.0.0/8"}]
        stack = deploy(aws, stack_name, {"Resources": {"G": _group(SecurityGroupIngress=ingress)}})
        assert (stack["StackStatus"] == "CREATE_COMPLETE") is created, (port, stack)
        aws("cloudformation").delete_stack(StackName=stack_name)


def test_the_schema_check_converts_values_as_cloudformation_does(aws: Any) -> None:
    """Ports as strings and booleans as "true" pass, as CloudFormation converts them."""
    stack_name = unique("SchemaOk")
    ingress = [{"IpProtocol": "tcp", "FromPort": "9618", "ToPort": 9618, "CidrIp": "10.0.0.0/8"}]
    stack = deploy(aws, stack_name, {"Resources": {"G": _group(SecurityGroupIngress=ingress)}})
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures(aws, stack_name)
    aws("cloudformation").delete_stack(StackName=stack_name)


def test_an_update_is_checked_against_the_schema_too(aws: Any) -> None:
    stack_name = unique("SchemaUpdate")
    bucket = {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "k", "Value": "v"}]}}
    assert deploy(aws, stack_name, {"Resources": {"B": bucket}})["StackStatus"] == (
        "CREATE_COMPLETE"
    )
    bad = {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "k", "Value": "v" * 257}]}}
    stack = deploy(aws, stack_name, {"Resources": {"B": bad}})
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    [(lid, status, reason)] = failures(aws, stack_name)
    assert (lid, status) == ("B", "UPDATE_FAILED") and "#/Tags/0/Value" in reason
    aws("cloudformation").delete_stack(StackName=stack_name)


def test_a_stack_is_deleted_in_reverse_dependency_order(aws: Any) -> None:
    """CloudFormation deletes a user before the managed policy attached to it, so the policy's
    delete never meets DeleteConflict (moto tried resources in a set's order, which made the
    policy fail first now and then). Several stacks with other logical ids vary that order."""
    cfn = aws("cloudformation")
    for n in range(6):
        name = unique(f"order{n}")
        template = {
            "Resources": {
                f"Policy{n}x": {
                    "Type": "AWS::IAM::ManagedPolicy",
                    "Properties": {
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}
                            ],
                        }
                    },
                },
                f"User{n}y": {
                    "Type": "AWS::IAM::User",
                    "Properties": {"ManagedPolicyArns": [{"Ref": f"Policy{n}x"}]},
                },
            }
        }
        cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
        stack_id = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"]
        cfn.delete_stack(StackName=name)
        events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        assert not [e for e in events if e["ResourceStatus"] == "DELETE_FAILED"]
        order = [
            e["LogicalResourceId"]
            for e in reversed(events)
            if e["ResourceStatus"] == "DELETE_COMPLETE" and e["LogicalResourceId"] != name
        ]
        assert order == [f"User{n}y", f"Policy{n}x"]
