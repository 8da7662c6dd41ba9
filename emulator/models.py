"""Teach the local AWS emulator (moto 5.2.5) what annex-cdk's CloudFormation templates need.

annex-cdk deploys with boto3 CloudFormation. Without an AWS account that is moto's job, and moto's
CloudFormation engine has gaps that would make the emulator *lie* rather than fail: it skips
resource types it does not know while the stack still reaches CREATE_COMPLETE, a failed create
leaves the stack stuck in CREATE_IN_PROGRESS, a failed delete loses the stack altogether, inline
security-group rules are replaced instead of updated, and a modified log group turns into ``None``.
The product never branches for the emulator, so every gap is closed here, inside the emulator
process, by teaching moto. `install()` does it; it must run before the first stack is parsed.

How moto finds the class for a resource type: `moto.cloudformation.parsing.resource_class_from_type`
looks the type up in `get_model_map()`, an `lru_cache`d dict built from the *direct* subclasses of
`CloudFormationModel` (`cloudformation_type()` is the key; on a duplicate type the later class
wins). Relying on definition order to override moto's own classes would be fragile, so `install()`
wraps `get_model_map` with an explicit overlay (`_MODELS` wins), clears the three caches, and checks
that every type it registers resolves to its class.

What the overlay registers (`installed_models()`): classes of our own for types moto lacks
(`AWS::EC2::KeyPair`, `AWS::S3::BucketPolicy`, `AWS::EC2::SecurityGroupEgress`) or cannot update
and delete (`AWS::EC2::SecurityGroupIngress`, `AWS::Lambda::Permission`), and, for
`AWS::S3::Bucket`, `AWS::EC2::SecurityGroup`, `AWS::IAM::Role`/`InstanceProfile`,
`AWS::Lambda::Function` and `AWS::Logs::LogGroup`, subclasses of moto's classes whose
*classmethods* (create, update, delete) behave as AWS does. The objects in the service backends
stay moto's own, so every service API (describe_security_groups, get_bucket_policy, ...) keeps
answering from one source of truth. `AWS::IAM::Policy` is moto's own and behaves.

Engine behaviours taught (moto classes patched minimally, each patch says why):
- a failed create fails the stack as on AWS: CREATE_FAILED, then rollback of what was created and
  ROLLBACK_COMPLETE (or CREATE_FAILED with DisableRollback / OnFailure=DO_NOTHING, or deleted with
  OnFailure=DELETE); a resource the stack never created is never deleted;
- a failed delete leaves the stack in DELETE_FAILED (moto dropped it from the stack list);
- updates run in AWS's order (create and update in dependency order, delete removed and replaced
  resources last) and roll back to the previous template on failure (UPDATE_ROLLBACK_COMPLETE);
- "No updates are to be performed." when nothing changed, as AWS answers;
- resource-level stack events (CREATE_IN_PROGRESS ... DELETE_FAILED) with AWS-like reasons;
- DeletionPolicy Retain / RetainExceptOnCreate and UpdateReplacePolicy;
- a resource type the emulator cannot create fails the stack instead of being skipped silently;
- change sets: failures roll back, and a stack created by one has its Outputs.
Service behaviours taught: bucket-policy conditions (aws:SecureTransport is true: the emulator
stands in for AWS's HTTPS endpoints), and Lambda's LoggingConfig in GetFunction.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import json
import re
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import moto
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.utils import get_backend as lambda_backend
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.cloudformation.models import CloudFormationBackend, Event, Stack
from moto.cloudformation.parsing import ResourceMap
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import ServiceException
from moto.ec2.models import ec2_backends
from moto.ec2.models.security_groups import SecurityGroup, SecurityGroupRule
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.models import InstanceProfile, Role, iam_backends
from moto.logs.models import LogGroup, logs_backends
from moto.s3.exceptions import BucketNotEmpty, MissingBucket
from moto.s3.models import FakeBucket, s3_backends
from moto.ssm.models import ssm_backends
from moto.utilities.utils import get_partition

from annex_emulator import faults as emulator_faults
from annex_stacks.names import KEY_PAIR_SSM_PREFIX

__all__ = ["EmulatorResourceError", "install", "installed_models", "uninstall"]


class EmulatorResourceError(ServiceException):
    """A resource operation that fails; worded as AWS words it where AWS fails the same way."""

    code = "InvalidRequest"


# --- Context of the resource operation in progress ---------------------------------------------


@dataclass
class _Operation:
    stack: Stack | None
    logical_id: str


#: The stack and logical id a model's create/update runs for (models need it for stack tags).
_operation: ContextVar[_Operation | None] = ContextVar("annex_operation", default=None)
#: "delete" for stack deletes and update clean-up; "undo-create" when a rollback deletes what the
#: failed operation itself created (RetainExceptOnCreate resources are deleted only then).
_deletion_mode: ContextVar[str] = ContextVar("annex_deletion_mode", default="delete")
#: CreateStack's OnFailure (DisableRollback=true counts as DO_NOTHING); moto ignores both.
_on_failure: ContextVar[str] = ContextVar("annex_on_failure", default="ROLLBACK")


def _stack_of(resource_map: ResourceMap) -> Stack | None:
    return getattr(resource_map, "annex_stack", None)


def _is_resource(obj: Any) -> bool:
    """ResourceMap._parsed_resources also holds parameters, mappings and pseudo parameters."""
    return obj is not None and hasattr(obj, "logical_resource_id")


def _physical_id(resource: Any) -> str:
    try:
        return str(getattr(resource, "physical_resource_id", "") or "")
    except Exception:  # a half-built object: the event still matters more than its id
        return ""


def _error_code(exc: BaseException) -> str:
    # moto's newer errors carry `code` (str); the older _RESTError family `error_type`.
    for attr in ("error_type", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value:
            return value
    return ""


def _is_not_found(exc: BaseException) -> bool:
    """AWS's delete handlers treat an already-deleted resource as deleted; so do we."""
    code = _error_code(exc)
    return "NotFound" in code or code.startswith("NoSuch")


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    code = _error_code(exc)
    suffix = f" (ErrorCode: {code})" if code else ""
    return f'Resource handler returned message: "{message}"{suffix}'


def _mark_failed(exc: BaseException, logical_id: str) -> bool:
    """Remember the innermost resource that failed; False if an inner one was already marked."""
    if getattr(exc, "annex_failed_resource", None):
        return False
    with contextlib.suppress(AttributeError):
        exc.annex_failed_resource = logical_id  # type: ignore[attr-defined]
    return True


def _resource_event(
    stack: Stack | None,
    logical_id: str,
    resource_type: str,
    status: str,
    resource: Any = None,
    reason: str | None = None,
) -> None:
    """Record a resource event as AWS does (moto records stack-level events only)."""
    if stack is None:
        return
    event = Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=_physical_id(resource),
        resource_type=resource_type,
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )
    event.sendToSns(stack.account_id, stack.region_name, stack.notification_arns)
    stack.events.append(event)


def _stack_tags() -> dict[str, str]:
    """Stack-level tags plus the aws:cloudformation:* tags AWS puts on what a stack creates."""
    op = _operation.get()
    if op is None or op.stack is None:
        return {}
    stack = op.stack
    return {
        **stack.tags,
        "aws:cloudformation:stack-name": stack.name,
        "aws:cloudformation:stack-id": stack.stack_id,
        "aws:cloudformation:logical-id": op.logical_id,
    }


def _tags(properties: dict[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in properties.get("Tags") or []}


def _bool(value: Any) -> bool:
    # Template booleans arrive as JSON booleans or as the strings "true"/"false".
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _json_text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def _previous(resource: Any) -> dict[str, Any]:
    """The properties a resource was last created/updated with (stashed by our models)."""
    return getattr(resource, "annex_cfn_properties", None) or {}


def _stash(resource: Any, properties: dict[str, Any]) -> None:
    resource.annex_cfn_properties = copy.deepcopy(properties)


def _replace_custom_named(
    name_property: str, properties: dict[str, Any], previous: dict[str, Any]
) -> None:
    """AWS refuses to replace a resource whose explicit name stays the same (the names clash)."""
    name = properties.get(name_property)
    if name is not None and name == previous.get(name_property):
        raise EmulatorResourceError(
            "NotUpdatable",
            "CloudFormation cannot update a stack when a custom-named resource requires "
            f"replacing. Rename {name} and update the stack again.",
        )


# --- AWS::EC2::KeyPair (moto has none) ----------------------------------------------------------


class KeyPairResource(CloudFormationModel):
    """AWS::EC2::KeyPair: the key lives in the EC2 backend, its private key in SSM, as on AWS.

    EC2 stores the private key of a key pair created through CloudFormation as the SecureString
    parameter /ec2/keypair/<KeyPairId> in the same account and region (none for an imported
    PublicKeyMaterial). Ref is the key name; GetAtt offers KeyPairId and KeyFingerprint.
    """

    def __init__(
        self,
        *,
        account_id: str,
        region_name: str,
        key_name: str,
        key_pair_id: str,
        fingerprint: str,
        identity: tuple[str, str, str, str | None],
        parameter_name: str | None,
    ) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.key_name = key_name
        self.key_pair_id = key_pair_id
        self.key_fingerprint = fingerprint
        # (KeyName, KeyType, KeyFormat, PublicKeyMaterial): changing any of them replaces the key.
        self.identity = identity
        self.parameter_name = parameter_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "KeyName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::KeyPair"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("KeyPairId", "KeyFingerprint")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "KeyPairId":
            return self.key_pair_id
        if attribute_name == "KeyFingerprint":
            return self.key_fingerprint
        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.key_name

    @staticmethod
    def _identity(
        resource_name: str, properties: dict[str, Any]
    ) -> tuple[str, str, str, str | None]:
        return (
            properties.get("KeyName") or resource_name,
            properties.get("KeyType") or "rsa",
            properties.get("KeyFormat") or "pem",
            properties.get("PublicKeyMaterial"),
        )

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> KeyPairResource:
        properties = cloudformation_json.get("Properties") or {}
        identity = cls._identity(resource_name, properties)
        key_name, key_type, key_format, public_key = identity
        if key_type not in ("rsa", "ed25519"):
            raise EmulatorResourceError(
                "InvalidParameterValue", f"Invalid KeyType {key_type!r}: use rsa or ed25519."
            )
        if key_format != "pem":
            # moto only generates PEM/OpenSSH material; better to fail than to hand out a
            # private key in a format the template did not ask for.
            raise EmulatorResourceError(
                "InvalidParameterValue", f"The annex-cdk emulator cannot create {key_format} keys."
            )
        ec2 = ec2_backends[account_id][region_name]
        # Fails with InvalidKeyPair.Duplicate when the name is taken, as EC2 does.
        if public_key:
            key = ec2.import_key_pair(key_name, public_key.encode(), tags={})
        else:
            key = ec2.create_key_pair(key_name, key_type, tags={})
        parameter_name = None
        try:
            ec2.create_tags([key.id], {**_stack_tags(), **_tags(properties)})
            if key.material:
                parameter_name = f"{KEY_PAIR_SSM_PREFIX}{key.id}"
                ssm_backends[account_id][region_name].put_parameter(
                    name=parameter_name,
                    description=None,
                    value=key.key_material,
                    parameter_type="SecureString",
                    allowed_pattern=None,
                    keyid=None,  # EC2 uses the aws/ssm key; there is no choice
                    overwrite=False,
                    tags=[],
                    data_type="text",
                    tier=None,
                    policies=None,
                )
        except Exception:
            # Undo our own half-made key, never anything else.
            ec2.delete_key_pair(key_name)
            ec2.tags.pop(key.id, None)
            raise
        resource = cls(
            account_id=account_id,
            region_name=region_name,
            key_name=key_name,
            key_pair_id=key.id,
            fingerprint=key.key_fingerprint,
            identity=identity,
            parameter_name=parameter_name,
        )
        _stash(resource, properties)
        return resource

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: KeyPairResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> KeyPairResource:
        properties = cloudformation_json.get("Properties") or {}
        identity = cls._identity(new_resource_name, properties)
        if identity != original_resource.identity:
            # KeyName is required, so a replacement that keeps the name is refused as on AWS.
            _replace_custom_named("KeyName", properties, _previous(original_resource))
            # The engine deletes the old key (and its parameter) once the update succeeded.
            return cls.create_from_cloudformation_json(
                identity[0], cloudformation_json, account_id, region_name
            )
        ec2 = ec2_backends[account_id][region_name]
        wanted = _tags(properties)
        stale = set(_tags(_previous(original_resource))) - set(wanted)
        if stale:
            ec2.delete_tags([original_resource.key_pair_id], dict.fromkeys(stale))
        if wanted:
            ec2.create_tags([original_resource.key_pair_id], wanted)
        _stash(original_resource, properties)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        # Only reached if delete() below cannot run. Knowing just the name, we cannot tell our
        # key from a same-named key the stack never created, so we delete nothing.
        return None

    def delete(self, account_id: str, region_name: str) -> None:
        ec2 = ec2_backends[account_id][region_name]
        current = ec2.key_pairs.get(self.key_name)
        # Delete by identity, not by name: a rollback must never take a key pair that exists
        # under the same name but was not created by this resource.
        if current is not None and current.id == self.key_pair_id:
            ec2.delete_key_pair(self.key_name)
            ec2.tags.pop(self.key_pair_id, None)
        if self.parameter_name:
            ssm = ssm_backends[account_id][region_name]
            with contextlib.suppress(Exception):
                ssm.delete_parameter(self.parameter_name)


# --- AWS::S3::Bucket and AWS::S3::BucketPolicy ------------------------------------------------


def _s3(account_id: str, region_name: str) -> Any:
    return s3_backends[account_id][get_partition(region_name)]


#: What S3 applies to every new bucket since 2023 (SSE-S3, all public access blocked, ACLs off).
_DEFAULT_ENCRYPTION: dict[str, Any] = {
    "Rule": {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
        "BucketKeyEnabled": False,
    }
}
_PUBLIC_ACCESS_BLOCK_KEYS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
_DEFAULT_OWNERSHIP = "BucketOwnerEnforced"


def _encryption(bucket_encryption: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's BucketEncryption in the shape moto's S3 backend stores (one rule)."""
    rule = bucket_encryption["ServerSideEncryptionConfiguration"][0]
    default = rule.get("ServerSideEncryptionByDefault") or {}
    apply = {"SSEAlgorithm": default.get("SSEAlgorithm", "AES256")}
    if default.get("KMSMasterKeyID"):
        apply["KMSMasterKeyID"] = default["KMSMasterKeyID"]
    return {
        "Rule": {
            "ApplyServerSideEncryptionByDefault": apply,
            "BucketKeyEnabled": _bool(rule.get("BucketKeyEnabled", False)),
        }
    }


def _apply_bucket_properties(
    backend: Any, bucket: FakeBucket, properties: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    """Make the S3 backend's bucket match the template, as CloudFormation's handler does.

    `previous` is None on create. A property removed in an update is undone the way AWS undoes
    it (encryption falls back to S3's default, a removed public access block is deleted).
    """
    name = bucket.name
    creating = previous is None
    before = previous or {}

    encryption = properties.get("BucketEncryption")
    if encryption:
        backend.put_bucket_encryption(name, _encryption(encryption))
    elif creating or before.get("BucketEncryption"):
        backend.put_bucket_encryption(name, copy.deepcopy(_DEFAULT_ENCRYPTION))

    block = properties.get("PublicAccessBlockConfiguration")
    if block is not None:
        backend.put_public_access_block(
            name, {key: _bool(block.get(key, False)) for key in _PUBLIC_ACCESS_BLOCK_KEYS}
        )
    elif creating:
        backend.put_public_access_block(name, dict.fromkeys(_PUBLIC_ACCESS_BLOCK_KEYS, True))
    elif "PublicAccessBlockConfiguration" in before:
        backend.delete_public_access_block(name)

    ownership = properties.get("OwnershipControls")
    if ownership:
        backend.put_bucket_ownership_controls(
            name, ownership=ownership["Rules"][0]["ObjectOwnership"]
        )
    elif creating:
        backend.put_bucket_ownership_controls(name, ownership=_DEFAULT_OWNERSHIP)
    elif before.get("OwnershipControls"):
        backend.delete_bucket_ownership_controls(name)

    versioning = properties.get("VersioningConfiguration")
    if versioning:
        backend.put_bucket_versioning(name, versioning["Status"])
    elif before.get("VersioningConfiguration") and bucket.versioning_status:
        backend.put_bucket_versioning(name, "Suspended")  # a bucket cannot become unversioned

    # S3 keeps one tag set: the stack's tags (with aws:cloudformation:*) plus the template's.
    tags = {**_stack_tags(), **_tags(properties)}
    if tags:
        backend.put_bucket_tagging(name, tags)
    elif before.get("Tags"):
        backend.delete_bucket_tagging(name)
    _stash(bucket, properties)


class BucketResource(FakeBucket):
    """AWS::S3::Bucket with the properties annex-cdk sets, applied to the real S3 backend.

    Only the classmethods are used: the buckets in the S3 backend stay moto's FakeBucket. moto's
    own handler applies only BucketEncryption and Tags, ignores the rest, deletes a non-empty
    bucket "successfully" (its backend silently keeps it), and its in-place update needs an
    explicit BucketName.
    """

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> FakeBucket:
        backend = _s3(account_id, region_name)
        properties = cloudformation_json.get("Properties") or {}
        bucket = backend.create_bucket(resource_name, region_name)
        try:
            _apply_bucket_properties(backend, bucket, properties, previous=None)
        except Exception:
            backend.delete_bucket(resource_name)
            raise
        return bucket

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: FakeBucket,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> FakeBucket:
        properties = cloudformation_json.get("Properties") or {}
        previous = _previous(original_resource)
        if properties.get("BucketName") != previous.get("BucketName"):
            # BucketName change: replacement. The engine deletes the old bucket afterwards,
            # honouring UpdateReplacePolicy (and failing that delete if it is not empty).
            return cls.create_from_cloudformation_json(
                properties.get("BucketName") or new_resource_name,
                cloudformation_json,
                account_id,
                region_name,
            )
        backend = _s3(account_id, region_name)
        _apply_bucket_properties(backend, original_resource, properties, previous)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        backend = _s3(account_id, region_name)
        try:
            bucket = backend.get_bucket(resource_name)
        except MissingBucket:
            return
        if bucket.keys:
            # AWS: DELETE_FAILED, "The bucket you tried to delete is not empty" (object versions
            # and delete markers count too). moto's backend would just keep the bucket.
            raise BucketNotEmpty(resource_name)
        backend.delete_bucket(resource_name)


class BucketPolicyResource(CloudFormationModel):
    """AWS::S3::BucketPolicy (moto has none): the policy is put on the S3 backend's bucket."""

    def __init__(self, account_id: str, region_name: str, bucket_name: str) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.bucket_name = bucket_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @property
    def physical_resource_id(self) -> str:
        return self.bucket_name  # the resource's primary identifier on AWS is its Bucket

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> BucketPolicyResource:
        properties = cloudformation_json.get("Properties") or {}
        bucket_name = properties["Bucket"]
        document = _json_text(properties["PolicyDocument"])
        # get_bucket raises NoSuchBucket as S3 does for a missing bucket.
        _s3(account_id, region_name).get_bucket(bucket_name)
        _s3(account_id, region_name).put_bucket_policy(bucket_name, document.encode())
        return cls(account_id, region_name, bucket_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: BucketPolicyResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> BucketPolicyResource:
        properties = cloudformation_json.get("Properties") or {}
        if properties.get("Bucket") != original_resource.bucket_name:
            # Another bucket: replacement; the old policy goes in the update's clean-up.
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        document = _json_text(properties["PolicyDocument"])
        _s3(account_id, region_name).put_bucket_policy(
            original_resource.bucket_name, document.encode()
        )
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        cls(account_id, region_name, resource_name).delete(account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        with contextlib.suppress(MissingBucket):
            _s3(account_id, region_name).delete_bucket_policy(self.bucket_name)


#: The request context the emulator evaluates bucket-policy conditions against. Clients talk to
#: it over plain HTTP on loopback, but it stands in for AWS's HTTPS endpoints.
_REQUEST_CONTEXT = {"aws:securetransport": "true"}


def _condition_applies(condition: dict[str, Any]) -> bool:
    """Evaluate the Bool/BoolIfExists conditions the emulator has context for.

    A condition it has no context for makes the statement not apply: the emulator knows nothing
    about the caller beyond "came in over TLS" and must not invent denials (moto's own check
    treats an operator it does not know, such as Bool, as satisfied, so CDK's enforce-SSL
    statement denied every object request).
    """
    for operator, clauses in condition.items():
        if operator not in ("Bool", "BoolIfExists") or not isinstance(clauses, dict):
            return False
        for key, expected in clauses.items():
            actual = _REQUEST_CONTEXT.get(key.lower())
            if actual is None:
                return False
            values = expected if isinstance(expected, list) else [expected]
            if actual not in [str(v).lower() for v in values]:
                return False
    return True


def _bucket_get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    """Replacement for FakeBucket.get_permission that evaluates conditions (see above)."""
    if self.policy is None:
        return PermissionResult.NEUTRAL
    try:
        document = json.loads(self.policy)
    except ValueError:
        return _ORIGINALS["FakeBucket.get_permission"](self, action, resource)
    statements = document.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    applicable = []
    for statement in statements:
        condition = statement.get("Condition")
        if condition:
            if not _condition_applies(condition):
                continue
            statement = {k: v for k, v in statement.items() if k != "Condition"}
        applicable.append(statement)
    if not applicable:
        return PermissionResult.NEUTRAL
    policy = {"Version": document.get("Version", "2012-10-17"), "Statement": applicable}
    return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)


# --- AWS::EC2::SecurityGroup: rules and tags update in place ----------------------------------

_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp"}
_PROTOCOLS.update({"-1": "-1", "all": "-1", "icmpv6": "icmpv6", "58": "icmpv6"})


@dataclass(frozen=True)
class _Rule:
    """One security-group permission; `key` identifies it, the description is mutable."""

    protocol: str
    from_port: int | None
    to_port: int | None
    target_kind: str  # CidrIp | CidrIpv6 | GroupId | GroupName | PrefixListId
    target: str
    description: str | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.protocol, self.from_port, self.to_port, self.target_kind, self.target)


def _protocol(value: Any) -> str:
    text = str(value).lower()
    return _PROTOCOLS.get(text, text)


def _rule_from_template(rule: dict[str, Any], egress: bool) -> _Rule:
    protocol = _protocol(rule["IpProtocol"])
    if protocol == "-1":
        from_port = to_port = None
    elif protocol in ("tcp", "udp") and ("FromPort" not in rule or "ToPort" not in rule):
        raise EmulatorResourceError(
            "InvalidParameterValue",
            "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.",
        )
    else:
        from_port, to_port = int(rule.get("FromPort", -1)), int(rule.get("ToPort", -1))
    peer = "Destination" if egress else "Source"
    targets = [
        (kind, rule[prop])
        for kind, prop in (
            ("CidrIp", "CidrIp"),
            ("CidrIpv6", "CidrIpv6"),
            ("GroupId", f"{peer}SecurityGroupId"),
            ("GroupName", "SourceSecurityGroupName"),
            ("PrefixListId", f"{peer}PrefixListId"),
        )
        if rule.get(prop)
    ]
    if len(targets) != 1:
        raise EmulatorResourceError(
            "InvalidParameterValue",
            "A security group rule needs exactly one of CidrIp, CidrIpv6, a security group "
            "or a prefix list.",
        )
    kind, target = targets[0]
    return _Rule(protocol, from_port, to_port, kind, str(target), rule.get("Description"))


def _rule_from_backend(rule: SecurityGroupRule) -> _Rule:
    protocol = _protocol(rule.ip_protocol)
    ports = (None, None) if protocol == "-1" else (rule.from_port, rule.to_port)
    if rule.ip_range.get("CidrIp"):
        kind, target, description = "CidrIp", rule.ip_range["CidrIp"], rule.ip_range
    elif rule.ip_range.get("CidrIpv6"):
        kind, target, description = "CidrIpv6", rule.ip_range["CidrIpv6"], rule.ip_range
    elif rule.source_group:
        group = rule.source_group
        kind = "GroupId" if group.get("GroupId") else "GroupName"
        target, description = group.get("GroupId") or group.get("GroupName", ""), group
    else:
        kind, target, description = "PrefixListId", rule.prefix_list_id or "", {}
    return _Rule(protocol, *ports, kind, str(target), description.get("Description"))


def _default_egress(ec2: Any, group: SecurityGroup) -> list[_Rule]:
    """What EC2 puts on a new VPC group, and what CloudFormation restores without egress rules."""
    rules = [_Rule("-1", None, None, "CidrIp", "0.0.0.0/0")]
    vpc = ec2.vpcs.get(group.vpc_id) if group.vpc_id else None
    if vpc is not None and vpc.get_cidr_block_association_set(ipv6=True):
        rules.append(_Rule("-1", None, None, "CidrIpv6", "::/0"))
    return rules


def _unique(rules: list[_Rule]) -> dict[tuple[Any, ...], _Rule]:
    by_key: dict[tuple[Any, ...], _Rule] = {}
    for rule in rules:
        if rule.key in by_key:
            raise EmulatorResourceError(
                "InvalidPermission.Duplicate",
                "the specified rule is specified more than once in the same request",
            )
        by_key[rule.key] = rule
    return by_key


def _backend_rules(group: SecurityGroup, egress: bool) -> dict[tuple[Any, ...], SecurityGroupRule]:
    return {
        _rule_from_backend(r).key: r
        for r in (group.egress_rules if egress else group.ingress_rules)
    }


def _authorize(ec2: Any, group: SecurityGroup, rule: _Rule, egress: bool) -> SecurityGroupRule:
    peer: dict[str, Any] = {rule.target_kind: rule.target}
    if rule.description is not None:
        peer["Description"] = rule.description
    authorize = (
        ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    )
    added, _ = authorize(
        group.id,
        rule.protocol,
        rule.from_port,
        rule.to_port,
        [peer] if rule.target_kind.startswith("Cidr") else [],
        source_groups=[peer] if rule.target_kind.startswith("Group") else [],
        prefix_list_ids=[peer] if rule.target_kind == "PrefixListId" else [],
    )
    return added[0]


def _revoke(ec2: Any, group: SecurityGroup, rule_ids: list[str], egress: bool) -> None:
    if rule_ids:
        revoke = ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
        revoke(group.id, None, None, None, [], security_rule_ids=rule_ids)


def _describe(existing: SecurityGroupRule, rule: _Rule) -> None:
    """Rule descriptions change in place (EC2's UpdateSecurityGroupRuleDescriptions*)."""
    holder = existing.source_group if rule.target_kind.startswith("Group") else existing.ip_range
    if rule.description is None:
        holder.pop("Description", None)
    else:
        holder["Description"] = rule.description


def _sync_rules(
    ec2: Any, group: SecurityGroup, wanted: list[_Rule], before: list[_Rule], egress: bool
) -> None:
    """Apply the difference between the previous and the new inline rules, as CloudFormation
    does: revoke what the template dropped, authorize what it added, re-describe the rest.
    Rules the template never listed (standalone SecurityGroupIngress resources) stay."""
    desired = _unique(wanted)
    current = _backend_rules(group, egress)
    dropped = {r.key for r in before} - set(desired)
    _revoke(ec2, group, [current[k].id for k in dropped if k in current], egress)
    for key, rule in desired.items():
        if key in current:
            _describe(current[key], rule)
        else:
            _authorize(ec2, group, rule, egress)


def _by_group_id(ec2: Any, group: SecurityGroup, rule: _Rule) -> _Rule:
    """EC2 stores a rule naming a source group by its id; compare it that way too."""
    if rule.target_kind != "GroupName":
        return rule
    peer = ec2.get_security_group_by_name_or_id(rule.target, group.vpc_id)
    if peer is None:
        raise EmulatorResourceError(
            "InvalidGroup.NotFound", f"The security group '{rule.target}' does not exist"
        )
    return dataclasses.replace(rule, target_kind="GroupId", target=peer.id)


def _inline_rules(
    ec2: Any, group: SecurityGroup, properties: dict[str, Any]
) -> tuple[list[_Rule], list[_Rule]]:
    """A template's inline (ingress, egress); without egress rules EC2's default egress stays."""
    ingress = [
        _by_group_id(ec2, group, _rule_from_template(r, egress=False))
        for r in properties.get("SecurityGroupIngress") or []
    ]
    if properties.get("SecurityGroupEgress"):
        egress = [_rule_from_template(r, egress=True) for r in properties["SecurityGroupEgress"]]
    else:
        egress = _default_egress(ec2, group)
    return ingress, egress


def _sync_security_group(
    ec2: Any, group: SecurityGroup, properties: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    ingress, egress = _inline_rules(ec2, group, properties)
    if previous is None:  # a new group holds just EC2's default egress
        before_in, before_out = [], [_rule_from_backend(r) for r in group.egress_rules]
    else:
        before_in, before_out = _inline_rules(ec2, group, previous)
    _sync_rules(ec2, group, ingress, before_in, egress=False)
    _sync_rules(ec2, group, egress, before_out, egress=True)
    wanted = _tags(properties)
    stale = set(_tags(previous or {})) - set(wanted)
    if stale:
        ec2.delete_tags([group.id], dict.fromkeys(stale))
    tags = {**_stack_tags(), **wanted} if previous is None else wanted
    if tags:
        ec2.create_tags([group.id], tags)
    _stash(group, properties)


class SecurityGroupResource(SecurityGroup):
    """AWS::EC2::SecurityGroup that updates in place as on AWS.

    moto replaces the group on any change (new GroupId), ignores SecurityGroupEgress, CidrIpv6
    and rule descriptions. AWS replaces only on GroupName/GroupDescription/VpcId changes and
    otherwise revokes/authorizes the rule difference on the same group.
    """

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SecurityGroup:
        properties = cloudformation_json.get("Properties") or {}
        ec2 = ec2_backends[account_id][region_name]
        group = ec2.create_security_group(
            name=resource_name,
            description=properties.get("GroupDescription"),
            vpc_id=properties.get("VpcId"),
        )
        try:
            _sync_security_group(ec2, group, properties, previous=None)
        except Exception:
            ec2.delete_security_group(group_id=group.id)
            raise
        return group

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: SecurityGroup,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> SecurityGroup:
        properties = cloudformation_json.get("Properties") or {}
        previous = _previous(original_resource)
        if any(
            properties.get(k) != previous.get(k) for k in ("GroupName", "GroupDescription", "VpcId")
        ):
            _replace_custom_named("GroupName", properties, previous)
            # New group first; the engine deletes the old one once the update succeeded.
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        ec2 = ec2_backends[account_id][region_name]
        _sync_security_group(ec2, original_resource, properties, previous)
        return original_resource


class SecurityGroupIngressResource(CloudFormationModel):
    """AWS::EC2::SecurityGroupIngress (and, subclassed, -Egress): one rule, its id the physical id.

    moto's SecurityGroupIngress can only be created (an update silently did nothing, a delete
    left the rule behind) and moto has no SecurityGroupEgress at all. On AWS a Description change
    is in place and any other change replaces the rule.
    """

    egress = False

    def __init__(self, account_id: str, region_name: str, group_id: str, rule_id: str) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.group_id = group_id
        self.rule_id = rule_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::SecurityGroupIngress"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Id":
            return self.rule_id
        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.rule_id

    @classmethod
    def _group_and_rule(cls, ec2: Any, properties: dict[str, Any]) -> tuple[SecurityGroup, _Rule]:
        group_ref = properties.get("GroupId") or properties.get("GroupName")
        group = ec2.get_security_group_by_name_or_id(group_ref) if group_ref else None
        if group is None:
            raise EmulatorResourceError(
                "InvalidGroup.NotFound", f"The security group '{group_ref}' does not exist"
            )
        return group, _by_group_id(ec2, group, _rule_from_template(properties, cls.egress))

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SecurityGroupIngressResource:
        properties = cloudformation_json.get("Properties") or {}
        ec2 = ec2_backends[account_id][region_name]
        group, rule = cls._group_and_rule(ec2, properties)
        added = _authorize(ec2, group, rule, cls.egress)
        resource = cls(account_id, region_name, group.id, added.id)
        _stash(resource, properties)
        return resource

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: SecurityGroupIngressResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> SecurityGroupIngressResource:
        properties = cloudformation_json.get("Properties") or {}
        ec2 = ec2_backends[account_id][region_name]
        group, rule = cls._group_and_rule(ec2, properties)
        existing = group.get_rule(original_resource.rule_id)
        if (
            group.id == original_resource.group_id
            and existing is not None
            and _rule_from_backend(existing).key == rule.key
        ):
            _describe(existing, rule)
            _stash(original_resource, properties)
            return original_resource
        # Replacement; the engine revokes the old rule once the update succeeded.
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        return None  # only reached if delete() cannot run; the rule id is all we would know

    def delete(self, account_id: str, region_name: str) -> None:
        ec2 = ec2_backends[account_id][region_name]
        group = ec2.get_security_group_from_id(self.group_id)
        if group is not None and group.get_rule(self.rule_id) is not None:
            _revoke(ec2, group, [self.rule_id], self.egress)


class SecurityGroupEgressResource(SecurityGroupIngressResource):
    """AWS::EC2::SecurityGroupEgress: as SecurityGroupIngressResource, outbound."""

    egress = True

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::SecurityGroupEgress"


# --- IAM: Role and InstanceProfile update in place ---------------------------------------------


def _iam(account_id: str, region_name: str) -> Any:
    return iam_backends[account_id][get_partition(region_name)]


class RoleResource(Role):
    """AWS::IAM::Role: moto's create ignores ManagedPolicyArns and stores inline policies as
    dicts; its update only touches the description. AWS updates policies, trust policy,
    managed policies and tags in place and replaces only on RoleName/Path changes."""

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Role:
        properties = cloudformation_json.get("Properties") or {}
        iam = _iam(account_id, region_name)
        role = iam.create_role(
            role_name=properties.get("RoleName") or resource_name,
            assume_role_policy_document=_json_text(properties["AssumeRolePolicyDocument"]),
            path=properties.get("Path", "/"),
            permissions_boundary=properties.get("PermissionsBoundary", ""),
            description=properties.get("Description", ""),
            tags=properties.get("Tags") or [],
            max_session_duration=properties.get("MaxSessionDuration", 3600),
        )
        try:
            cls._sync(iam, role, properties, {})
        except Exception:
            cls.delete_from_cloudformation_json(role.name, {}, account_id, region_name)
            raise
        return role

    @staticmethod
    def _sync(iam: Any, role: Role, properties: dict[str, Any], previous: dict[str, Any]) -> None:
        wanted = {
            p["PolicyName"]: _json_text(p["PolicyDocument"])
            for p in properties.get("Policies") or []
        }
        for policy in previous.get("Policies") or []:
            if policy["PolicyName"] not in wanted:
                with contextlib.suppress(Exception):
                    iam.delete_role_policy(role.name, policy["PolicyName"])
        for policy_name, document in wanted.items():
            iam.put_role_policy(role.name, policy_name, document)
        arns = list(properties.get("ManagedPolicyArns") or [])
        for arn in previous.get("ManagedPolicyArns") or []:
            if arn not in arns and arn in role.managed_policies:
                iam.detach_role_policy(arn, role.name)
        for arn in arns:
            if arn not in role.managed_policies:
                iam.attach_role_policy(arn, role.name)
        _stash(role, properties)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: Role,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Role:
        properties = cloudformation_json.get("Properties") or {}
        previous = _previous(original_resource)
        if properties.get("RoleName") != previous.get("RoleName") or properties.get(
            "Path", "/"
        ) != previous.get("Path", "/"):
            _replace_custom_named("RoleName", properties, previous)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        iam = _iam(account_id, region_name)
        role = original_resource
        iam.update_assume_role_policy(role.name, _json_text(properties["AssumeRolePolicyDocument"]))
        role.description = properties.get("Description", "")
        role.max_session_duration = properties.get("MaxSessionDuration", 3600)
        if properties.get("PermissionsBoundary"):
            iam.put_role_permissions_boundary(role.name, properties["PermissionsBoundary"])
        elif previous.get("PermissionsBoundary"):
            iam.delete_role_permissions_boundary(role.name)
        wanted = _tags(properties)
        stale = [k for k in _tags(previous) if k not in wanted]
        if stale:
            iam.untag_role(role.name, stale)
        if wanted:
            iam.tag_role(role.name, properties["Tags"])
        cls._sync(iam, role, properties, previous)
        return role

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        iam = _iam(account_id, region_name)
        role = next((r for r in iam.get_roles() if r.name == resource_name), None)
        if role is None:
            return
        # moto's delete refuses a role with attached managed policies; detach them first as
        # CloudFormation's handler does.
        for arn in list(role.managed_policies):
            iam.detach_role_policy(arn, resource_name)
        super().delete_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name
        )


class InstanceProfileResource(InstanceProfile):
    """AWS::IAM::InstanceProfile: moto cannot update one at all (the stack breaks). AWS swaps
    Roles in place and replaces only on InstanceProfileName/Path changes."""

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> InstanceProfile:
        profile = super().create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        _stash(profile, cloudformation_json.get("Properties") or {})
        return profile

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: InstanceProfile,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> InstanceProfile:
        properties = cloudformation_json.get("Properties") or {}
        previous = _previous(original_resource)
        if properties.get("InstanceProfileName") != previous.get(
            "InstanceProfileName"
        ) or properties.get("Path", "/") != previous.get("Path", "/"):
            _replace_custom_named("InstanceProfileName", properties, previous)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        iam = _iam(account_id, region_name)
        profile = original_resource
        wanted = list(properties.get("Roles") or [])
        for role in list(profile.roles):
            if role.name not in wanted:
                iam.remove_role_from_instance_profile(profile.name, role.name)
        for role_name in wanted:
            if role_name not in [r.name for r in profile.roles]:
                iam.add_role_to_instance_profile(profile.name, role_name)
        _stash(profile, properties)
        return profile


# --- AWS::Lambda::Function, AWS::Lambda::Permission --------------------------------------------

#: Template properties passed through to moto's create_function spec (same names there).
_LAMBDA_SPEC_PROPERTIES = (
    "Description",
    "MemorySize",
    "Timeout",
    "VpcConfig",
    "Environment",
    "ReservedConcurrentExecutions",
    "Architectures",
    "EphemeralStorage",
    "TracingConfig",
    "Layers",
    "PackageType",
    "ImageConfig",
    "LoggingConfig",
)


def _lambda_code(code: dict[str, Any]) -> dict[str, Any]:
    """Inline ZipFile source becomes a base64 zip (index.py plus cfnresponse.py), as on AWS."""
    result = dict(code)
    if isinstance(result.get("ZipFile"), str):
        archive = LambdaFunction._create_zipfile_from_plaintext_code(result["ZipFile"])
        result["ZipFile"] = base64.b64encode(archive)
    return result


class LambdaFunctionResource(LambdaFunction):
    """AWS::Lambda::Function: moto's handler drops Tags, Architectures, LoggingConfig & co., and
    its update crashes on inline ZipFile code ("Incorrect padding"), breaking the stack."""

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LambdaFunction:
        properties = cloudformation_json.get("Properties") or {}
        spec: dict[str, Any] = {
            "FunctionName": resource_name,
            "Code": _lambda_code(properties["Code"]),
            "Handler": properties.get("Handler"),
            "Role": properties["Role"],
            "Runtime": properties.get("Runtime"),
            "Tags": {**_stack_tags(), **_tags(properties)},
        }
        spec.update({k: properties[k] for k in _LAMBDA_SPEC_PROPERTIES if k in properties})
        if "KmsKeyArn" in properties:
            spec["KMSKeyArn"] = properties["KmsKeyArn"]
        function = lambda_backend(account_id, region_name).create_function(spec)
        _stash(function, properties)
        return function

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: LambdaFunction,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LambdaFunction:
        properties = cloudformation_json.get("Properties") or {}
        previous = _previous(original_resource)
        if properties.get("FunctionName") != previous.get("FunctionName"):
            _replace_custom_named("FunctionName", properties, previous)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        function = original_resource
        # A property removed from the template returns to Lambda's default, as on AWS.
        config: dict[str, Any] = {
            "Description": properties.get("Description", ""),
            "Handler": properties.get("Handler"),
            "MemorySize": properties.get("MemorySize", 128),
            "Role": properties["Role"],
            "Runtime": properties.get("Runtime"),
            "Timeout": properties.get("Timeout", 3),
            "Environment": properties.get("Environment") or {"Variables": {}},
            "Layers": properties.get("Layers") or [],
            "LoggingConfig": properties.get("LoggingConfig"),
        }
        if "VpcConfig" in properties or "VpcConfig" in previous:
            config["VpcConfig"] = properties.get("VpcConfig")
        function.update_configuration(config)
        function.architectures = properties.get("Architectures") or ["x86_64"]
        function.ephemeral_storage = (properties.get("EphemeralStorage") or {}).get("Size", 512)
        function.tracing_config = properties.get("TracingConfig") or {"Mode": "PassThrough"}
        function.reserved_concurrency = properties.get("ReservedConcurrentExecutions")
        if properties["Code"] != previous.get("Code"):
            function.update_function_code(_lambda_code(properties["Code"]))
        wanted = _tags(properties)
        for key in set(_tags(previous)) - set(wanted):
            function.tags.pop(key, None)
        function.tags.update(wanted)
        _stash(function, properties)
        return function


def _lambda_create_function(self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
    """moto ignores LoggingConfig; keep it so GetFunction answers with it as AWS does."""
    function = _ORIGINALS["LambdaBackend.create_function"](self, spec)
    function.annex_logging_config = spec.get("LoggingConfig")
    return function


def _lambda_update_configuration(
    self: LambdaFunction, config_updates: dict[str, Any]
) -> dict[str, Any]:
    if "LoggingConfig" in config_updates:
        self.annex_logging_config = config_updates["LoggingConfig"]
    return _ORIGINALS["LambdaFunction.update_configuration"](self, config_updates)


def _lambda_get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
    config = _ORIGINALS["LambdaFunction.get_configuration"](self, on_create)
    # AWS always reports a LoggingConfig: Text format and /aws/lambda/<name> unless configured.
    logging_config = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{self.function_name}"}
    logging_config.update(getattr(self, "annex_logging_config", None) or {})
    if logging_config["LogFormat"] == "JSON":
        logging_config.setdefault("ApplicationLogLevel", "INFO")
        logging_config.setdefault("SystemLogLevel", "INFO")
    config["LoggingConfig"] = logging_config
    return config


class LambdaPermissionResource(CloudFormationModel):
    """AWS::Lambda::Permission: moto's adds the statement but can neither delete nor update it
    (an update breaks the stack). The statement id is the physical id, as on AWS; every
    property change replaces the permission."""

    def __init__(
        self, account_id: str, region_name: str, function_name: str, statement_id: str
    ) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.function_name = function_name
        self.statement_id = statement_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Permission"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @property
    def physical_resource_id(self) -> str:
        return self.statement_id

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LambdaPermissionResource:
        properties = dict(cloudformation_json.get("Properties") or {})
        function = lambda_backend(account_id, region_name).get_function(
            properties.pop("FunctionName")
        )
        statement = {**properties, "StatementId": resource_name}
        function.policy.add_statement(json.dumps(statement))
        return cls(account_id, region_name, function.function_name, resource_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: LambdaPermissionResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LambdaPermissionResource:
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        return None  # only reached if delete() cannot run; the function is unknown here

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            function = lambda_backend(account_id, region_name).get_function(self.function_name)
            function.policy.del_statement(self.statement_id)
        except Exception as exc:
            if not _is_not_found(exc):
                raise


# --- AWS::Logs::LogGroup ------------------------------------------------------------------------


class LogGroupResource(LogGroup):
    """AWS::Logs::LogGroup: moto has no update (the resource becomes None and the stack breaks)
    and drops KmsKeyId. AWS changes retention, key and tags in place; a new name or class
    replaces the group."""

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LogGroup:
        properties = cloudformation_json.get("Properties") or {}
        group = logs_backends[account_id][region_name].create_log_group(
            resource_name,
            {**_stack_tags(), **_tags(properties)},
            RetentionInDays=properties.get("RetentionInDays"),
            kmsKeyId=properties.get("KmsKeyId"),
        )
        _stash(group, properties)
        return group

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: LogGroup,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LogGroup:
        properties = cloudformation_json.get("Properties") or {}
        previous = _previous(original_resource)
        if any(properties.get(k) != previous.get(k) for k in ("LogGroupName", "LogGroupClass")):
            _replace_custom_named("LogGroupName", properties, previous)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        logs = logs_backends[account_id][region_name]
        group = original_resource
        if properties.get("RetentionInDays") is not None:
            logs.put_retention_policy(group.name, properties["RetentionInDays"])
        else:
            logs.delete_retention_policy(group.name)
        group.kms_key_id = properties.get("KmsKeyId")
        wanted = _tags(properties)
        stale = [k for k in _tags(previous) if k not in wanted]
        if stale:
            logs.untag_log_group(group.name, stale)
        if wanted:
            logs.tag_log_group(group.name, wanted)
        _stash(group, properties)
        return group


#: Resource type -> the class the emulator uses for it (wins over moto's own lookup).
_MODELS: dict[str, type[CloudFormationModel]] = {
    "AWS::EC2::KeyPair": KeyPairResource,
    "AWS::EC2::SecurityGroup": SecurityGroupResource,
    "AWS::EC2::SecurityGroupIngress": SecurityGroupIngressResource,
    "AWS::EC2::SecurityGroupEgress": SecurityGroupEgressResource,
    "AWS::S3::Bucket": BucketResource,
    "AWS::S3::BucketPolicy": BucketPolicyResource,
    "AWS::IAM::Role": RoleResource,
    "AWS::IAM::InstanceProfile": InstanceProfileResource,
    "AWS::Lambda::Function": LambdaFunctionResource,
    "AWS::Lambda::Permission": LambdaPermissionResource,
    "AWS::Logs::LogGroup": LogGroupResource,
}

#: Real resource types without observable effect that the emulator skips (moto: a warning).
_SKIPPED_TYPES = frozenset({"AWS::CDK::Metadata"})


def installed_models() -> dict[str, type[CloudFormationModel]]:
    """The resource types the emulator teaches moto, and their classes."""
    return dict(_MODELS)


# --- The CloudFormation engine ------------------------------------------------------------------

#: The moto callables we wrap, kept so wrappers can call them.
_ORIGINALS: dict[str, Callable[..., Any]] = {}


def _create_resource(
    logical_id: str,
    resource_json: dict[str, Any],
    resources_map: ResourceMap,
    account_id: str,
    region_name: str,
) -> Any:
    """Wraps parsing.parse_and_create_resource: events, strict types, failure attribution.

    Every creation goes through here, including the lazy ones moto does while resolving a Ref.
    """
    if getattr(resources_map, "annex_frozen", False):
        # A failed or deleted stack: nothing may be created behind its back any more (moto
        # would create resources lazily when describe_stacks resolves its outputs).
        return None
    stack = _stack_of(resources_map)
    resource_type = str(resource_json.get("Type", ""))
    condition = resource_json.get("Condition")
    if condition and not resources_map.lazy_condition_map[condition]:
        return None
    if resource_type in _SKIPPED_TYPES or resource_type in parsing.NULL_MODELS:
        return None
    _resource_event(stack, logical_id, resource_type, "CREATE_IN_PROGRESS")
    token = _operation.set(_Operation(stack, logical_id))
    try:
        if not resource_type.startswith("Custom::") and (
            parsing.resource_class_from_type(resource_type) is None
        ):
            # moto skips unknown types with a warning and reports CREATE_COMPLETE anyway.
            raise EmulatorResourceError(
                "UnsupportedResourceType",
                f"The annex-cdk emulator (moto {moto.__version__}) cannot create "
                f"{resource_type}; teach it in annex_emulator.models.",
            )
        if injected := emulator_faults.failing_reason(resource_type):
            raise EmulatorResourceError("InvalidRequest", injected)
        resource = _ORIGINALS["parsing.parse_and_create_resource"](
            logical_id, resource_json, resources_map, account_id, region_name
        )
    except Exception as exc:
        first = _mark_failed(exc, logical_id)
        reason = _reason(exc) if first else "Resource creation cancelled"
        _resource_event(stack, logical_id, resource_type, "CREATE_FAILED", reason=reason)
        raise
    finally:
        _operation.reset(token)
    _resource_event(stack, logical_id, resource_type, "CREATE_COMPLETE", resource)
    return resource


def _delete_resource(
    self: ResourceMap, parsed_resource: Any, resource_json: dict[str, Any]
) -> None:
    """Wraps ResourceMap._delete_resource: deletion policies, events, not-found is deleted."""
    stack = _stack_of(self)
    logical_id = getattr(parsed_resource, "logical_resource_id", "")
    resource_type = str(resource_json.get("Type", ""))
    policy = resource_json.get("DeletionPolicy")
    if policy == "Retain" or (
        policy == "RetainExceptOnCreate" and _deletion_mode.get() != "undo-create"
    ):
        _resource_event(stack, logical_id, resource_type, "DELETE_SKIPPED", parsed_resource)
        return
    # moto's ResourceMap.delete retries failed deletes until nothing moves; AWS reports a
    # failure once, so a retry of an already-failed delete stays silent unless it succeeds.
    failed_before: set[str] = self.__dict__.setdefault("annex_failed_deletes", set())
    retry = logical_id in failed_before
    if not retry:
        _resource_event(stack, logical_id, resource_type, "DELETE_IN_PROGRESS", parsed_resource)
    try:
        _ORIGINALS["ResourceMap._delete_resource"](self, parsed_resource, resource_json)
    except Exception as exc:
        if not _is_not_found(exc):
            _mark_failed(exc, logical_id)
            if not retry:
                failed_before.add(logical_id)
                _resource_event(
                    stack, logical_id, resource_type, "DELETE_FAILED", parsed_resource, _reason(exc)
                )
            raise
    failed_before.discard(logical_id)
    _resource_event(stack, logical_id, resource_type, "DELETE_COMPLETE", parsed_resource)


def _condition_holds(resource_map: ResourceMap, resource_json: dict[str, Any]) -> bool:
    condition = resource_json.get("Condition")
    return not condition or bool(resource_map.lazy_condition_map[condition])


_SUB_NAMES = re.compile(r"\$\{([^!}][^}]*)\}")


def _references(node: Any) -> set[str]:
    """Logical ids a template fragment refers to (Ref, Fn::GetAtt, Fn::Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found.update(m.split(".")[0] for m in _SUB_NAMES.findall(str(text)))
                if isinstance(value, list) and len(value) > 1:
                    found |= _references(value[1])
            else:
                found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


def _dependencies(resources: dict[str, Any]) -> dict[str, set[str]]:
    deps: dict[str, set[str]] = {}
    for logical_id, resource_json in resources.items():
        depends_on = resource_json.get("DependsOn") or []
        if isinstance(depends_on, str):
            depends_on = [depends_on]
        refs = _references(resource_json.get("Properties") or {}) | set(depends_on)
        deps[logical_id] = (refs & set(resources)) - {logical_id}
    return deps


def _dependency_order(resources: dict[str, Any], deps: dict[str, set[str]]) -> list[str]:
    """Dependencies first, otherwise template order (a cycle is cut where it is met)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in order or logical_id in visiting:
            return
        visiting.add(logical_id)
        for dep in sorted(deps.get(logical_id, ()), key=list(resources).index):
            visit(dep)
        visiting.discard(logical_id)
        order.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return order


def _replaced(old: Any, new: Any) -> bool:
    return new is not old and _physical_id(new) != _physical_id(old)


class _UpdateFailed(Exception):
    """Raised by ResourceMap.update after it rolled the resources back."""

    def __init__(self, logical_id: str | None, reason: str, rolled_back: bool) -> None:
        super().__init__(reason)
        self.logical_id = logical_id
        self.reason = reason
        self.rolled_back = rolled_back


@dataclass
class _UpdateProgress:
    current: str | None = None
    #: (logical id, object before, object after) for every resource updated so far.
    modified: list[tuple[str, Any, Any]] = field(default_factory=list)
    replaced: set[str] = field(default_factory=set)


def _update_resource(
    resource_map: ResourceMap, logical_id: str, resource_json: dict[str, Any]
) -> Any:
    stack = _stack_of(resource_map)
    resource_type = str(resource_json.get("Type", ""))
    _resource_event(stack, logical_id, resource_type, "UPDATE_IN_PROGRESS")
    token = _operation.set(_Operation(stack, logical_id))
    try:
        resource_class = parsing.resource_class_from_type(resource_type)
        update = getattr(resource_class, "update_from_cloudformation_json", None)
        if update is None or getattr(update, "__isabstractmethod__", False):
            # moto would store None for the resource and break every later Ref to it.
            raise EmulatorResourceError(
                "NotUpdatable", f"The annex-cdk emulator cannot update {resource_type}."
            )
        new_resource = parsing.parse_and_update_resource(
            logical_id,
            resource_json,
            resource_map,
            account_id=resource_map._account_id,
            region_name=resource_map._region_name,
        )
    except Exception as exc:
        _mark_failed(exc, logical_id)
        _resource_event(stack, logical_id, resource_type, "UPDATE_FAILED", reason=_reason(exc))
        raise
    finally:
        _operation.reset(token)
    resource_map._parsed_resources[logical_id] = new_resource
    _resource_event(stack, logical_id, resource_type, "UPDATE_COMPLETE", new_resource)
    return new_resource


def _load_template(
    resource_map: ResourceMap, template: dict[str, Any], inputs: dict[str, Any]
) -> None:
    resource_map._template = template
    resource_map.input_parameters = inputs
    resource_map.load_mapping()
    resource_map.load_parameters()
    resource_map.load_conditions()
    # A stack under REVIEW_IN_PROGRESS (CREATE change set) has the empty template {}.
    resource_map._resource_json_map = template.get("Resources", {})


def _resource_map_update(
    self: ResourceMap, template: dict[str, Any], parameters: dict[str, Any] | None = None
) -> None:
    """Replaces ResourceMap.update with CloudFormation's order and rollback.

    moto deletes removed resources first, never forgets them (re-adding a logical id later is
    silently skipped), ignores resources that must follow a replaced one, and has no rollback.
    AWS creates and updates in dependency order, deletes removed resources and old copies of
    replaced ones only after everything else succeeded, and on failure updates back.
    """
    diff = self.build_resource_diff(template, parameters)
    old_template, old_json, old_inputs = (
        self._template,
        self._resource_json_map,
        self.input_parameters,
    )
    new_json = template["Resources"]
    for logical_id in diff["Modify"]:
        if old_json[logical_id].get("Type") != new_json[logical_id].get("Type"):
            raise ValidationError(
                message=f"Update of resource type is not permitted. The new template modifies "
                f"resource type of resource {logical_id}."
            )
    existed = {k for k, v in self._parsed_resources.items() if _is_resource(v)}
    try:
        # moto keeps the old inputs when an update passes no parameters; so do we, but only
        # those the new template still declares (AWS drops the others with the declaration).
        declared = template.get("Parameters", {})
        kept = {k: v for k, v in (old_inputs or {}).items() if k in declared}
        _load_template(self, template, parameters or kept)
    except Exception:
        _load_template(self, old_template, old_inputs)
        raise  # a template/parameter error: AWS rejects the call itself
    self.annex_frozen = False
    deps = _dependencies(new_json)
    progress = _UpdateProgress()
    removals = [(k, old_json[k]) for k in diff["Remove"] if k in existed]
    try:
        for logical_id in _dependency_order(new_json, deps):
            resource_json = new_json[logical_id]
            current = self._parsed_resources.get(logical_id)
            if not _condition_holds(self, resource_json):
                if _is_resource(current):  # its condition turned false: remove it
                    removals.append((logical_id, old_json.get(logical_id, resource_json)))
                continue
            if not _is_resource(current):
                self._parsed_resources.pop(logical_id, None)
                progress.current = logical_id
                _ = self[logical_id]  # creates it (through _create_resource)
                continue
            if logical_id in diff["Modify"] or deps[logical_id] & progress.replaced:
                progress.current = logical_id
                updated = _update_resource(self, logical_id, resource_json)
                progress.modified.append((logical_id, current, updated))
                if _replaced(current, updated):
                    progress.replaced.add(logical_id)
        progress.current = None
    except Exception as exc:
        failed = getattr(exc, "annex_failed_resource", None) or progress.current
        # Nothing existed before only when a CREATE change set runs through here.
        status = "ROLLBACK" if not old_json else "UPDATE_ROLLBACK"
        verb = "update" if failed in existed else "create"
        reason = (
            f"The following resource(s) failed to {verb}: [{failed}]. " if failed else _reason(exc)
        )
        stack = _stack_of(self)
        if stack is not None:  # announced before the rollback's own resource events, as on AWS
            stack.status = f"{status}_IN_PROGRESS"
            stack.status_reason = reason
            stack._add_stack_event(stack.status, resource_status_reason=reason)
        rolled_back = _roll_back_update(self, old_template, old_json, old_inputs, existed, progress)
        raise _UpdateFailed(failed, reason, rolled_back) from exc

    # Clean-up: old copies of replaced resources (their UpdateReplacePolicy decides), then the
    # removed resources. As on AWS, a failure here is an event, not a failed update.
    for logical_id, old, new in reversed(progress.modified):
        if _replaced(old, new):
            old_resource_json = dict(old_json.get(logical_id) or new_json[logical_id])
            old_resource_json["DeletionPolicy"] = old_resource_json.get(
                "UpdateReplacePolicy", "Delete"
            )
            with contextlib.suppress(Exception):
                self._delete_resource(old, old_resource_json)
    order = _dependency_order(old_json, _dependencies(old_json))
    for logical_id, resource_json in sorted(
        removals, key=lambda r: -order.index(r[0]) if r[0] in order else 0
    ):
        resource = self._parsed_resources.pop(logical_id, None)
        if _is_resource(resource):
            with contextlib.suppress(Exception):
                self._delete_resource(resource, resource_json)


def _roll_back_update(
    self: ResourceMap,
    old_template: dict[str, Any],
    old_json: dict[str, Any],
    old_inputs: dict[str, Any],
    existed: set[str],
    progress: _UpdateProgress,
) -> bool:
    """Update back to the previous template; True if every step succeeded."""
    new_json = self._resource_json_map
    _load_template(self, old_template, old_inputs)
    ok = True
    discard: list[tuple[str, Any, dict[str, Any]]] = []
    in_place: list[str] = []
    for logical_id, old, new in progress.modified:
        if _replaced(old, new):
            self._parsed_resources[logical_id] = old  # the old copy was never deleted
            discard.append((logical_id, new, new_json[logical_id]))
        elif logical_id not in in_place:
            in_place.append(logical_id)
    # The resource that failed may be half-updated: update it back too.
    failed = progress.current
    if failed and failed not in in_place and failed in old_json and failed in existed:
        in_place.append(failed)
    for logical_id in reversed(in_place):
        try:
            _update_resource(self, logical_id, old_json[logical_id])
        except Exception:
            ok = False
    # Delete what the failed update created: added resources, new copies of replaced ones.
    token = _deletion_mode.set("undo-create")
    try:
        for logical_id, resource in list(self._parsed_resources.items()):
            if _is_resource(resource) and logical_id not in existed:
                del self._parsed_resources[logical_id]
                try:
                    self._delete_resource(resource, new_json.get(logical_id) or {})
                except Exception:
                    ok = False
        for _logical_id, resource, resource_json in reversed(discard):
            try:
                self._delete_resource(resource, resource_json)
            except Exception:
                ok = False
    finally:
        _deletion_mode.reset(token)
    return ok


def _freeze(resource_map: ResourceMap) -> None:
    resource_map.annex_frozen = True


# Stack states in which AWS shows outputs; elsewhere moto would resolve them lazily and create
# (or fail to create) the resources they refer to.
_NO_OUTPUTS = frozenset(
    {
        "CREATE_PENDING",
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_FAILED",
        "ROLLBACK_COMPLETE",
        "DELETE_IN_PROGRESS",
        "DELETE_COMPLETE",
        "REVIEW_IN_PROGRESS",
    }
)
#: States AWS refuses UpdateStack in (moto checks ROLLBACK_COMPLETE only).
_NOT_UPDATABLE = frozenset(
    {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_FAILED", "DELETE_COMPLETE"}
)


def _stack_outputs(self: Stack) -> list[dict[str, Any]] | None:
    if self.status in _NO_OUTPUTS:
        return None
    return _ORIGINALS["Stack.outputs"](self)


def _stack_resources(self: Stack) -> list[Any]:
    # moto yields None for types it skipped and would lazily create anything not yet created.
    parsed = self.resource_map._parsed_resources
    return [parsed[k] for k in self.resource_map.resources if _is_resource(parsed.get(k))]


def _stack_create_resource_map(self: Stack) -> ResourceMap:
    resource_map = _ORIGINALS["Stack._create_resource_map"](self)
    resource_map.annex_stack = self  # events and stack tags need the stack
    return resource_map


def _stack_update(
    self: Stack,
    template: str,
    role_arn: str | None = None,
    parameters: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    if self.status in _NOT_UPDATABLE:
        raise ValidationError(
            message=f"Stack:{self.stack_id} is in {self.status} state and can not be updated."
        )
    if (
        Stack.parse_template(template) == self.template_dict
        and (parameters or {}) == (self.parameters or {})
        and (tags is None or tags == self.tags)
    ):
        raise ValidationError(message="No updates are to be performed.")
    old_template = self.template
    try:
        _ORIGINALS["Stack.update"](self, template, role_arn, parameters, tags)
    except _UpdateFailed as exc:
        self.template = old_template
        self._parse_template()
        self.output_map = self._create_output_map()
        self.status_reason = exc.reason
        self.status = "UPDATE_ROLLBACK_COMPLETE" if exc.rolled_back else "UPDATE_ROLLBACK_FAILED"
        self._add_stack_event(self.status)
    except Exception:
        self.template = old_template  # rejected before anything changed
        self._parse_template()
        raise
    else:
        self.status_reason = None


def _backend_create_stack(self: CloudFormationBackend, *args: Any, **kwargs: Any) -> Stack:
    """Wraps CloudFormationBackend.create_stack: a resource failure fails the stack as on AWS.

    moto lets the exception escape the API call (HTTP error) and leaves the stack registered in
    CREATE_IN_PROGRESS. AWS accepts the call and the stack ends CREATE_FAILED -> ROLLBACK_COMPLETE.
    """
    before = set(self.stacks)
    name = kwargs["name"] if "name" in kwargs else args[0]
    try:
        return _ORIGINALS["CloudFormationBackend.create_stack"](self, *args, **kwargs)
    except Exception as exc:
        # By name as well: other stacks are being created concurrently (annex-cdk deploys all
        # at once), and failing one of those instead would be a fault AWS never makes.
        new = [
            stack
            for stack_id, stack in list(self.stacks.items())
            if stack_id not in before and stack.name == name
        ]
        if not new:
            raise  # rejected before a stack existed (template or parameter error): as on AWS
        stack = new[0]
        _fail_create(self, stack, exc)
        return stack


def _fail_create(backend: CloudFormationBackend, stack: Stack, exc: BaseException) -> None:
    resource_map = stack.resource_map
    failed = getattr(exc, "annex_failed_resource", None)
    reason = f"The following resource(s) failed to create: [{failed}]. " if failed else _reason(exc)
    stack.status = "CREATE_FAILED"
    stack.status_reason = reason
    stack._add_stack_event("CREATE_FAILED", resource_status_reason=reason)
    on_failure = _on_failure.get()
    if on_failure == "DO_NOTHING":
        _freeze(resource_map)
        return
    stack.status = "ROLLBACK_IN_PROGRESS"
    stack.status_reason = reason + "Rollback requested by user."
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=stack.status_reason)
    token = _deletion_mode.set("undo-create")
    try:
        # Deletes only what this stack created: a resource that failed to create (say, a key
        # pair whose name was taken) is not in the map and is never touched.
        resource_map.delete()
    except Exception as rollback_exc:
        stack.status = "ROLLBACK_FAILED"
        stack.status_reason = _reason(rollback_exc)
        stack._add_stack_event("ROLLBACK_FAILED", resource_status_reason=stack.status_reason)
        _freeze(resource_map)
        return
    finally:
        _deletion_mode.reset(token)
    _freeze(resource_map)
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")
    if on_failure == "DELETE":
        backend.delete_stack(stack.stack_id)


def _find_stack(backend: CloudFormationBackend, name_or_stack_id: str) -> Stack | None:
    if name_or_stack_id in backend.stacks:
        return backend.stacks[name_or_stack_id]
    return next((s for s in backend.stacks.values() if s.name == name_or_stack_id), None)


def _backend_delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
    """Wraps CloudFormationBackend.delete_stack: a failed delete keeps the stack, DELETE_FAILED.

    moto pops the stack before deleting its resources, so a failure (a non-empty bucket)
    escaped as an HTTP error and the stack vanished from every listing.
    """
    stack = _find_stack(self, name_or_stack_id)
    if stack is None:
        _ORIGINALS["CloudFormationBackend.delete_stack"](self, name_or_stack_id)
        return
    stack.resource_map.__dict__.pop("annex_failed_deletes", None)  # a new delete attempt
    try:
        _ORIGINALS["CloudFormationBackend.delete_stack"](self, stack.stack_id)
    except Exception as exc:
        self.deleted_stacks.pop(stack.stack_id, None)
        self.stacks[stack.stack_id] = stack
        resource_map = stack.resource_map
        left = [
            k
            for k, v in resource_map._parsed_resources.items()
            if _is_resource(v)
            and k in resource_map._resource_json_map
            and resource_map._resource_json_map[k].get("DeletionPolicy") != "Retain"
        ]
        reason = (
            f"The following resource(s) failed to delete: [{', '.join(left)}]. "
            if left
            else _reason(exc)
        )
        stack.status = "DELETE_FAILED"
        stack.status_reason = reason
        stack._add_stack_event("DELETE_FAILED", resource_status_reason=reason)
        return
    stack.status_reason = None
    _freeze(stack.resource_map)


def _backend_execute_change_set(
    self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None
) -> None:
    """Wraps CloudFormationBackend.execute_change_set: failures and outputs as on AWS.

    moto let a failure escape as an HTTP error with the stack half-changed, and never re-read
    the executed template, so a stack created through a change set had no Outputs.
    """
    # The change set moto will execute: by id, else the last one with that name (moto's rule).
    named = [c for c in self.change_sets.values() if c.change_set_name == change_set_name]
    change_set = self.change_sets.get(change_set_name) or (named[-1] if named else None)
    stack = self.stacks.get(change_set.stack_id) if change_set is not None else None
    if change_set is None or stack is None:
        _ORIGINALS["CloudFormationBackend.execute_change_set"](self, change_set_name, stack_name)
        return
    try:
        _ORIGINALS["CloudFormationBackend.execute_change_set"](self, change_set_name, stack_name)
    except _UpdateFailed as exc:
        change_set.execution_status = "EXECUTE_FAILED"
        stack.status_reason = exc.reason
        if change_set.change_set_type == "CREATE":
            stack.status = "ROLLBACK_COMPLETE" if exc.rolled_back else "ROLLBACK_FAILED"
            _freeze(stack.resource_map)
        else:
            stack.status = (
                "UPDATE_ROLLBACK_COMPLETE" if exc.rolled_back else "UPDATE_ROLLBACK_FAILED"
            )
        stack._add_stack_event(stack.status)
        return
    stack._parse_template()
    stack.output_map = stack._create_output_map()


def _response_create_stack(self: CloudFormationResponse) -> Any:
    """Wraps the CreateStack handler to honour DisableRollback and OnFailure (moto ignores them)."""
    on_failure = self._get_param("OnFailure") or "ROLLBACK"
    if str(self._get_param("DisableRollback", "false")).lower() == "true":
        on_failure = "DO_NOTHING"
    token = _on_failure.set(on_failure)
    try:
        return _ORIGINALS["CloudFormationResponse.create_stack"](self)
    finally:
        _on_failure.reset(token)


# --- install() -----------------------------------------------------------------------------------

_install_lock = threading.Lock()
#: (owner, attribute, what its own __dict__ held, or _ABSENT) for every patch, for uninstall().
_PATCHES: list[tuple[Any, str, Any]] = []
_ABSENT = object()


def _patch(owner: Any, name: str, replacement: Any) -> None:
    # Keys read "Class.attr" (or "parsing.function" for the module).
    key = f"{owner.__name__.rsplit('.', 1)[-1]}.{name}"
    _PATCHES.append((owner, name, vars(owner).get(name, _ABSENT)))
    _ORIGINALS[key] = getattr(owner, name)
    setattr(owner, name, replacement)


def _patch_property(owner: type, name: str, getter: Callable[[Any], Any]) -> None:
    _PATCHES.append((owner, name, vars(owner).get(name, _ABSENT)))
    _ORIGINALS[f"{owner.__name__}.{name}"] = getattr(owner, name).fget
    setattr(owner, name, property(getter))


def install() -> None:
    """Teach moto (in this process) what annex-cdk's templates need. Idempotent.

    Call before the first stack is parsed. The emulator's server process does this at start-up;
    in-process tests (moto's mock_aws) may call it too.
    """
    with _install_lock:
        if _PATCHES:
            return
        try:
            _apply_patches()
        except BaseException:
            _remove_patches()  # all or nothing
            raise


def _apply_patches() -> None:
    # Which class handles a resource type: ours win over moto's (see the module docstring).
    _install_model_lookup()
    # Every resource creation, including moto's lazy ones: events, strict types, blame.
    _patch(parsing, "parse_and_create_resource", _create_resource)
    # Every resource deletion: DeletionPolicy, events, "already gone" counts as deleted.
    _patch(ResourceMap, "_delete_resource", _delete_resource)
    # Updates in CloudFormation's order, with rollback.
    _patch(ResourceMap, "update", _resource_map_update)
    # Resource maps need their stack (events, stack tags).
    _patch(Stack, "_create_resource_map", _stack_create_resource_map)
    # "No updates are to be performed", refused states, rollback states.
    _patch(Stack, "update", _stack_update)
    # No outputs (and no lazy resource creation) for failed or deleted stacks.
    _patch_property(Stack, "outputs", _stack_outputs)
    # Resource listings without moto's None entries and lazy creation.
    _patch_property(Stack, "stack_resources", _stack_resources)
    # CREATE_FAILED -> rollback -> ROLLBACK_COMPLETE instead of an HTTP error.
    _patch(CloudFormationBackend, "create_stack", _backend_create_stack)
    # DELETE_FAILED instead of a lost stack.
    _patch(CloudFormationBackend, "delete_stack", _backend_delete_stack)
    # Change sets: failure states, and Outputs after a CREATE change set.
    _patch(CloudFormationBackend, "execute_change_set", _backend_execute_change_set)
    # DisableRollback / OnFailure.
    _patch(CloudFormationResponse, "create_stack", _response_create_stack)
    # Bucket-policy conditions (CDK's enforce-SSL statement denied everything).
    _patch(FakeBucket, "get_permission", _bucket_get_permission)
    # Lambda LoggingConfig, which moto drops, reported by GetFunction as on AWS.
    _patch(LambdaBackend, "create_function", _lambda_create_function)
    _patch(LambdaFunction, "update_configuration", _lambda_update_configuration)
    _patch(LambdaFunction, "get_configuration", _lambda_get_configuration)
    _check()


def uninstall() -> None:
    """Give moto back its own behaviour (for in-process tests that installed, then want out).

    Use it between tests, not mid-way: stacks created meanwhile keep their resources. The new
    types (KeyPair, BucketPolicy, ...) stay visible to moto's own lookup, which finds every
    direct CloudFormationModel subclass; the overrides of moto's types are all undone.
    """
    with _install_lock:
        _remove_patches()


def _remove_patches() -> None:
    while _PATCHES:
        owner, name, original = _PATCHES.pop()
        if original is _ABSENT:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _ORIGINALS.clear()
    for cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cache.cache_clear()


def _install_model_lookup() -> None:
    moto_model_map = parsing.get_model_map

    def get_model_map() -> dict[str, type[CloudFormationModel]]:
        # moto's map (its own lru_cache) with ours on top: deterministic, whatever the order in
        # which CloudFormationModel subclasses were defined.
        return {**moto_model_map(), **_MODELS}

    # The caches may already hold lists built before our classes existed.
    parsing.get_model_list.cache_clear()
    moto_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    _patch(parsing, "get_model_map", get_model_map)


def _check() -> None:
    """Fail loudly at start-up if moto's lookup does not resolve to our classes."""
    for resource_type, model in _MODELS.items():
        found = parsing.resource_class_from_type(resource_type)
        if found is not model:
            raise RuntimeError(f"moto resolves {resource_type} to {found}, not {model}")
    for resource_type, name_property in (
        ("AWS::EC2::KeyPair", "KeyName"),
        ("AWS::S3::Bucket", "BucketName"),
        ("AWS::EC2::SecurityGroup", "GroupName"),
    ):
        found_name = parsing.resource_name_property_from_type(resource_type)
        if found_name != name_property:
            raise RuntimeError(f"moto names {resource_type} by {found_name}, not {name_property}")
