"""What IAM authorizes for each call: its action(s), the resources of each and the request's
condition context, as the Service Authorization Reference lists them for that action
(tests/unit/test_iam_mapping.py compares every entry with the reference's data).

moto asks IAM about `*` for almost every call and supplies no condition keys
(moto/iam/access_control.py). Here each call annex-cdk, the CDK CLI and condor_annex make is
taught (`TAUGHT`), including the extra authorizations a call carries: RunInstances' implicit
CreateTags (ec2:CreateAction) and PassRole of its instance profile's role, RequestSpotFleet's
PassRole of the fleet role, SSM's use of a customer managed KMS key. Actions that IAM itself
authorizes on `*` only (no resource type in the reference) are listed in `ON_ANY_RESOURCE`. A
call in neither is refused under enforcement (`Untaught`), never let through on a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlparse

from annex_emulator.iam_evaluation import Request


class Untaught(Exception):
    """A call whose authorization the emulator has not been taught."""


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

    def text(self) -> str:
        body = self._body
        return body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")

    def json(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.text() or "{}")
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )


Context = dict[str, list[str]]


def _tag_context(tags: Mapping[str, str]) -> Context:
    context = {f"aws:RequestTag/{k}": [v] for k, v in tags.items()}
    if tags:
        context["aws:TagKeys"] = list(tags)
    return context


def _query_tags(call: Call, prefix: str) -> Context:
    """aws:RequestTag/* and aws:TagKeys of a query-protocol call's tags."""
    tags = {}
    for n in range(1, 100):
        key = call.param(f"{prefix}.{n}.Key")
        if key is None:
            break
        tags[key] = call.param(f"{prefix}.{n}.Value") or ""
    return _tag_context(tags)


# --- CloudFormation -------------------------------------------------------------------------------


def _change_set_stack(call: Call, change_set: str) -> str | None:
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[call.account][call.region]
    for candidate in backend.change_sets.values():
        if change_set in (candidate.change_set_id, candidate.change_set_name):
            return str(candidate.stack_id)
    return None


def _template_resource_types(call: Call) -> Context:
    """cloudformation:ResourceTypes: the resource types of the template the call carries."""
    body = call.param("TemplateBody")
    if body is None:
        return {}
    try:
        template = json.loads(body)
    except ValueError:
        try:
            import yaml

            template = yaml.safe_load(body)
        except Exception:  # an unreadable template: CloudFormation answers, not IAM
            return {}
    resources = template.get("Resources") if isinstance(template, dict) else None
    types = sorted({str(r.get("Type")) for r in (resources or {}).values() if isinstance(r, dict)})
    return {"cloudformation:ResourceTypes": types} if types else {}


def _stack(call: Call) -> list[Request]:
    """A stack's calls are authorized on the stack: by name, by its ARN, or (a change set
    addressed by its ARN alone) on the stack the change set belongs to."""
    name = call.param("StackName") or ""
    change_set = call.param("ChangeSetName") or ""
    if name.startswith("arn:"):
        resource = name
    elif name:
        resource = call.arn("cloudformation", f"stack/{name}/*")
    elif change_set:
        resource = _change_set_stack(call, change_set) or "*"
    else:
        resource = "*"
    context: Context = {}
    if call.operation in ("CreateStack", "UpdateStack", "CreateChangeSet"):
        context.update(_template_resource_types(call))
        context.update(_query_tags(call, "Tags.member"))
    if change_set and "ChangeSet" in call.operation and not change_set.startswith("arn:"):
        context["cloudformation:ChangeSetName"] = [change_set]
    return [Request(call.action, (resource,), context)]


# --- EC2 ------------------------------------------------------------------------------------------


def _ec2_backend(call: Call) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[call.account][call.region]


def _ec2_tags(call: Call, resource_type: str) -> Context:
    tags = {}
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
            tags[key] = call.param(f"TagSpecification.{n}.Tag.{m}.Value") or ""
    return _tag_context(tags)


def _role_of_profile(call: Call, profile: str) -> str | None:
    from moto.iam.models import iam_backends

    backend = iam_backends[call.account][call.partition]
    for candidate in backend.instance_profiles.values():
        if profile in (candidate.arn, candidate.name):
            return next((role.arn for role in candidate.roles), None)
    return None


def _pass_role(role_arn: str | None, service: str, associated: str | None = None) -> list[Request]:
    """iam:PassRole of a role to a service (iam:AssociatedResourceArn: what it is passed for)."""
    if not role_arn:
        return []
    context = {"iam:PassedToService": [service]}
    if associated:
        context["iam:AssociatedResourceArn"] = [associated]
    return [Request("iam:PassRole", (role_arn,), context)]


#: RunInstances' MetadataOptions members and the condition keys of its instance resource.
_METADATA_KEYS = {
    "HttpTokens": "ec2:MetadataHttpTokens",
    "HttpPutResponseHopLimit": "ec2:MetadataHttpPutResponseHopLimit",
    "HttpEndpoint": "ec2:MetadataHttpEndpoint",
}


def _metadata_context(call: Call) -> Context:
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


def _launch_network(call: Call, prefix: str = "") -> tuple[str | None, list[str]]:
    """The subnet and security groups a launch uses: the ones it names, else EC2's choice (the
    default VPC's default subnet, the VPC's default security group). Names become ids."""
    backend = _ec2_backend(call)
    subnet = call.param(f"{prefix}SubnetId")
    if subnet is None:
        default_vpc = backend.get_default_vpc()
        if default_vpc is not None:
            zone = call.param(f"{prefix}Placement.AvailabilityZone")
            defaults = [
                s
                for s in backend.describe_subnets()
                if s.vpc_id == default_vpc.id and s.default_for_az
            ]
            chosen = [s for s in defaults if s.availability_zone == zone] or defaults
            subnet = chosen[0].id if chosen else None
    groups = list(call.numbered(f"{prefix}SecurityGroupId"))
    for name in call.numbered(f"{prefix}SecurityGroup"):
        found = backend.get_security_group_from_name(name)
        groups.append(found.id if found is not None else name)
    if not groups:
        try:
            default = backend.get_default_security_group()
        except Exception:  # no default VPC: EC2 refuses the launch itself
            default = None
        if default is not None:
            groups.append(default.id)
    return subnet, groups


def _run_instances(call: Call) -> list[Request]:
    ec2 = call.arn
    instance = ec2("ec2", "instance/i-new")
    # The instance is authorized with the metadata keys, which only it carries (Service
    # Authorization Reference, RunInstances); each other resource with its own tags' keys.
    requests = [
        Request(
            call.action, (instance,), {**_ec2_tags(call, "instance"), **_metadata_context(call)}
        )
    ]
    requests.append(
        Request(call.action, (ec2("ec2", "volume/vol-new"),), _ec2_tags(call, "volume"))
    )
    requests.append(
        Request(
            call.action,
            (ec2("ec2", "network-interface/eni-new"),),
            _ec2_tags(call, "network-interface"),
        )
    )
    others = []
    if image := call.param("ImageId"):
        others.append(ec2("ec2", f"image/{image}", account=False))
    subnet, groups = _launch_network(call)
    if subnet:
        others.append(ec2("ec2", f"subnet/{subnet}"))
    others += [ec2("ec2", f"security-group/{group}") for group in groups]
    if key := call.param("KeyName"):
        others.append(ec2("ec2", f"key-pair/{key}"))
    requests.append(Request(call.action, tuple(others)))
    for kind in ("instance", "volume", "network-interface"):
        if tags := _ec2_tags(call, kind):  # tags at launch are a CreateTags authorization too
            arn = {"instance": instance}.get(kind) or ec2("ec2", f"{kind}/new")
            requests.append(
                Request("ec2:CreateTags", (arn,), {**tags, "ec2:CreateAction": ["RunInstances"]})
            )
    profile = call.param("IamInstanceProfile.Arn") or call.param("IamInstanceProfile.Name")
    if profile:
        requests += _pass_role(_role_of_profile(call, profile), "ec2.amazonaws.com", instance)
    return requests


def _resource_tags(tags: Mapping[str, str], service: str) -> Context:
    """A resource's tags as both aws:ResourceTag/* and <service>:ResourceTag/* (EC2 has both)."""
    context = {f"aws:ResourceTag/{k}": [v] for k, v in tags.items()}
    context.update({f"{service}:ResourceTag/{k}": [v] for k, v in tags.items()})
    return context


def _instance_tags(call: Call, instance_id: str) -> Context:
    backend = _ec2_backend(call)
    return _resource_tags(backend.tags.get(instance_id, {}), "ec2")


def _per_instance(call: Call) -> list[Request]:
    return [
        Request(call.action, (call.arn("ec2", f"instance/{i}"),), _instance_tags(call, i))
        for i in call.numbered("InstanceId")
    ]


def _spot_fleet(call: Call) -> list[Request]:
    fleet = call.arn("ec2", "spot-fleet-request/sfr-new")
    requests = [Request(call.action, (fleet,), _ec2_tags(call, "spot-fleet-request"))]
    role = call.param("SpotFleetRequestConfig.IamFleetRole")
    requests += _pass_role(role, "spotfleet.amazonaws.com", fleet)
    for n in range(1, 100):
        prefix = f"SpotFleetRequestConfig.LaunchSpecifications.{n}"
        if call.param(f"{prefix}.ImageId") is None:
            break
        profile = call.param(f"{prefix}.IamInstanceProfile.Arn") or call.param(
            f"{prefix}.IamInstanceProfile.Name"
        )
        if profile:
            requests += _pass_role(_role_of_profile(call, profile), "ec2.amazonaws.com", fleet)
    return requests


def _spot_fleet_ids(call: Call) -> list[Request]:
    ids = call.numbered("SpotFleetRequestId")
    return [Request(call.action, tuple(call.arn("ec2", f"spot-fleet-request/{i}") for i in ids))]


def _ec2_single(
    kind: str, parameter: str, *, account: bool = True
) -> Callable[[Call], list[Request]]:
    """A call on one EC2 resource named by a parameter (GroupId, KeyName, SnapshotId ...);
    snapshots and images have no account in their ARN."""

    def taught(call: Call) -> list[Request]:
        value = call.param(parameter)
        if value is None:
            raise Untaught(f"{call.action} without {parameter}")
        tags = _resource_tags(_ec2_backend(call).tags.get(value, {}), "ec2")
        arn = call.arn("ec2", f"{kind}/{value}", account=account)
        return [Request(call.action, (arn,), tags)]

    return taught


def _create_security_group(call: Call) -> list[Request]:
    group = call.arn("ec2", "security-group/sg-new")
    vpc = call.param("VpcId") or getattr(_ec2_backend(call).get_default_vpc(), "id", None)
    resources = [group] + ([call.arn("ec2", f"vpc/{vpc}")] if vpc else [])
    return [Request(call.action, tuple(resources), _ec2_tags(call, "security-group"))]


def _create_tags(call: Call) -> list[Request]:
    tags = {}
    for n in range(1, 100):
        key = call.param(f"Tag.{n}.Key")
        if key is None:
            break
        tags[key] = call.param(f"Tag.{n}.Value") or ""
    kinds = {"i-": "instance", "sg-": "security-group", "ami-": "image", "snap-": "snapshot"}
    requests = []
    for resource_id in call.numbered("ResourceId"):
        kind = next((k for prefix, k in kinds.items() if resource_id.startswith(prefix)), None)
        if kind is None:
            raise Untaught(f"{call.action} on {resource_id}")
        arn = call.arn("ec2", f"{kind}/{resource_id}", account=kind != "image")
        existing = _resource_tags(_ec2_backend(call).tags.get(resource_id, {}), "ec2")
        requests.append(Request(call.action, (arn,), {**existing, **_tag_context(tags)}))
    return requests


# --- SSM, EventBridge, Lambda, IAM ----------------------------------------------------------------

#: The key SSM encrypts a SecureString with when none is named: its key policy lets every
#: principal of the account use it through SSM, so the caller's own policy needs no KMS right.
_SSM_DEFAULT_KEY = "alias/aws/ssm"


def _ssm_key(call: Call, name: str) -> str | None:
    from moto.ssm.models import ssm_backends

    try:
        parameter = ssm_backends[call.account][call.region].get_parameter(name)
    except Exception:
        return None
    return getattr(parameter, "keyid", None)


def _kms_key_arn(call: Call, key: str) -> str:
    """KMS authorizes on the key, also where the caller names it by an alias."""
    from moto.kms.models import kms_backends

    if key.startswith("arn:") and ":key/" in key:
        return key
    alias = key.split(":", 5)[-1] if key.startswith("arn:") else key
    key_id = alias
    if alias.startswith("alias/"):
        found = kms_backends[call.account][call.region].get_key_id_from_alias(alias)
        key_id = found or alias.removeprefix("alias/")
    return call.arn("kms", f"key/{key_id}")


def _ssm(call: Call) -> list[Request]:
    body = call.json()
    names = body.get("Names") or [body.get("Name", "")]
    arns = [call.arn("ssm", "parameter" + ("" if n.startswith("/") else "/") + n) for n in names]
    requests = [Request(call.action, tuple(arns))]
    via = {"kms:ViaService": [f"ssm.{call.region}.amazonaws.com"]}
    if call.operation == "PutParameter" and body.get("Type") == "SecureString":
        key = body.get("KeyId") or _SSM_DEFAULT_KEY
        if key != _SSM_DEFAULT_KEY:
            requests.append(Request("kms:Encrypt", (_kms_key_arn(call, key),), via))
    if call.operation.startswith("Get") and body.get("WithDecryption"):
        for name, arn in zip(names, arns, strict=True):
            key = _ssm_key(call, name)
            if key and key != _SSM_DEFAULT_KEY:
                context = {**via, "kms:EncryptionContext:PARAMETER_ARN": [arn]}
                requests.append(Request("kms:Decrypt", (_kms_key_arn(call, key),), context))
    return requests


def _events(call: Call) -> list[Request]:
    body = call.json()
    rule = body.get("Rule") or body.get("Name") or ""
    context: Context = {}
    if call.operation == "PutTargets":
        context["events:TargetArn"] = [t.get("Arn", "") for t in body.get("Targets", [])]
    if call.operation == "PutRule":
        context.update(_tag_context({t["Key"]: t["Value"] for t in body.get("Tags", [])}))
    return [Request(call.action, (call.arn("events", f"rule/{rule}"),), context)]


_LAMBDA_PATH = re.compile(r"^/20\d\d-\d\d-\d\d/functions/([^/?]+)(/[^?]*)?")
#: moto's names for Lambda's REST calls -> IAM's (Invoke is lambda:InvokeFunction in IAM).
_LAMBDA_ACTIONS = {"lambda:Invoke": "lambda:InvokeFunction"}


def _lambda(call: Call) -> list[Request]:
    m = _LAMBDA_PATH.match(urlparse(call.path).path)
    if not m:
        raise Untaught(f"{call.action} {call.method} {call.path}")
    name = unquote(m.group(1))
    arn = name if name.startswith("arn:") else call.arn("lambda", f"function:{name}")
    action = _LAMBDA_ACTIONS.get(call.action, call.action)
    if (m.group(2) or "").startswith("/invocations"):
        action = "lambda:InvokeFunction"
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
        if not name:
            continue
        entity = None if op.startswith("Create") else _iam_entity(call, kind, name)
        path = call.param("Path") or "/"
        arn = (
            entity.arn
            if entity is not None
            else call.arn("iam", f"{kind}{path}{name}", region=False)
        )
        context: Context = {}
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
    raise Untaught(call.action)


# --- S3 -------------------------------------------------------------------------------------------

#: (method, sub-resource, on an object) -> IAM's action. moto's own names for S3 requests are
#: not IAM's (`?encryption` came out as s3:ListBucket), so every request S3 serves is named here.
_S3_ACTIONS: Final[dict[tuple[str, str, bool], str]] = {
    ("GET", "", False): "s3:ListBucket",
    ("HEAD", "", False): "s3:ListBucket",
    ("GET", "list-type", False): "s3:ListBucket",
    ("GET", "versions", False): "s3:ListBucketVersions",
    ("GET", "uploads", False): "s3:ListBucketMultipartUploads",
    ("GET", "location", False): "s3:GetBucketLocation",
    ("PUT", "", False): "s3:CreateBucket",
    ("DELETE", "", False): "s3:DeleteBucket",
    ("GET", "policy", False): "s3:GetBucketPolicy",
    ("PUT", "policy", False): "s3:PutBucketPolicy",
    ("DELETE", "policy", False): "s3:DeleteBucketPolicy",
    ("GET", "encryption", False): "s3:GetEncryptionConfiguration",
    ("PUT", "encryption", False): "s3:PutEncryptionConfiguration",
    ("GET", "publicAccessBlock", False): "s3:GetBucketPublicAccessBlock",
    ("PUT", "publicAccessBlock", False): "s3:PutBucketPublicAccessBlock",
    ("GET", "tagging", False): "s3:GetBucketTagging",
    ("PUT", "tagging", False): "s3:PutBucketTagging",
    ("GET", "versioning", False): "s3:GetBucketVersioning",
    ("PUT", "versioning", False): "s3:PutBucketVersioning",
    ("GET", "acl", False): "s3:GetBucketAcl",
    ("GET", "ownershipControls", False): "s3:GetBucketOwnershipControls",
    ("GET", "lifecycle", False): "s3:GetLifecycleConfiguration",
    ("GET", "logging", False): "s3:GetBucketLogging",
    ("GET", "notification", False): "s3:GetBucketNotification",
    ("GET", "cors", False): "s3:GetBucketCORS",
    ("GET", "website", False): "s3:GetBucketWebsite",
    ("GET", "object-lock", False): "s3:GetBucketObjectLockConfiguration",
    ("GET", "replication", False): "s3:GetReplicationConfiguration",
    ("GET", "", True): "s3:GetObject",
    ("HEAD", "", True): "s3:GetObject",
    ("GET", "versionId", True): "s3:GetObjectVersion",
    ("HEAD", "versionId", True): "s3:GetObjectVersion",
    ("PUT", "", True): "s3:PutObject",
    ("DELETE", "", True): "s3:DeleteObject",
    ("DELETE", "versionId", True): "s3:DeleteObjectVersion",
    ("GET", "tagging", True): "s3:GetObjectTagging",
    ("PUT", "tagging", True): "s3:PutObjectTagging",
    ("GET", "acl", True): "s3:GetObjectAcl",
    ("POST", "uploads", True): "s3:PutObject",
    ("PUT", "uploadId", True): "s3:PutObject",
    ("POST", "uploadId", True): "s3:PutObject",
    ("DELETE", "uploadId", True): "s3:AbortMultipartUpload",
    ("GET", "uploadId", True): "s3:ListMultipartUploadParts",
}
#: Query parameters that only qualify a request, never name a sub-resource.
_S3_QUALIFIERS = frozenset(
    {"prefix", "delimiter", "max-keys", "marker", "encoding-type", "continuation-token",
     "fetch-owner", "start-after", "key-marker", "version-id-marker", "partNumber", "x-id"}
)  # fmt: skip


def _s3(call: Call, resource: str) -> list[Request]:
    query = parse_qs(urlparse(call.path).query, keep_blank_values=True)
    if resource in ("arn:aws:s3:::*", "*"):
        if call.method == "GET":
            return [Request("s3:ListAllMyBuckets", ("*",))]
        raise Untaught(f"S3 {call.method} {call.path}")
    on_object = "/" in resource.removeprefix("arn:aws:s3:::")
    if call.method == "POST" and "delete" in query and not on_object:
        keys = re.findall(r"<Key>(.*?)</Key>", call.text())
        versions = "<VersionId>" in call.text()
        actions = ["s3:DeleteObject"] + (["s3:DeleteObjectVersion"] if versions else [])
        return [Request(a, tuple(f"{resource}/{k}" for k in keys) or (resource,)) for a in actions]
    named = [q for q in query if q not in _S3_QUALIFIERS]
    sub = named[0] if named else ""
    if sub == "versionId" and len(named) > 1:
        sub = named[1]
    action = _S3_ACTIONS.get((call.method, sub, on_object))
    if action is None:
        raise Untaught(f"S3 {call.method} ?{sub} on {'an object' if on_object else 'a bucket'}")
    context: Context = {}
    if action == "s3:ListBucket":
        for key in ("prefix", "delimiter", "max-keys"):
            if key in query:
                context[f"s3:{key}"] = query[key][:1]
    return [Request(action, (resource,), context)]


# --- the table ------------------------------------------------------------------------------------

_STACK_CALLS = (
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
    "UpdateTerminationProtection",
    "ContinueUpdateRollback",
    "CancelUpdateStack",
    "RollbackStack",
    "SetStackPolicy",
    "GetStackPolicy",
)
_IAM_CALLS = (
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
    "ListInstanceProfilesForRole",
    "CreateUser",
    "DeleteUser",
    "GetUser",
    "PutUserPolicy",
    "GetUserPolicy",
    "DeleteUserPolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "ListAccessKeys",
    "CreateAccessKey",
    "DeleteAccessKey",
    "UpdateAccessKey",
    "ListUserPolicies",
    "ListAttachedUserPolicies",
    "ListGroupsForUser",
    "PutUserPermissionsBoundary",
    "DeleteUserPermissionsBoundary",
    "TagUser",
    "UntagUser",
    "CreatePolicy",
    "DeletePolicy",
    "GetPolicy",
    "GetPolicyVersion",
    "CreatePolicyVersion",
    "DeletePolicyVersion",
    "ListPolicyVersions",
    "SetDefaultPolicyVersion",
)


def _put_metric_data(call: Call) -> list[Request]:
    """moto names the action after CloudWatch's endpoint (monitoring:); IAM's is cloudwatch:,
    on no resource type, with the namespace as its condition key."""
    namespace = call.param("Namespace") or call.json().get("Namespace") or ""
    return [Request("cloudwatch:PutMetricData", ("*",), {"cloudwatch:namespace": [namespace]})]


#: service:Operation (moto's name) -> the authorizations it carries.
TAUGHT: Final[dict[str, Callable[[Call], list[Request]]]] = {
    **{f"cloudformation:{op}": _stack for op in _STACK_CALLS},
    "ec2:RunInstances": _run_instances,
    "ec2:TerminateInstances": _per_instance,
    "ec2:StopInstances": _per_instance,
    "ec2:StartInstances": _per_instance,
    "ec2:ModifyInstanceMetadataOptions": _ec2_single("instance", "InstanceId"),
    "ec2:RequestSpotFleet": _spot_fleet,
    "ec2:CancelSpotFleetRequests": _spot_fleet_ids,
    "ec2:DescribeSpotFleetInstances": _ec2_single("spot-fleet-request", "SpotFleetRequestId"),
    "ec2:DescribeSpotFleetRequestHistory": _ec2_single("spot-fleet-request", "SpotFleetRequestId"),
    "ec2:CreateSecurityGroup": _create_security_group,
    "ec2:DeleteSecurityGroup": _ec2_single("security-group", "GroupId"),
    "ec2:AuthorizeSecurityGroupIngress": _ec2_single("security-group", "GroupId"),
    "ec2:RevokeSecurityGroupIngress": _ec2_single("security-group", "GroupId"),
    "ec2:AuthorizeSecurityGroupEgress": _ec2_single("security-group", "GroupId"),
    "ec2:RevokeSecurityGroupEgress": _ec2_single("security-group", "GroupId"),
    "ec2:CreateKeyPair": _ec2_single("key-pair", "KeyName"),
    "ec2:ImportKeyPair": _ec2_single("key-pair", "KeyName"),
    "ec2:DeleteKeyPair": _ec2_single("key-pair", "KeyName"),
    "ec2:DeregisterImage": lambda call: [
        Request(call.action, (call.arn("ec2", f"image/{call.param('ImageId')}", account=False),))
    ],
    "ec2:DeleteSnapshot": _ec2_single("snapshot", "SnapshotId", account=False),
    "ec2:CreateTags": _create_tags,
    **{
        f"ssm:{op}": _ssm
        for op in ("GetParameter", "GetParameters", "PutParameter", "DeleteParameter")
    },
    **{f"events:{op}": _events for op in ("PutRule", "PutTargets", "DeleteRule", "RemoveTargets")},
    **{f"events:{op}": _events for op in ("DescribeRule", "ListTargetsByRule")},
    **{f"iam:{op}": _iam for op in _IAM_CALLS},
    "monitoring:PutMetricData": _put_metric_data,
}

#: Actions IAM authorizes on `*` only: the Service Authorization Reference lists no resource type
#: for them (test_iam_mapping checks it), so asking about `*` is what AWS does.
ON_ANY_RESOURCE: Final = frozenset(
    {
        "cloudformation:ListStacks",
        "cloudformation:ValidateTemplate",
        "cloudformation:DescribeAccountLimits",
        "cloudformation:ListExports",
        "ec2:DescribeAccountAttributes",
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceStatus",
        "ec2:DescribeKeyPairs",
        "ec2:DescribeRegions",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSecurityGroupRules",
        "ec2:DescribeSnapshots",
        "ec2:DescribeSpotFleetRequests",
        "ec2:DescribeSubnets",
        "ec2:DescribeTags",
        "ec2:DescribeVpcs",
        "ec2:DescribeInstanceTypes",
        "ec2:GetInstanceMetadataDefaults",
        "ec2:ModifyInstanceMetadataDefaults",
        "ec2:CreateDefaultVpc",
        "iam:ListRoles",
        "iam:ListUsers",
        "iam:ListPolicies",
        "iam:ListInstanceProfiles",
        "iam:ListOpenIDConnectProviders",
        "iam:GetAccountSummary",
        "iam:ListAccountAliases",
        "lambda:ListFunctions",
        "logs:DescribeLogGroups",
        "ssm:DescribeParameters",
        "events:ListRules",
        "sts:GetCallerIdentity",
        "pricing:GetProducts",
        "imagebuilder:ListImages",
    }
)


def requests_for(call: Call, moto_resource: str) -> list[Request]:
    """Every authorization the call needs; Untaught when the emulator does not know them."""
    if call.action in TAUGHT:
        return TAUGHT[call.action](call)
    if call.service == "s3":  # moto names the bucket or object ARN itself
        return _s3(call, moto_resource)
    if call.service == "lambda":
        return _lambda(call)
    if call.action in ON_ANY_RESOURCE:
        return [Request(call.action, ("*",))]
    raise Untaught(call.action)
