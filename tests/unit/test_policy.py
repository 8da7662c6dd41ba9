"""The least-privilege policy: valid IAM, small enough, scoped, complete; and the pre-flight that
asks IAM's simulator whether the caller holds it."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from annex_cdk.aws import permissions
from annex_cdk.errors import EXIT_PERMISSIONS, CredentialsError, PermissionsError
from annex_cdk.ops import destroy
from annex_stacks import names, policy
from annex_stacks.policy.callers import BEYOND_THE_POLICY
from annex_stacks.policy.org_admin import org_admin_document
from annex_stacks.settings import AnnexSettings
from tests.policy_eval import allows, iam_actions

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "annex-cdk"
ACCOUNT, REGION = "123456789012", "us-east-1"
ARN = f"arn:aws:%s:{REGION}:{ACCOUNT}:%s"
BUCKET = names.bucket_name(ACCOUNT, REGION)
CONDITION_OPERATORS = {"StringEquals", "StringLike", "ArnLike", "ForAllValues:ArnLike", "Null"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return policy.policy_document(region=REGION, account=ACCOUNT)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- The document ---------------------------------------------------------------------------------
def test_document_is_valid_iam_json(document):
    assert set(document) == {"Version", "Statement"}
    assert document["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in document["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in document["Statement"]:
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert re.fullmatch(r"[A-Za-z0-9]+", statement["Sid"])
        assert statement["Effect"] == "Allow"
        actions = _as_list(statement["Action"])
        assert actions and len(actions) == len(set(actions))
        for action in actions:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*]+", action), action
        for resource in _as_list(statement["Resource"]):
            assert resource == "*" or resource.startswith("arn:aws:"), resource
        for operator, keys in statement.get("Condition", {}).items():
            assert operator in CONDITION_OPERATORS
            assert all(isinstance(v, str | list) for v in keys.values())
    # It round-trips as JSON, which is what IAM and `annex-cdk policy` deal in.
    assert json.loads(json.dumps(document)) == document


#: The longest names a setup can have: a long region, an adopted bucket (63 characters), a key
#: pair name at EC2's 255, lease functions with 64-character generated names.
LONGEST = {
    "region": "ap-southeast-2",
    "account": ACCOUNT,
    "bucket": "b" * 63,
    "key_pair_name": "k" * 255,
    "lease_functions": tuple(
        f"arn:aws:lambda:ap-southeast-2:{ACCOUNT}:function:{n}" + "f" * 63 for n in "ab"
    ),
}


@pytest.mark.parametrize("names_used", ["defaults", "longest"])
def test_every_document_keeps_ten_percent_headroom(names_used):
    settings = LONGEST if names_used == "longest" else {"region": REGION, "account": ACCOUNT}
    documents = policy.split(policy.policy_document(**settings))
    assert all(policy.size(d) <= 0.9 * policy.MANAGED_POLICY_LIMIT for d in documents)
    image = policy.policy_document(**settings, image_only=True)
    assert policy.size(image) <= 0.9 * policy.MANAGED_POLICY_LIMIT
    # The submit-host role holds both as inline policy: a role's limit is on all of them.
    both = policy.policy_document(**settings, build_image=True)
    assert policy.size(both) <= 0.9 * policy.ROLE_INLINE_LIMIT
    # Split, nothing is lost or reordered.
    merged = [s for d in documents for s in d["Statement"]]
    assert merged == policy.policy_document(**settings)["Statement"]


def test_a_document_that_fits_is_not_split(document):
    small = {"Version": policy.VERSION, "Statement": document["Statement"][:3]}
    assert policy.split(small) == [small]
    with pytest.raises(ValueError, match="alone exceeds"):
        policy.split(small, limit=100)


def test_size_advice_is_per_principal_type():
    documents = policy.split(policy.policy_document(**LONGEST))
    advice = " ".join(policy.attachment_advice(documents))
    assert "customer managed policy" in advice and "6,144 characters each" in advice
    assert "inline policies may hold 10,240" in advice  # a role: fits
    assert "Not as a user's inline policies: those hold 2,048" in advice
    huge = [{"Version": policy.VERSION, "Statement": [{"Sid": "x" * 9500}]}]
    assert "Not as a role's inline policies" in " ".join(policy.attachment_advice(huge))


def test_statements_without_resource_level_permissions_say_so(document):
    for statement in document["Statement"]:
        if statement["Resource"] == "*":
            assert "NoResourceLevelPermissions" in statement["Sid"]
            assert all(a.split(":")[1].startswith("Describe") for a in statement["Action"])


def test_the_template_form_is_the_same_policy():
    template = policy.template_document(
        bucket_expression=names.BUCKET_NAME_PATTERN, key_pair_name=names.KEY_PAIR_NAME
    )
    resolved = json.loads(
        json.dumps(template)
        .replace("${AWS::Partition}", "aws")
        .replace("${AWS::Region}", REGION)
        .replace("${AWS::AccountId}", ACCOUNT)
    )
    assert resolved == policy.policy_document(region=REGION, account=ACCOUNT)


# --- What it allows, and where -------------------------------------------------------------------
def test_every_boto3_call_in_the_code_is_allowed(document, image_document):
    """A static complement to tests/e2e/test_policy.py: every client method the code names,
    also on paths the end-to-end run does not take (replace, lost resources, ...)."""
    import botocore.session
    from botocore import xform_name

    text = "\n".join(p.read_text() for p in (ROOT / "cli").rglob("*.py"))
    # Clients made directly (target.client("sts")) and by the per-service wrappers of
    # cli/aws/ (class Cfn(Service): name = "cloudformation").
    services = set(re.findall(r'client\(\s*"([\w-]+)"', text))
    services |= set(re.findall(r'^    name = "([\w-]+)"$', text, re.MULTILINE))
    assert {"cloudformation", "ec2", "s3", "ssm", "iam", "lambda", "sts"} <= services
    session = botocore.session.get_session()
    operations: dict[str, list[str]] = {}
    for service in services:
        for op in session.get_service_model(service).operation_names:
            operations.setdefault(xform_name(op), []).append(f"{service}:{op}")
    calls: set[str] = set()
    for path in (ROOT / "cli").rglob("*.py"):
        body = path.read_text()
        # Only code that can hold a client calls AWS: cli/aws/ and what imports it (a Click
        # group's list_commands is no ssm:ListCommands).
        if "aws" not in path.relative_to(ROOT / "cli").parts[:1] and not re.search(
            r"^from annex_cdk\.aws\b|^import boto3|client\(\s*\"", body, re.MULTILINE
        ):
            continue
        called = set(re.findall(r"\.(\w+)\(", body))
        called |= set(re.findall(r'paginator\(\s*"(\w+)"', body))
        # A wrapper module that makes no other client calls its own service only (iam's
        # create_policy is not organizations').
        own = set(re.findall(r'^    name = "([\w-]+)"$', body, re.MULTILINE))
        scope = own if own and not re.search(r'client\(\s*"', body) else services
        calls |= {
            c
            for name in called & operations.keys()
            for c in operations[name]
            if c.split(":")[0] in scope
        }
    assert {"cloudformation:CreateStack", "s3:DeleteObjects", "ssm:PutParameter"} <= calls
    # `annex-cdk policy`, its --build-image part and the guardrail's own document.
    guardrail = policy.policy_document(region=REGION, account=ACCOUNT, guardrail_only=True)
    # `annex-cdk policy --org`: the organization administrator's, for `annex-cdk org`.
    condor_user = policy.policy_document(region=REGION, account=ACCOUNT, condor_user_only=True)
    documents = (
        document,
        image_document,
        guardrail,
        condor_user,
        org_admin_document(account=ACCOUNT),
    )
    missing = [
        (c, a)
        for c in sorted(calls - set(BEYOND_THE_POLICY))
        for a in iam_actions(c)
        if not any(allows(d, a) for d in documents)
    ]
    assert missing == []
    # The calls left out are made, and really are outside the policy.
    assert set(BEYOND_THE_POLICY) <= calls
    assert not any(allows(d, c) for c in BEYOND_THE_POLICY for d in documents)


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        # condor_annex (reference §4.1, §4.3, §8.1)
        ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/config-physics.tar.gz"),
        ("lambda:GetFunction", ARN % ("lambda", "function:HTCondorAnnex-LambdaFunctions-odi-X1")),
        ("lambda:InvokeFunction", ARN % ("lambda", "function:HTCondorAnnex-CheckConnectivity")),
        ("events:PutRule", ARN % ("events", "rule/physics")),
        ("events:PutTargets", ARN % ("events", "rule/physics")),
        ("events:RemoveTargets", ARN % ("events", "rule/physics")),
        ("events:DeleteRule", ARN % ("events", "rule/physics")),
        ("ec2:RunInstances", ARN % ("ec2", "instance/i-0123")),
        ("ec2:RunInstances", f"arn:aws:ec2:{REGION}::image/ami-0123"),
        ("ec2:CreateTags", ARN % ("ec2", "instance/i-0123")),
        ("ec2:RequestSpotFleet", ARN % ("ec2", "spot-fleet-request/sfr-0123")),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/HTCondorAnnex-InstanceProfile-Inst-X1"),
        ("ec2:DescribeInstances", "*"),
        ("ec2:DescribeSpotFleetRequests", "*"),
        # annex-cdk and CloudFormation on its behalf
        ("cloudformation:CreateStack", ARN % ("cloudformation", "stack/HTCondorAnnex-KeyPair/1")),
        ("s3:DeleteBucket", f"arn:aws:s3:::{BUCKET}"),
        ("ssm:PutParameter", ARN % ("ssm", "parameter" + names.LOCK_PARAMETER)),
        ("ssm:GetParameter", ARN % ("ssm", "parameter/ec2/keypair/key-0123")),
        ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/HTCondorAnnex-LambdaFunctions-Le-X1"),
        ("ec2:CreateKeyPair", ARN % ("ec2", f"key-pair/{names.KEY_PAIR_NAME}")),
        ("logs:CreateLogGroup", ARN % ("logs", "log-group:/htcondor-annex/lambda/ccFunction")),
    ],
)
def test_what_condor_annex_and_annex_cdk_do_is_allowed(document, action, resource):
    assert allows(document, action, resource, CONDOR_ANNEX_CONTEXT.get(action))


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("cloudformation:DeleteStack", ARN % ("cloudformation", "stack/production/1")),
        ("s3:DeleteBucket", "arn:aws:s3:::somebody-elses-bucket"),
        ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/index.html"),
        ("lambda:InvokeFunction", ARN % ("lambda", "function:HTCondorAnnex-LambdaFunctions-o")),
        ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/Admin"),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Admin"),
        ("ssm:GetParameter", ARN % ("ssm", "parameter/production/db-password")),
        ("ec2:DeleteKeyPair", ARN % ("ec2", "key-pair/somebody-elses-key")),
        ("ec2:TerminateInstances", ARN % ("ec2", "instance/i-0123")),
        ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/mallory"),
        ("s3:PutObject", "arn:aws:s3:::somebody-elses-bucket/config-x.tar.gz"),
    ],
)
def test_nothing_beyond_the_annex_is_allowed(document, action, resource):
    assert not allows(document, action, resource, CONDOR_ANNEX_CONTEXT.get(action))


#: The condition context of condor_annex's calls: the htcondor:AnnexName tag it puts on each
#: instance (OnDemandRequest.cpp), the lease function it targets (PutTargets.cpp), the EC2 role.
CONDOR_ANNEX_CONTEXT: dict[str, dict[str, list[str]]] = {
    "ec2:RunInstances": {f"aws:RequestTag/{names.TAG_ANNEX_NAME}": ["physics"]},
    "ec2:CreateTags": {"ec2:CreateAction": ["RunInstances"]},
    "events:PutTargets": {
        "events:TargetArn": [ARN % ("lambda", "function:HTCondorAnnex-LambdaFunctions-odi-X1")]
    },
    "iam:PassRole": {"iam:PassedToService": ["ec2.amazonaws.com"]},
}


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        # The instance carries no annex tag: not condor_annex's.
        ("ec2:TerminateInstances", ARN % ("ec2", "instance/i-0123"), {}),
        ("ec2:RunInstances", ARN % ("ec2", "instance/i-0123"), {}),
        ("ec2:CreateTags", ARN % ("ec2", "instance/i-0123"), {"ec2:CreateAction": ["CreateTags"]}),
        # A lease rule aimed at anything but the annex functions, also beside one of them
        # (events:TargetArn holds every target of the call), or at no target at all.
        (
            "events:PutTargets",
            ARN % ("events", "rule/physics"),
            {"events:TargetArn": [ARN % ("lambda", "function:production-cleanup")]},
        ),
        (
            "events:PutTargets",
            ARN % ("events", "rule/physics"),
            {"events:TargetArn": [ARN % ("lambda", "function:HTCondorAnnex-LambdaFunctions-odi-X1"),
                                  ARN % ("lambda", "function:production-cleanup")]},
        ),
        ("events:PutTargets", ARN % ("events", "rule/physics"), {}),
        # Any role, but only to Spot Fleet; the annex roles, but not to Lambda from outside.
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Admin", {"iam:PassedToService": ["ec2.amazonaws.com"]}),
        ("iam:CreateServiceLinkedRole", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/"
         "spot.amazonaws.com/AWSServiceRoleForEC2Spot", {"iam:AWSServiceName": ["rds.amazonaws.com"]}),
    ],
)  # fmt: skip
def test_conditions_refuse_what_is_not_condor_annexs(document, action, resource, context):
    assert not allows(document, action, resource, context)


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        # condor_annex's rollbacks (OnDemandRequest::rollback, BulkRequest::rollback).
        (
            "ec2:TerminateInstances",
            ARN % ("ec2", "instance/i-0123"),
            {f"aws:ResourceTag/{names.TAG_ANNEX_NAME}": ["physics"]},
        ),
        ("ec2:CancelSpotFleetRequests", ARN % ("ec2", "spot-fleet-request/sfr-0123"), {}),
        # The user's IamFleetRole (BulkRequest.cpp), whatever its name, to Spot Fleet only.
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/my-fleet-role", {"iam:PassedToService": ["spotfleet.amazonaws.com"]}),
        ("iam:CreateServiceLinkedRole", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/"
         "spotfleet.amazonaws.com/AWSServiceRoleForEC2SpotFleet", {"iam:AWSServiceName": ["spotfleet.amazonaws.com"]}),
        # Plain `cdk diff` / `cdk deploy` change sets.
        ("cloudformation:CreateChangeSet", ARN % ("cloudformation", "stack/HTCondorAnnex-Bucket/1"), {}),
        ("cloudformation:ExecuteChangeSet", ARN % ("cloudformation", "stack/HTCondorAnnex-Bucket/1"), {}),
        ("cloudformation:DeleteChangeSet", ARN % ("cloudformation", "stack/HTCondorAnnex-Bucket/1"), {}),
        ("cloudformation:GetTemplateSummary", ARN % ("cloudformation", "stack/HTCondorAnnex-Bucket/1"), {}),
    ],
)  # fmt: skip
def test_rollbacks_spot_and_change_sets_are_allowed(document, action, resource, context):
    assert allows(document, action, resource, context)
    if "HTCondorAnnex-" in resource:  # and on annex-cdk's own stacks only
        assert not allows(document, action, resource.replace("HTCondorAnnex-", "Prod-"), context)


def test_launches_and_tags_are_conditional(document):
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    [tagged] = [s for s in by_sid.values() if s["Resource"] == ARN % ("ec2", "instance/*")
                and "ec2:RunInstances" in s["Action"]]  # fmt: skip
    assert tagged["Condition"] == {"StringLike": {f"aws:RequestTag/{names.TAG_ANNEX_NAME}": "*"}}
    targets = by_sid[policy.SCOPES["lease-targets"].sid]
    assert targets["Condition"]["ForAllValues:ArnLike"]["events:TargetArn"].endswith(
        ":function:HTCondorAnnex-*"
    )
    assert targets["Condition"]["Null"] == {"events:TargetArn": "false"}
    assert (
        "lambda.amazonaws.com"
        in by_sid[policy.SCOPES["pass-role"].sid]["Condition"]["StringEquals"][
            "iam:PassedToService"
        ]
    )


def test_adopted_bucket_and_own_key_name_are_named():
    doc = policy.policy_document(
        region=REGION, account=ACCOUNT, bucket="htcondorannex-configurationbucket-1x2y",
        key_pair_name="my-key",
    )  # fmt: skip
    assert allows(
        doc, "s3:PutObject", "arn:aws:s3:::htcondorannex-configurationbucket-1x2y/config-a.tar.gz"
    )
    assert not allows(doc, "s3:PutObject", f"arn:aws:s3:::{BUCKET}/config-a.tar.gz")
    assert allows(doc, "ec2:CreateKeyPair", ARN % ("ec2", "key-pair/my-key"))
    assert not allows(doc, "ec2:CreateKeyPair", ARN % ("ec2", f"key-pair/{names.KEY_PAIR_NAME}"))


# --- The CloudFormation table against the resource types' registry handlers -----------------------
def _registry_schema(rtype: str) -> dict[str, Any]:
    import cfnlint

    base = Path(cfnlint.__file__).parent / "data" / "schemas"
    index = json.loads((base / "providers" / "us-east-1.json").read_text())
    return json.loads((base / "resources" / f"{index[rtype]}.json").read_text())


@pytest.mark.parametrize("rtype", sorted(policy.CFN_RESOURCE_ACTIONS))
def test_every_handler_permission_is_granted_or_explained(rtype):
    schema = _registry_schema(rtype)
    permissions: set[str] = set()
    for handler in ("create", "read", "update", "delete"):
        permissions |= set(schema.get("handlers", {}).get(handler, {}).get("permissions", []))
    permissions |= set((schema.get("tagging") or {}).get("permissions", []))
    granted = {a for actions in policy.CFN_RESOURCE_ACTIONS[rtype].values() for a in actions.all}
    explained = policy.CFN_NOT_NEEDED.get(rtype, {})
    patterns = granted | set(explained)
    assert (
        sorted(p for p in permissions if not any(fnmatch.fnmatchcase(p, g) for g in patterns)) == []
    )
    # No stale grant or excuse: each still matches one of the handlers' permissions.
    assert [g for g in patterns if not any(fnmatch.fnmatchcase(p, g) for p in permissions)] == []
    for prop, reason in explained.values():
        assert reason
        assert prop is None or prop in schema["properties"], prop


# --- Pre-flight ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("caller", "principal"),
    [
        (f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:user/alice"),
        (f"arn:aws:iam::{ACCOUNT}:user/staff/alice", f"arn:aws:iam::{ACCOUNT}:user/staff/alice"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deploy/gha-42", f"arn:aws:iam::{ACCOUNT}:role/ci-deploy"),
        (f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/r/s", f"arn:aws-cn:iam::{ACCOUNT}:role/r"),
        (f"arn:aws:iam::{ACCOUNT}:root", None),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", None),
        (f"arn:aws:sts::{ACCOUNT}:user/moto", None),  # the emulator's odd caller
        ("not an arn", None),
    ],
)  # fmt: skip
def test_principal_to_simulate(caller, principal):
    assert permissions.principal_arn(caller) == principal


class _Stub:
    """A target whose sts and iam clients answer from the test."""

    def __init__(self, caller: str, decide: Any) -> None:
        self.caller, self.decide, self.calls = caller, decide, []

    def client(self, service: str, *, quick: bool = False) -> Any:
        assert quick, "the pre-flight must not wait for retries"
        return self

    def caller_arn(self) -> str:
        return self.caller

    def get_paginator(self, name: str) -> Any:
        assert name == "simulate_principal_policy"
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append(kwargs)
        resources = kwargs.get("ResourceArns", ["*"])
        context = {e["ContextKeyName"]: e["ContextKeyValues"] for e in kwargs["ContextEntries"]}
        results = [
            {"EvalActionName": a, "EvalDecision": self.decide(a, resources, context)}
            for a in kwargs["ActionNames"]
        ]
        return [{"EvaluationResults": results}]


SETTINGS = AnnexSettings(region=REGION, account=ACCOUNT)
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"


def test_allowed_everything_passes_and_the_requests_are_concrete():
    stub = _Stub(USER, lambda action, resources, *_: "allowed")
    permissions.check_permissions(stub, SETTINGS)
    assert stub.calls, "nothing was simulated"
    actions = {a for c in stub.calls for a in c["ActionNames"]}
    assert {"cloudformation:CreateStack", "ec2:RunInstances", "iam:PassRole"} <= actions
    for call in stub.calls:
        assert call["PolicySourceArn"] == USER
        assert all("*" not in a for a in call["ActionNames"])  # IAM simulates single actions
        assert all("*" not in r for r in call.get("ResourceArns", []))
        keys = {e["ContextKeyName"] for e in call["ContextEntries"]}
        assert {"iam:PassedToService", "events:TargetArn", "kms:ViaService"} <= keys


@pytest.mark.parametrize("build_image", [False, True])
def test_the_caller_holding_exactly_the_policy_simulates_as_allowed(build_image):
    """Context entries satisfy the policy's own conditions, and the sample resources match its
    patterns: our evaluator, standing in for IAM, allows every simulated request (with the
    image stack: both policies, `annex-cdk policy` and `annex-cdk policy --build-image`)."""
    document = policy.policy_document(region=REGION, account=ACCOUNT, build_image=build_image)
    stub = _Stub(
        USER,
        lambda action, resources, context: (
            "allowed"
            if any(allows(document, action, r, context) for r in resources)
            else "implicitDeny"
        ),
    )
    settings = AnnexSettings(region=REGION, account=ACCOUNT, build_image=build_image)
    permissions.check_permissions(stub, settings)


def test_missing_actions_fail_in_one_line_naming_them():
    denied = {"ec2:RunInstances", "events:PutTargets"}
    stub = _Stub(
        USER,
        lambda action, resources, *_: "implicitDeny" if action in denied else "allowed",
    )
    with pytest.raises(PermissionsError) as caught:
        permissions.check_permissions(stub, SETTINGS)
    message = str(caught.value)
    assert "\n" not in message
    assert "ec2:RunInstances, events:PutTargets" in message
    assert USER in message
    assert caught.value.exit_code == EXIT_PERMISSIONS
    assert isinstance(caught.value, CredentialsError)
    assert f"annex-cdk policy --region {REGION} --account {ACCOUNT}`" in (caught.value.hint or "")


def test_an_explicit_deny_is_missing_too():
    stub = _Stub(
        USER,
        lambda action, resources, *_: "explicitDeny" if action == "s3:PutObject" else "allowed",
    )
    with pytest.raises(PermissionsError, match=r"lacks 1 permission\(s\).*: s3:PutObject$"):
        permissions.check_permissions(stub, SETTINGS)


def test_one_allowed_resource_of_several_is_enough():
    results = [
        {
            "EvalActionName": "iam:CreateRole",
            "EvalDecision": "implicitDeny",
            "ResourceSpecificResults": [
                {"EvalResourceName": "role", "EvalResourceDecision": "allowed"},
                {"EvalResourceName": "instance-profile", "EvalResourceDecision": "implicitDeny"},
            ],
        },
        {"EvalActionName": "iam:DeleteRole", "EvalDecision": "implicitDeny"},
    ]
    assert permissions.allowed_actions(results) == {"iam:CreateRole"}


@pytest.mark.parametrize(
    "failure",
    [
        ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "no"}}, "SimulatePrincipalPolicy"
        ),
        ClientError({"Error": {"Code": "NoSuchEntity", "Message": "x"}}, "SimulatePrincipalPolicy"),
        ResponseParserError("500 Internal Server Error (moto has no SimulatePrincipalPolicy)"),
    ],
)
def test_where_simulation_is_impossible_the_pre_flight_steps_aside(failure, capsys, monkeypatch):
    def fail(action: str, resources: list[str], *_: Any) -> str:
        raise failure

    monkeypatch.setenv("ANNEX_CDK_DEBUG", "1")
    permissions.check_permissions(_Stub(USER, fail), SETTINGS)  # no error
    assert "permission pre-flight skipped" in capsys.readouterr().err
    monkeypatch.delenv("ANNEX_CDK_DEBUG")
    permissions.check_permissions(_Stub(USER, fail), SETTINGS)
    assert capsys.readouterr().err == ""  # silent without --debug


def test_the_root_user_is_not_simulated():
    stub = _Stub(f"arn:aws:iam::{ACCOUNT}:root", lambda action, resources, *_: "implicitDeny")
    permissions.check_permissions(stub, SETTINGS)
    assert stub.calls == []


# --- The command ----------------------------------------------------------------------------------
def test_policy_command_prints_the_document():
    run = subprocess.run(
        [str(CLI), "policy", "--region", "eu-west-1", "--account", ACCOUNT],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    documents = policy.split(policy.policy_document(region="eu-west-1", account=ACCOUNT))
    assert printed == (documents[0] if len(documents) == 1 else documents)
    assert "customer managed policy" in run.stderr
    bad = subprocess.run(
        [str(CLI), "policy", "--account", "12"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert "12-digit" in bad.stderr


def test_destroy_keeps_the_submit_host_role_that_runs_it():
    from annex_cdk.aws.engine import Live, StackState

    role = f"arn:aws:iam::{ACCOUNT}:role/HTCondorAnnex-SubmitHostRole-SubmitHostRole-X1"
    live = {
        names.SUBMIT_HOST_STACK: Live(
            StackState(names.SUBMIT_HOST_STACK, "CREATE_COMPLETE", "id", {names.OUT_SUBMIT_HOST_ROLE: role}),
            None,
        )
    }  # fmt: skip
    on_the_host = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/i-0123"
    assert destroy.own_role_stacks(_Stub(on_the_host, None), live) == (names.SUBMIT_HOST_STACK,)
    assert destroy.own_role_stacks(_Stub(USER, None), live) == ()
    absent = {names.SUBMIT_HOST_STACK: Live(StackState(names.SUBMIT_HOST_STACK), None)}
    assert destroy.own_role_stacks(_Stub(on_the_host, None), absent) == ()


def test_destroy_keeps_the_ci_roles_when_the_pipeline_runs_it():
    from annex_cdk.aws.engine import Live, StackState

    deploy = f"arn:aws:iam::{ACCOUNT}:role/HTCondorAnnex-CiRoles-DeployRole-X1"
    plan = f"arn:aws:iam::{ACCOUNT}:role/HTCondorAnnex-CiRoles-PlanRole-X1"
    outputs = {names.OUT_CI_DEPLOY_ROLE: deploy, names.OUT_CI_PLAN_ROLE: plan}
    live = {
        names.CI_ROLES_STACK: Live(
            StackState(names.CI_ROLES_STACK, "CREATE_COMPLETE", "id", outputs), None
        )
    }
    runner = f"arn:aws:sts::{ACCOUNT}:assumed-role/{deploy.rsplit('/', 1)[1]}/annex-cdk-deploy-1"
    assert destroy.own_role_stacks(_Stub(runner, None), live) == (names.CI_ROLES_STACK,)
    assert destroy.own_role_stacks(_Stub(USER, None), live) == ()


# --- The image stack's second policy (annex-cdk policy --build-image) ----------------------------
IMAGE_TYPES = sorted(t for t in policy.CFN_RESOURCE_ACTIONS if t.startswith("AWS::ImageBuilder::"))
# Image Builder's ARNs, with the lowercased names the image stack gives (names.STACK_PREFIX).
IB = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:%s"
SLUG = "htcondorannex-25x-x86-64-1a2b3c4d"


@pytest.fixture(scope="module")
def image_document() -> dict[str, Any]:
    return policy.policy_document(region=REGION, account=ACCOUNT, image_only=True)


def test_the_image_statements_are_a_second_managed_policy(document, image_document):
    assert IMAGE_TYPES, "the table has no Image Builder types"
    first = {s["Sid"] for s in document["Statement"]}
    second = {s["Sid"] for s in image_document["Statement"]}
    assert second == {policy.SCOPES[name].sid for name in policy.IMAGE_SCOPES}
    assert not first & second
    assert not allows(document, "imagebuilder:CreateImage")
    assert policy.size(image_document) < policy.MANAGED_POLICY_LIMIT
    # Both together exceed one managed policy: that is why they are two.
    both = policy.policy_document(region=REGION, account=ACCOUNT, build_image=True)
    assert policy.size(both) > policy.MANAGED_POLICY_LIMIT
    assert both["Statement"] == document["Statement"] + image_document["Statement"]
    for statement in image_document["Statement"]:
        assert re.fullmatch(r"[A-Za-z0-9]+", statement["Sid"])
        for resource in _as_list(statement["Resource"]):
            assert resource == "*" or resource.startswith("arn:aws:"), resource


@pytest.mark.parametrize("rtype", IMAGE_TYPES)
def test_both_policies_allow_what_cloudformation_does_for_the_image_stack(
    document, image_document, rtype
):
    both = {
        "Version": policy.VERSION,
        "Statement": document["Statement"] + image_document["Statement"],
    }
    for scope, actions in policy.CFN_RESOURCE_ACTIONS[rtype].items():
        for action in actions.all:
            assert allows(both, action), (rtype, scope, action)


@pytest.mark.parametrize(
    ("action", "resource", "allowed"),
    [
        ("imagebuilder:CreateComponent", IB % f"component/{SLUG}/1.0.0/1", True),
        ("imagebuilder:DeleteImageRecipe", IB % f"image-recipe/{SLUG}/1.0.1", True),
        ("imagebuilder:CancelImageCreation", IB % f"image/{SLUG}/1.0.0/1", True),
        ("imagebuilder:UpdateInfrastructureConfiguration",
         IB % "infrastructure-configuration/htcondorannex-imagebuild-x86-64", True),
        ("imagebuilder:GetImage", f"arn:aws:imagebuilder:{REGION}:aws:image/amazon-linux-2023-x86/x.x.x", True),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/HTCondorAnnex-Image-ImageBuildRole-X1", True),
        ("iam:CreateServiceLinkedRole", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/"
         "imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder", True),
        # Nobody else's Image Builder resources, roles or service-linked roles.
        ("imagebuilder:DeleteComponent", IB % "component/production-base/1.0.0/1", False),
        ("imagebuilder:DeleteImage", f"arn:aws:imagebuilder:{REGION}:aws:image/amazon-linux-2023-x86/1.0.0/1", False),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Admin", False),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/HTCondorAnnex-LambdaFunctions-Le-X1", False),
        ("iam:CreateServiceLinkedRole", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/"
         "elasticbeanstalk.amazonaws.com/AWSServiceRoleForElasticBeanstalk", False),
    ],
)  # fmt: skip
def test_the_image_policy_is_scoped(image_document, action, resource, allowed):
    assert allows(image_document, action, resource) is allowed


def test_the_pre_flight_asks_for_the_image_statements_only_with_the_image_stack():
    def simulated(settings: AnnexSettings) -> set[str]:
        stub = _Stub(USER, lambda *request: "allowed")
        permissions.check_permissions(stub, settings)
        return {a for c in stub.calls for a in c["ActionNames"]}

    assert "imagebuilder:CreateImage" not in simulated(SETTINGS)
    with_image = AnnexSettings(region=REGION, account=ACCOUNT, build_image=True)
    assert {"imagebuilder:CreateImage", "iam:CreateServiceLinkedRole"} <= simulated(with_image)


def test_policy_command_prints_the_image_policy():
    run = subprocess.run(
        [str(CLI), "policy", "--offline", "--build-image", "--region", "eu-west-1",
         "--account", ACCOUNT],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == policy.policy_document(
        region="eu-west-1", account=ACCOUNT, image_only=True
    )


def test_the_runtime_policy_is_condor_annexs_calls_only():
    document = policy.policy_document(
        region=REGION, account=ACCOUNT, actions=policy.runtime_actions()
    )
    actions = {a for s in document["Statement"] for a in _as_list(s["Action"])}
    assert not any(a.startswith(("cloudformation:", "ssm:", "kms:", "s3:Delete")) for a in actions)
    assert {a for a in actions if a.startswith("iam:")} == {"iam:PassRole"}
    for scope, listed in policy.CONDOR_ANNEX_ACTIONS.items():
        if scope in policy.RUNTIME_EXCLUDED:
            continue
        for action in listed:
            assert allows(document, action), action
    assert policy.size(document) <= 0.9 * policy.MANAGED_POLICY_LIMIT


def test_policy_command_refuses_runtime_with_build_image():
    run = subprocess.run(
        [str(CLI), "policy", "--offline", "--runtime", "--build-image"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert "two different policies" in run.stderr


# --- The spend guardrail's own document -------------------------------------------------------------
_DENY = f"arn:aws:iam::{ACCOUNT}:policy/{names.GUARDRAIL_DENY_POLICY}"


@pytest.mark.parametrize(
    ("action", "resource", "context", "allowed"),
    [
        ("iam:AttachUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/alice",
         {"iam:PolicyARN": [_DENY], "aws:username": ["alice"]}, True),
        # Only the caller's own user.
        ("iam:AttachUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/bob",
         {"iam:PolicyARN": [_DENY], "aws:username": ["alice"]}, False),
        # Only the Deny: no other policy can be attached through this statement.
        ("iam:AttachUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/alice",
         {"iam:PolicyARN": ["arn:aws:iam::aws:policy/AdministratorAccess"],
          "aws:username": ["alice"]}, False),
        ("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/HTCondorAnnex-SubmitHostRole-R-X1",
         {"iam:PolicyARN": [_DENY]}, True),
        ("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/someone-else", {"iam:PolicyARN": [_DENY]}, False),
        ("iam:CreatePolicyVersion", _DENY, {}, True),
        ("iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/other", {}, False),
        ("scheduler:CreateSchedule",
         ARN % ("scheduler", f"schedule/default/{names.GUARDRAIL_STACK}-GuardrailSchedule-X1"), {}, True),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{names.GUARDRAIL_STACK}-Sched-X1",
         {"iam:PassedToService": ["scheduler.amazonaws.com"]}, True),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{names.GUARDRAIL_STACK}-Sched-X1",
         {"iam:PassedToService": ["ec2.amazonaws.com"]}, False),
        ("budgets:ModifyBudget", f"arn:aws:budgets::{ACCOUNT}:budget/{names.GUARDRAIL_BUDGET}", {}, True),
        ("budgets:ModifyBudget", f"arn:aws:budgets::{ACCOUNT}:budget/team-budget", {}, False),
        ("ssm:PutParameter", ARN % ("ssm", "parameter" + names.GUARDRAIL_HEARTBEAT_PARAMETER), {}, True),
        ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/{names.GUARDRAIL_STATE_KEY}", {}, True),
        ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/config-physics.tar.gz", {}, False),
    ],
)  # fmt: skip
def test_the_guardrail_document_allows_its_own_resources_only(action, resource, context, allowed):
    guardrail = policy.policy_document(region=REGION, account=ACCOUNT, guardrail_only=True)
    assert allows(guardrail, action, resource, context) is allowed
    assert policy.size(guardrail) < policy.MANAGED_POLICY_LIMIT


_CONDOR_USER = f"arn:aws:iam::{ACCOUNT}:user/{names.CONDOR_USER_STACK}-CondorAnnexUser-X1"
_CONDOR_POLICY = f"arn:aws:iam::{ACCOUNT}:policy/{names.CONDOR_USER_STACK}-Runtime-X1"


@pytest.mark.parametrize(
    ("action", "resource", "context", "allowed"),
    [
        ("iam:CreateUser", _CONDOR_USER, {}, True),
        ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/alice", {}, False),
        ("iam:CreateAccessKey", _CONDOR_USER, {}, True),
        ("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/alice", {}, False),
        ("iam:AttachUserPolicy", _CONDOR_USER, {"iam:PolicyARN": [_CONDOR_POLICY]}, True),
        # Never another policy onto the user whose keys the holder may make.
        ("iam:AttachUserPolicy", _CONDOR_USER,
         {"iam:PolicyARN": ["arn:aws:iam::aws:policy/AdministratorAccess"]}, False),
        ("iam:CreatePolicy", _CONDOR_POLICY, {}, True),
        ("iam:PutUserPolicy", _CONDOR_USER, {}, False),
    ],
)  # fmt: skip
def test_the_condor_user_document_allows_that_stacks_user_only(action, resource, context, allowed):
    document = policy.policy_document(region=REGION, account=ACCOUNT, condor_user_only=True)
    assert allows(document, action, resource, context) is allowed
    assert policy.size(document) < 0.9 * policy.MANAGED_POLICY_LIMIT
    # Not in the first document: the submit-host role holds that one and the image's inline.
    assert not allows(
        policy.policy_document(region=REGION, account=ACCOUNT), action, resource, context
    )
