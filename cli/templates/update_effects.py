"""What CloudFormation does to a resource on update: which properties replace it, and what a
replacement or a deletion loses (the diff marks those DANGEROUS)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

#: Properties whose change replaces the resource ("Update requires: Replacement"), per type we
#: deploy. Taken from the AWS service spec database that `cdk diff` itself uses
#: (node_modules/aws-cdk/db.json.gz, `causesReplacement: yes`), which matches the CloudFormation
#: template reference; tests/unit/test_diff.py checks the two agree. Notably *not* here: an
#: instance profile's Roles, a security group's rules and any IAM::Policy property update in
#: place. Lambda::Permission has no update handler at all: every property replaces it.
REPLACING_PROPERTIES: Final[Mapping[str, frozenset[str]]] = {
    "AWS::S3::Bucket": frozenset(
        {"BucketName", "BucketNamePrefix", "BucketNamespace", "ObjectLockEnabled"}
    ),
    "AWS::S3::BucketPolicy": frozenset({"Bucket"}),
    "AWS::EC2::KeyPair": frozenset(
        {"KeyName", "KeyType", "KeyFormat", "PublicKeyMaterial", "Tags"}
    ),
    "AWS::EC2::SecurityGroup": frozenset({"GroupDescription", "GroupName", "VpcId"}),
    "AWS::Lambda::Function": frozenset({"FunctionName", "PackageType", "TenancyConfig"}),
    "AWS::Lambda::Permission": frozenset(
        {
            "Action",
            "EventSourceToken",
            "FunctionName",
            "FunctionUrlAuthType",
            "InvokedViaFunctionUrl",
            "Principal",
            "PrincipalOrgID",
            "SourceAccount",
            "SourceArn",
        }
    ),
    "AWS::IAM::Role": frozenset({"RoleName", "Path"}),
    "AWS::IAM::InstanceProfile": frozenset({"InstanceProfileName", "Path"}),
    "AWS::IAM::Policy": frozenset(),
    "AWS::Logs::LogGroup": frozenset({"LogGroupName"}),
    # The optional image stack: Image Builder's resources are immutable versions, so nearly
    # every property replaces them (an image rebuild is a replacement by design).
    "AWS::ImageBuilder::Component": frozenset(
        {
            "ChangeDescription",
            "Data",
            "Description",
            "KmsKeyId",
            "Name",
            "Platform",
            "SupportedOsVersions",
            "Tags",
            "Uri",
            "Version",
        }
    ),
    "AWS::ImageBuilder::ImageRecipe": frozenset(
        {
            "AdditionalInstanceConfiguration",
            "AmiTags",
            "AmiWatermarks",
            "BlockDeviceMappings",
            "Components",
            "Description",
            "Name",
            "ParentImage",
            "Tags",
            "Version",
            "WorkingDirectory",
        }
    ),
    "AWS::ImageBuilder::InfrastructureConfiguration": frozenset({"Name"}),
    "AWS::ImageBuilder::DistributionConfiguration": frozenset({"Name"}),
    "AWS::ImageBuilder::Image": frozenset(
        {
            "ContainerRecipeArn",
            "DistributionConfigurationArn",
            "EnhancedImageMetadataEnabled",
            "ImageRecipeArn",
            "ImageScanningConfiguration",
            "ImageTestsConfiguration",
            "InfrastructureConfigurationArn",
            "Tags",
            "Workflows",
        }
    ),
}


#: Resources whose replacement or deletion loses something a user cannot get back, and why.
#: (replaced, deleted)
DATA_BEARING: Final[Mapping[str, tuple[str, str]]] = {
    "AWS::S3::Bucket": (
        "a new, empty bucket; the config objects in the old one are lost to annexes",
        "the bucket and the annex config objects in it are deleted",
    ),
    "AWS::EC2::KeyPair": (
        "a new private key; the old PEM stops working",
        "the key pair and its private key are deleted; the PEM stops working",
    ),
}


def replacement_danger(resource_type: str) -> str | None:
    """What replacing a resource of this type loses (None: nothing)."""
    texts = DATA_BEARING.get(resource_type)
    return texts[0] if texts else None


def deletion_danger_of_type(resource_type: str) -> str | None:
    """What deleting a resource of this type loses; a change set does not say DeletionPolicy,
    so a retained resource is still named (the safe side)."""
    texts = DATA_BEARING.get(resource_type)
    return texts[1] if texts else None
