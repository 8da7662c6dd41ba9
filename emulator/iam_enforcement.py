"""IAM enforcement with resources and conditions: what each call authorizes, as AWS does.

moto's server evaluates the caller's identity policies once enforcement is on
(`POST /moto-api/reset-auth {"INITIAL_NO_AUTH_ACTION_COUNT": n}`), but asks about `*` for almost
every call and ignores condition keys (moto/iam/access_control.py). Here each call annex-cdk
and condor_annex make is taught the resources IAM authorizes it on and the request's condition
context (the Service Authorization Reference's resource types and condition keys for that
action), including the extra authorizations a call carries: RunInstances' implicit CreateTags
(ec2:CreateAction) and PassRole of its instance profile's role, RequestSpotFleet's PassRole of
the fleet role, SSM's use of KMS for a SecureString (kms:ViaService). annex_emulator.
iam_evaluation decides.

A call not taught here is asked about `*`, as moto does: a policy scoped by resource then
denies it, so an untaught call shows up as a refusal, never as a silent allow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

from moto.core.exceptions import JsonRESTError, _RESTError

from annex_emulator import iam_principals, patches, policy_simulator, stack_authorization
from annex_emulator.iam_evaluation import ALLOWED, Request, denial_message, evaluate

Params = Mapping[str, Any]


class Call:
    """One request as moto's IAMRequest saw it, read as parameters."""

    def __init__(self, iam_request: Any) -> None:
        self.action: str = iam_request._action
        self.service, self.operation = self.action.split(":", 1)
        self.region: str = iam_request._region
        self.account: str = iam_request.account_id
        self.partition = "aws"
        self.path: str = iam_request._path
        self.method: str = iam_request._method
        self.headers = iam_request._headers
        self._data = iam_request._data or {}
        self._body = iam_request._body

    def param(self, name: str) -> str | None:
        value = self._data.get(name)
        if isinstance(value, list):
            return str(value[0]) if value else None
        return None if value is None else str(value)

    def numbered(self, prefix: str) -> list[str]:
        """Query-protocol lists: Prefix.1, Prefix.2, ..."""
        found = []
        for n in range(1, 1000):
            value = self.param(f"{prefix}.{n}")
            if value is None:
                break
            found.append(value)
        return found

    def json(self) -> dict[str, Any]:
        body = self._body
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        try:
            loaded = json.loads(body or "{}")
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )


def _stack(call: Call) -> list[Request]:
    name = call.param("StackName") or call.param("ChangeSetName") or ""
    if name.startswith("arn:"):
        resource = name if ":stack/" in name else "*"
    elif name:
        resource = call.arn("cloudformation", f"stack/{name}/*")
    else:
        resource = "*"
    return [Request(call.action, (resource,))]


def _ec2_tags(call: Call, resource_type: str) -> dict[str, list[str]]:
    context: dict[str, list[str]] = {}
    for n in range(1, 100):
        kind = call.param(f"TagSpecification.{n}.ResourceType")
        if kind is None:
            break
        if kind != resource_type:
            continue
        for m in range(1, 100):
            key = call.param(f"TagSpecification.{n}.Tag.{m}.Key")
            if key is None:
                break
            context[f"aws:RequestTag/{key}"] = [
                call.param(f"TagSpecification.{n}.Tag.{m}.Value") or ""
            ]
    return context


def _role_of_profile(call: Call, profile: str) -> str | None:
    from moto.iam.models import iam_backends

    backend = iam_backends[call.account][call.partition]
    for candidate in backend.instance_profiles.values():
        if profile in (candidate.arn, candidate.name):
            return next((role.arn for role in candidate.roles), None)
    return None


def _pass_role(role_arn: str | None, service: str) -> list[Request]:
    if not role_arn:
        return []
    return [Request("iam:PassRole", (role_arn,), {"iam:PassedToService": [service]})]


#: RunInstances' MetadataOptions members and the condition keys of its instance resource.
_METADATA_KEYS = {
    "HttpTokens": "ec2:MetadataHttpTokens",
    "HttpPutResponseHopLimit": "ec2:MetadataHttpPutResponseHopLimit",
    "HttpEndpoint": "ec2:MetadataHttpEndpoint",
}


def _metadata_context(call: Call) -> dict[str, list[str]]:
    """The launch's own MetadataOptions, and nothing else: neither the account's defaults nor
    the AMI's ImdsSupport. EC2 User Guide, example policies, "Require the use of IMDSv2": "If
    you do not specify that the instance requires IMDSv2, you get an UnauthorizedOperation
    error when you call the RunInstances API". A launch that sends no MetadataOptions (as
    condor_annex's do) has no ec2:MetadataHttpTokens, so StringNotEquals "required" denies it."""
    found = {}
    for member, key in _METADATA_KEYS.items():
        if (value := call.param(f"MetadataOptions.{member}")) is not None:
            found[key] = [value]
    return found


def _run_instances(call: Call) -> list[Request]:
    ec2 = call.arn
    tags = _ec2_tags(call, "instance")
    instance = ec2("ec2", "instance/i-new")
    # The instance is authorized with the metadata keys, which only it carries (Service
    # Authorization Reference, RunInstances); the other resources without them.
    requests = [Request(call.action, (instance,), {**tags, **_metadata_context(call)})]
    resources = [ec2("ec2", "volume/vol-new"), ec2("ec2", "network-interface/eni-new")]
    if image := call.param("ImageId"):
        resources.append(ec2("ec2", f"image/{image}", account=False))
    if subnet := call.param("SubnetId"):
        resources.append(ec2("ec2", f"subnet/{subnet}"))
    for group in call.numbered("SecurityGroupId"):
        resources.append(ec2("ec2", f"security-group/{group}"))
    if key := call.param("KeyName"):
        resources.append(ec2("ec2", f"key-pair/{key}"))
    requests.append(Request(call.action, tuple(resources), tags))
    if tags:  # tags at launch are a CreateTags authorization of their own
        requests.append(
            Request(
                "ec2:CreateTags",
                (ec2("ec2", "instance/i-new"),),
                {**tags, "ec2:CreateAction": ["RunInstances"]},
            )
        )
    profile = call.param("IamInstanceProfile.Arn") or call.param("IamInstanceProfile.Name")
    if profile:
        requests += _pass_role(_role_of_profile(call, profile), "ec2.amazonaws.com")
    return requests


def _instance_tags(call: Call, instance_id: str) -> dict[str, list[str]]:
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[call.account][call.region]
    for reservation in backend.reservations.values():
        for instance in reservation.instances:
            if instance.id == instance_id:
                tags = backend.tags.get(instance_id, {})
                return {f"aws:ResourceTag/{k}": [v] for k, v in tags.items()}
    return {}


def _terminate_instances(call: Call) -> list[Request]:
    return [
        Request(call.action, (call.arn("ec2", f"instance/{i}"),), _instance_tags(call, i))
        for i in call.numbered("InstanceId")
    ]


def _spot_fleet(call: Call) -> list[Request]:
    requests = [Request(call.action, (call.arn("ec2", "spot-fleet-request/sfr-new"),))]
    role = call.param("SpotFleetRequestConfig.IamFleetRole")
    requests += _pass_role(role, "spotfleet.amazonaws.com")
    for n in range(1, 100):
        prefix = f"SpotFleetRequestConfig.LaunchSpecifications.{n}"
        if call.param(f"{prefix}.ImageId") is None:
            break
        profile = call.param(f"{prefix}.IamInstanceProfile.Arn") or call.param(
            f"{prefix}.IamInstanceProfile.Name"
        )
        if profile:
            requests += _pass_role(_role_of_profile(call, profile), "ec2.amazonaws.com")
    return requests


def _cancel_spot_fleets(call: Call) -> list[Request]:
    ids = call.numbered("SpotFleetRequestId")
    return [Request(call.action, tuple(call.arn("ec2", f"spot-fleet-request/{i}") for i in ids))]


def _ssm(call: Call) -> list[Request]:
    body = call.json()
    names = body.get("Names") or [body.get("Name", "")]
    resources = tuple(
        call.arn("ssm", "parameter" + ("" if n.startswith("/") else "/") + n) for n in names
    )
    requests = [Request(call.action, resources)]
    secure = body.get("WithDecryption") or body.get("Type") == "SecureString"
    if secure:  # SSM uses the parameter's KMS key with the caller's rights
        kms = "kms:Decrypt" if call.operation.startswith("Get") else "kms:Encrypt"
        via = {"kms:ViaService": [f"ssm.{call.region}.amazonaws.com"]}
        requests.append(Request(kms, (call.arn("kms", "key/aws-managed-ssm"),), via))
    return requests


def _events(call: Call) -> list[Request]:
    body = call.json()
    rule = body.get("Rule") or body.get("Name") or ""
    context: dict[str, list[str]] = {}
    if call.operation == "PutTargets":
        context["events:TargetArn"] = [t.get("Arn", "") for t in body.get("Targets", [])]
    return [Request(call.action, (call.arn("events", f"rule/{rule}"),), context)]


_LAMBDA_PATH = re.compile(r"^/20\d\d-\d\d-\d\d/functions/([^/?]+)(/[^?]*)?")


def _lambda(call: Call) -> list[Request]:
    m = _LAMBDA_PATH.match(urlparse(call.path).path)
    if not m:
        return [Request(call.action, ("*",))]
    name = unquote(m.group(1))
    arn = name if name.startswith("arn:") else call.arn("lambda", f"function:{name}")
    action = call.action
    if (m.group(2) or "").startswith("/invocations"):
        action = "lambda:InvokeFunction"  # moto names it lambda:Invoke
    return [Request(action, (arn,))]


def _iam_entity(call: Call, kind: str, name: str) -> Any:
    from moto.iam.models import iam_backends

    backend = iam_backends[call.account][call.partition]
    lookup = {
        "role": backend.get_role,
        "user": backend.get_user,
        "instance-profile": backend.get_instance_profile,
    }[kind]
    try:
        return lookup(name)
    except Exception:  # not there (yet): the call itself answers NoSuchEntity
        return None


def _iam(call: Call) -> list[Request]:
    """IAM's calls on a role, user or instance profile: its ARN with its path, and for role
    and user changes `iam:PermissionsBoundary` (the one asked for on CreateRole/CreateUser and
    Put*PermissionsBoundary; else the entity's own, as on AWS), `iam:PolicyARN`, tags."""
    op = call.operation
    for kind, parameter in (
        ("instance-profile", "InstanceProfileName"),
        ("role", "RoleName"),
        ("user", "UserName"),
    ):
        name = call.param(parameter)
        if not name or (kind == "user" and op.startswith("Simulate")):
            continue
        if kind == "role" and op in ("AddRoleToInstanceProfile", "RemoveRoleFromInstanceProfile"):
            continue  # authorized on the instance profile
        entity = None if op.startswith("Create") else _iam_entity(call, kind, name)
        path = call.param("Path") or "/"
        arn = (
            entity.arn
            if entity is not None
            else call.arn("iam", f"{kind}{path}{name}", region=False)
        )
        context: dict[str, list[str]] = {}
        if kind != "instance-profile":
            if op.startswith("Create") or "PermissionsBoundary" in op:
                boundary = call.param("PermissionsBoundary")
            else:
                boundary = getattr(entity, "permissions_boundary_arn", None)
            if boundary:
                context["iam:PermissionsBoundary"] = [boundary]
        if policy := call.param("PolicyArn"):
            context["iam:PolicyARN"] = [policy]
        context.update(_query_tags(call, "Tags.member"))
        return [Request(call.action, (arn,), context)]
    if source := call.param("PolicySourceArn"):
        return [Request(call.action, (source,))]
    if policy := call.param("PolicyArn"):
        return [Request(call.action, (policy,))]
    if op == "CreatePolicy":
        path = call.param("Path") or "/"
        arn = call.arn("iam", f"policy{path}{call.param('PolicyName')}", region=False)
        return [Request(call.action, (arn,), _query_tags(call, "Tags.member"))]
    return [Request(call.action, ("*",))]


def _query_tags(call: Call, prefix: str) -> dict[str, list[str]]:
    """aws:RequestTag/* and aws:TagKeys of a query-protocol call's tags."""
    tags = {}
    for n in range(1, 100):
        key = call.param(f"{prefix}.{n}.Key")
        if key is None:
            break
        tags[key] = call.param(f"{prefix}.{n}.Value") or ""
    context = {f"aws:RequestTag/{k}": [v] for k, v in tags.items()}
    if tags:
        context["aws:TagKeys"] = list(tags)
    return context


def _s3(call: Call, resource: str) -> list[Request]:
    query = parse_qs(urlparse(call.path).query, keep_blank_values=True)
    if call.method == "POST" and "delete" in query:
        body = call._body.decode() if isinstance(call._body, bytes) else str(call._body or "")
        keys = re.findall(r"<Key>(.*?)</Key>", body)
        versions = "<VersionId>" in body
        actions = ["s3:DeleteObject"] + (["s3:DeleteObjectVersion"] if versions else [])
        return [Request(a, tuple(f"{resource}/{k}" for k in keys) or (resource,)) for a in actions]
    if call.method in {"GET", "HEAD"} and "versions" in query:
        return [Request("s3:ListBucketVersions", (resource,))]
    if call.action == "s3:HeadBucket":  # IAM has no such action: HeadBucket needs ListBucket
        return [Request("s3:ListBucket", (resource,))]
    return [Request(call.action, (resource,))]


#: service:Operation (moto's name) -> the authorizations it carries.
TAUGHT: dict[str, Callable[[Call], list[Request]]] = {
    **{
        f"cloudformation:{op}": _stack
        for op in [
            "CreateStack",
            "UpdateStack",
            "DeleteStack",
            "DescribeStacks",
            "DescribeStackEvents",
            "DescribeStackResource",
            "DescribeStackResources",
            "ListStackResources",
            "GetTemplate",
            "GetTemplateSummary",
            "DetectStackDrift",
            "DetectStackResourceDrift",
            "DescribeStackResourceDrifts",
            "CreateChangeSet",
            "DescribeChangeSet",
            "ExecuteChangeSet",
            "DeleteChangeSet",
            "ListChangeSets",
        ]
    },
    "ec2:RunInstances": _run_instances,
    "ec2:TerminateInstances": _terminate_instances,
    "ec2:RequestSpotFleet": _spot_fleet,
    "ec2:CancelSpotFleetRequests": _cancel_spot_fleets,
    **{
        f"ssm:{op}": _ssm
        for op in ("GetParameter", "GetParameters", "PutParameter", "DeleteParameter")
    },
    **{f"events:{op}": _events for op in ("PutRule", "PutTargets", "DeleteRule", "RemoveTargets")},
    **{
        f"iam:{op}": _iam
        for op in (
            "GetRole",
            "GetRolePolicy",
            "ListRolePolicies",
            "ListAttachedRolePolicies",
            "GetInstanceProfile",
            "SimulatePrincipalPolicy",
            "CreateRole",
            "DeleteRole",
            "UpdateAssumeRolePolicy",
            "PutRolePolicy",
            "DeleteRolePolicy",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "PutRolePermissionsBoundary",
            "DeleteRolePermissionsBoundary",
            "TagRole",
            "UntagRole",
            "CreateInstanceProfile",
            "DeleteInstanceProfile",
            "AddRoleToInstanceProfile",
            "RemoveRoleFromInstanceProfile",
            "CreateUser",
            "DeleteUser",
            "GetUser",
            "PutUserPolicy",
            "DeleteUserPolicy",
            "AttachUserPolicy",
            "DetachUserPolicy",
            "ListAccessKeys",
            "CreateAccessKey",
            "DeleteAccessKey",
            "UpdateAccessKey",
            "ListUserPolicies",
            "ListAttachedUserPolicies",
            "PutUserPermissionsBoundary",
            "DeleteUserPermissionsBoundary",
            "TagUser",
            "CreatePolicy",
            "DeletePolicy",
            "GetPolicy",
            "GetPolicyVersion",
            "CreatePolicyVersion",
        )
    },
}


def requests_for(call: Call, moto_resource: str) -> list[Request]:
    if call.action in TAUGHT:
        return TAUGHT[call.action](call)
    if call.service == "s3":  # moto's S3 names the bucket or object ARN itself
        return _s3(call, moto_resource)
    if call.service == "lambda":
        return _lambda(call)
    # Describe* calls of EC2 and the like authorize on * in IAM too.
    return [Request(call.action, (moto_resource,))]


#: Services whose errors are JSON documents (moto's XML error left botocore only the status).
_JSON_SERVICES = frozenset({"events", "ssm", "logs", "lambda", "kms", "imagebuilder"})


def _denied(service: str, message: str) -> _RESTError:
    """AWS's refusal as the service spells it, with AWS's message naming the policy type that
    refused the call (EC2: UnauthorizedOperation; JSON services: AccessDeniedException)."""
    if service == "ec2":
        text = f"You are not authorized to perform this operation. {message}"
        error: _RESTError = _RESTError("UnauthorizedOperation", text)
    elif service in _JSON_SERVICES:
        error = JsonRESTError("AccessDeniedException", message)
    else:
        error = _RESTError("AccessDenied", message)
    error.code = 403
    return error


def check_action_permitted(self: Any, resource: str) -> None:
    """moto's IAMRequestBase.check_action_permitted, with resources, conditions, the caller's
    permissions boundary and the organization's SCPs; the root user's key is known."""
    if self._action == "sts:GetCallerIdentity":  # always allowed, as on AWS
        return
    call = Call(self)
    principal = iam_principals.of_access_key(self._access_key)
    # CloudFormation creates and deletes a stack's resources with the caller's rights.
    stack_authorization.acting.set(
        (principal, call.region) if call.action in stack_authorization.STACK_CHANGES else None
    )
    for request in requests_for(call, resource):
        result = evaluate(principal.policies, principal.request(request, call.region))
        if result.decision != ALLOWED:
            message = denial_message(principal.arn, result)
            _log_denial(message)
            if call.service == "s3":
                self._raise_access_denied()  # S3's own error document
            raise _denied(call.service, message)


def _log_denial(message: str) -> None:
    import sys

    # The emulator's log (stderr) says which authorization failed; the client sees AWS's error.
    print(f"annex-emulator: IAM denied: {message}", file=sys.stderr)


def check_signature(self: Any) -> None:
    """moto's check, also as the client signed a REST call (Lambda's): moto puts the parsed
    path parameters in the request's body when the real body is empty, and hands over the
    decoded path where the client signed the encoded one (a function ARN's colons as %3A); so
    every Lambda call with IAM enforcement on was refused as mis-signed."""
    signed = self._get_string_between("Signature=", ",", self._headers["Authorization"])
    path, data = self._path, self._data
    raw, _, query = path.partition("?")
    encoded = quote(raw, safe="/-_.~") + (f"?{query}" if query else "")
    try:
        for candidate_path in dict.fromkeys((path, encoded)):
            for candidate_data in (data, {}) if not self._body else (data,):
                self._path, self._data = candidate_path, candidate_data
                if self._calculate_signature() == signed:
                    return
    finally:
        self._path, self._data = path, data
    self._raise_signature_does_not_match()


def install(patch: Callable[[Any, str, Any], None]) -> None:
    from moto.iam import access_control
    from moto.iam.access_control import IAMRequestBase
    from moto.iam.responses import IamResponse

    patch(IAMRequestBase, "check_action_permitted", check_action_permitted)
    patch(access_control, "create_access_key", iam_principals.create_access_key)
    # Added, not replaced: moto has no SimulatePrincipalPolicy (moto_contract.ABSENT).
    patches.add(
        IamResponse, "simulate_principal_policy", policy_simulator.simulate_principal_policy
    )
    patch(IAMRequestBase, "check_signature", check_signature)
