"""AWS::S3::Bucket (encryption, public access block, ownership, versioning, tags, and a
delete that fails on a non-empty bucket) and AWS::S3::BucketPolicy, which moto lacks."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.s3.exceptions import BucketNotEmpty, MissingBucket
from moto.s3.models import FakeBucket, s3_backends
from moto.utilities.utils import get_partition

from annex_emulator.own_resource import OwnResource
from annex_emulator.resource_properties import (
    is_true,
    json_text,
    previous_properties,
    stash_properties,
    template_tags,
)
from annex_emulator.stack_operation import stack_tags


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
            "BucketKeyEnabled": is_true(rule.get("BucketKeyEnabled", False)),
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
            name, {key: is_true(block.get(key, False)) for key in _PUBLIC_ACCESS_BLOCK_KEYS}
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
    tags = {**stack_tags(), **template_tags(properties)}
    if tags:
        backend.put_bucket_tagging(name, tags)
    elif before.get("Tags"):
        backend.delete_bucket_tagging(name)
    stash_properties(bucket, properties)


class BucketResource(FakeBucket):
    """AWS::S3::Bucket with the properties annex-cdk sets, applied to the real S3 backend.

    Only the classmethods are used: the buckets in the S3 backend stay moto's FakeBucket. moto's
    own handler applies only BucketEncryption and Tags, ignores the rest, deletes a non-empty
    bucket "successfully" (its backend silently keeps it), and its in-place update needs an
    explicit BucketName.
    """

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> FakeBucket:
        backend = _s3(account_id, region_name)
        properties = cloudformation_json.get("Properties") or {}
        bucket: FakeBucket = backend.create_bucket(resource_name, region_name)
        try:
            _apply_bucket_properties(backend, bucket, properties, previous=None)
        except Exception:
            backend.delete_bucket(resource_name)
            raise
        return bucket

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: FakeBucket,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> FakeBucket:
        properties = cloudformation_json.get("Properties") or {}
        previous = previous_properties(original_resource)
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
    def delete_from_cloudformation_json(
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


class BucketPolicyResource(OwnResource, CloudFormationModel):
    """AWS::S3::BucketPolicy (moto has none): the policy is put on the S3 backend's bucket."""

    TYPE = "AWS::S3::BucketPolicy"
    PHYSICAL_ID = "bucket_name"  # the resource's primary identifier on AWS is its Bucket

    def __init__(self, account_id: str, region_name: str, bucket_name: str) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.bucket_name = bucket_name

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> BucketPolicyResource:
        properties = cloudformation_json.get("Properties") or {}
        bucket_name = properties["Bucket"]
        document = json_text(properties["PolicyDocument"])
        # get_bucket raises NoSuchBucket as S3 does for a missing bucket.
        _s3(account_id, region_name).get_bucket(bucket_name)
        _s3(account_id, region_name).put_bucket_policy(bucket_name, document.encode())
        return cls(account_id, region_name, bucket_name)

    @classmethod
    def update_from_cloudformation_json(
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
        document = json_text(properties["PolicyDocument"])
        _s3(account_id, region_name).put_bucket_policy(
            original_resource.bucket_name, document.encode()
        )
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
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
