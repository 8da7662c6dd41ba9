"""The least-privilege IAM policy for the submit host's AWS identity, as plain data.

Three sources of AWS calls are covered, instead of the AdministratorAccess that the condor_annex
guide recommends:

- annex-cdk's own boto3 calls (setup, diff, check-setup --deep, write-config, destroy);
- what CloudFormation does with the caller's credentials for every resource type in the
  templates (annex-cdk deploys without a service role), from the table CFN_RESOURCE_ACTIONS;
- what a later condor_annex run calls (reference §4 and §8.1): upload the config tarball,
  check the lease function, put the lease rule and its target, invoke the connectivity check,
  launch instances or spot fleets with the instance role, describe them for status.

Every action belongs to a Scope: the resources it may touch and the statement it lands in. The
builder is pure (no aws_cdk, no boto3): `annex-cdk policy` prints it, setup's pre-flight
simulates it, and the submit-host-role stack carries it, all from this one module.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from annex_stacks import names
from annex_stacks.stack_specs import spec

VERSION: Final = "2012-10-17"
#: IAM's limit for a managed policy, counted without whitespace.
MANAGED_POLICY_LIMIT: Final = 6144
#: EC2's service-linked roles (…Spot and …SpotFleet), which an account's first spot request
#: creates.
SPOT_SERVICE_ROLE: Final = "AWSServiceRoleForEC2Spot"
#: The tag condor_annex puts on every on-demand annex instance (TagSpecification).
_ANNEX_TAG_CONDITION: Final = {"StringLike": {f"aws:RequestTag/{names.TAG_ANNEX_NAME}": "*"}}


@dataclass(frozen=True)
class Scope:
    """One statement: its Sid, its resources (str.format templates) and an optional condition.

    Fields: {partition} {region} {account} {bucket} {key_pair}.
    """

    sid: str
    resources: tuple[str, ...]
    why: str
    condition: Mapping[str, Mapping[str, Any]] | None = None


_ARN = "arn:{partition}:%s:{region}:{account}:%s"
_IAM = "arn:{partition}:iam::{account}:%s"
_IMAGEBUILDER = "imagebuilder.amazonaws.com"
_PREFIX = names.STACK_PREFIX  # "HTCondorAnnex-": every stack, generated role and function name
_TARGET_ARN = "events:TargetArn"

#: In statement order. A Sid says why its Resource is what it is where that is not obvious.
SCOPES: Final[dict[str, Scope]] = {
    "stacks": Scope(
        "Stacks",
        # Change sets (plain `cdk diff`/`cdk deploy`) are authorized on their stack's ARN.
        (_ARN % ("cloudformation", f"stack/{_PREFIX}*/*"),),
        "annex-cdk and plain cdk create, update, read and delete only the HTCondorAnnex-* "
        "stacks, directly or through CDK's change sets.",
    ),
    "no-resource-level": Scope(
        "NoResourceLevelPermissions",
        ("*",),
        "These read-only Describe calls support no resource-level permissions in IAM, so their "
        "Resource must be *.",
    ),
    "bucket": Scope(
        "Bucket",
        ("arn:{partition}:s3:::{bucket}",),
        "Bucket-level actions on the annex configuration bucket only; s3:Get* there reads the "
        "bucket's configuration (CloudFormation reads all of it after each change).",
    ),
    "config-objects": Scope(
        "ConfigTarballs",
        (f"arn:{{partition}}:s3:::{{bucket}}/{names.CONFIG_OBJECT_PATTERN}",),
        "condor_annex uploads config-<annex>.tar.gz; annex names are chosen at run time.",
    ),
    "bucket-objects": Scope(
        "EmptyBucket",
        ("arn:{partition}:s3:::{bucket}/*",),
        "destroy deletes every object version so that CloudFormation can delete the bucket.",
    ),
    "parameters": Scope(
        "Parameters",
        (
            _ARN % ("ssm", "parameter" + names.LOCK_PARAMETER),
            _ARN % ("ssm", "parameter" + names.KEY_PAIR_SSM_PREFIX + "*"),
        ),
        "The setup lock, and the key pair's private key, which EC2 keeps under /ec2/keypair/ "
        "with the key pair's id (known only once it exists).",
    ),
    "kms-via-ssm": Scope(
        "DecryptViaSsm",
        (_ARN % ("kms", "key/*"),),
        "The key pair parameter is a SecureString; its key is only usable through SSM here.",
        {"StringEquals": {"kms:ViaService": "ssm.{region}.amazonaws.com"}},
    ),
    "iam": Scope(
        "AnnexRoles",
        (
            _IAM % f"role/{_PREFIX}*",
            _IAM % f"instance-profile/{_PREFIX}*",
            # The pre-flight: an IAM user simulates its own policies. A policy variable: the
            # doubled braces survive str.format as ${aws:username}. Of this statement's role
            # and profile actions, only the reads and the simulation apply to a user.
            _IAM % "user/${{aws:username}}",
        ),
        "CloudFormation names generated roles and profiles <stack>-<logical id>-<suffix>, so "
        "HTCondorAnnex-* is exactly the stacks' own; the caller's own user is for the "
        "permission pre-flight.",
    ),
    "pass-role": Scope(
        "PassAnnexRoles",
        (_IAM % f"role/{_PREFIX}*",),
        "CloudFormation passes the function roles to Lambda and the instance roles to instance "
        "profiles; condor_annex passes the instance role to EC2.",
        {"StringEquals": {"iam:PassedToService": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}},
    ),
    "pass-fleet-role": Scope(
        "PassFleetRole",
        (_IAM % "role/*",),
        "condor_annex passes the IamFleetRole of the user's spot fleet JSON (BulkRequest.cpp), "
        "a role of any name; it may only go to Spot Fleet.",
        {"StringEquals": {"iam:PassedToService": "spotfleet.amazonaws.com"}},
    ),
    "spot-service-roles": Scope(
        "SpotServiceRoles",
        # One pattern for both: spot.amazonaws.com/AWSServiceRoleForEC2Spot and
        # spotfleet.amazonaws.com/AWSServiceRoleForEC2SpotFleet (IAM's size limit).
        (_IAM % f"role/aws-service-role/spot*.amazonaws.com/{SPOT_SERVICE_ROLE}*",),
        "An account's first spot request creates EC2's spot service-linked roles.",
        {"StringLike": {"iam:AWSServiceName": "spot*.amazonaws.com"}},
    ),
    "functions": Scope(
        "Functions",
        (_ARN % ("lambda", f"function:{_PREFIX}*"),),
        "The lease functions have generated names <stack>-<logical id>-<suffix>; "
        "lambda:GetFunction* only reads them.",
    ),
    "check-function": Scope(
        "InvokeCheck",
        (_ARN % ("lambda", f"function:{names.CHECK_CONNECTIVITY_FUNCTION}"),),
        "condor_annex invokes the connectivity check by its fixed name.",
    ),
    "log-groups": Scope(
        "LogGroups",
        (_ARN % ("logs", f"log-group:{names.LAMBDA_LOG_GROUP_PREFIX}*"),),
        "The functions' explicit log groups, all under one prefix.",
    ),
    "security-groups": Scope(
        "SecurityGroup",
        (_ARN % ("ec2", "security-group/*"), _ARN % ("ec2", "vpc/*")),
        "The group's id is generated by EC2, and CreateSecurityGroup authorizes on the default "
        "VPC too, whose id differs per account and region.",
    ),
    "key-pair": Scope(
        "KeyPair",
        (_ARN % ("ec2", "key-pair/{key_pair}"),),
        "The key pair, by its configured name.",
    ),
    "annex-instances": Scope(
        "LaunchTaggedAnnex",
        (_ARN % ("ec2", "instance/*"),),
        "condor_annex tags each instance htcondor:AnnexName at launch; instance ids are new.",
        _ANNEX_TAG_CONDITION,
    ),
    "annex-rollback": Scope(
        "TerminateAnnex",
        (_ARN % ("ec2", "instance/*"),),
        "condor_annex's rollback (OnDemandRequest::rollback) terminates the instances it "
        "started, which carry its htcondor:AnnexName tag.",
        {"StringLike": {f"aws:ResourceTag/{names.TAG_ANNEX_NAME}": "*"}},
    ),
    "tag-at-launch": Scope(
        "TagAtLaunch",
        (_ARN % ("ec2", "instance/*"),),
        "Tags come with RunInstances' TagSpecification; existing instances cannot be re-tagged.",
        {"StringEquals": {"ec2:CreateAction": "RunInstances"}},
    ),
    "launch-resources": Scope(
        "LaunchResources",
        (
            "arn:{partition}:ec2:{region}::image/*",
            "arn:{partition}:ec2:{region}::snapshot/*",
            _ARN % ("ec2", "subnet/*"),
            _ARN % ("ec2", "network-interface/*"),
            _ARN % ("ec2", "security-group/*"),
            _ARN % ("ec2", "volume/*"),
            _ARN % ("ec2", "key-pair/*"),
        ),
        "The AMI, subnet and key are condor_annex settings chosen per annex, and the volumes "
        "and interfaces are created by the launch.",
    ),
    "built-images": Scope(
        "BuiltImages",
        ("arn:{partition}:ec2:{region}::image/*",),
        "destroy deregisters only the AMIs HTCondorAnnex-Image built, which carry its tag.",
        {"StringEquals": {f"aws:ResourceTag/{names.TAG_IMAGE_STACK}": names.IMAGE_STACK}},
    ),
    "spot-fleets": Scope(
        "SpotFleets",
        (_ARN % ("ec2", "spot-fleet-request/*"),),
        "Fleet request ids are generated at request time.",
    ),
    "lease-rules": Scope(
        "LeaseRules",
        (_ARN % ("events", "rule/*"),),
        "condor_annex names each lease rule after its annex at run time.",
    ),
    "lease-targets": Scope(
        "LeaseTargets",
        (_ARN % ("events", "rule/*"),),
        "A lease rule may only target the annex lease functions.",
        {"ArnLike": {_TARGET_ARN: _ARN % ("lambda", f"function:{_PREFIX}*")}},
    ),
    # The optional HTCondorAnnex-Image stack (IMAGE_SCOPES): a second document, since the
    # first is within a few characters of IAM's managed-policy limit.
    "image-builder": Scope(
        "ImageBuilderResources",
        (_ARN % ("imagebuilder", f"*/{_PREFIX.lower()}*"),),
        "Image Builder's ARNs carry the lowercased names the image stack gives its component, "
        "recipe, configurations and image, all HTCondorAnnex-*.",
    ),
    "image-parents": Scope(
        "ImageParents",
        ("arn:{partition}:imagebuilder:{region}:aws:image/*",),
        "The recipe's parent is Image Builder's managed Amazon Linux 2023 image, owned by AWS.",
    ),
    "image-service-role": Scope(
        "ImageBuilderServiceLinkedRole",
        (_IAM % f"role/aws-service-role/{_IMAGEBUILDER}/AWSServiceRoleForImageBuilder",),
        "Image Builder creates its service-linked role on its first use in an account; the "
        "ARN is that one role's (no iam:AWSServiceName condition: iam:GetRole lacks the key).",
    ),
    "image-no-resource-level": Scope(
        "ImageBuilderDescribeCalls",
        ("*",),
        "Read-only Describe calls of the Image Builder handlers; IAM has no resource-level "
        "permissions for them, so their Resource must be *.",
    ),
    "image-pass-role": Scope(
        "PassImageBuildRole",
        (_IAM % f"role/{names.IMAGE_STACK}-*",),
        "The infrastructure configuration passes the build instance's role (its instance "
        "profile's), and only the image stack's own.",
    ),
}
#: The statements only the image stack needs (its spec's policy_scopes): `annex-cdk policy
#: --build-image` prints them.
IMAGE_SCOPES: Final = frozenset(spec(names.IMAGE_STACK).policy_scopes)


@dataclass(frozen=True)
class CfnActions:
    """What CloudFormation calls for one resource type on one scope, by handler."""

    create: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    update: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.create, *self.read, *self.update, *self.delete, *self.tag)


#: What CloudFormation calls with the caller's credentials for each resource type annex-cdk's
#: templates use (from the types' registry handlers, narrowed to the properties we set; the
#: infra tests check both directions against the templates and cfn-lint's schemas).
CFN_RESOURCE_ACTIONS: Final[dict[str, dict[str, CfnActions]]] = {
    "AWS::S3::Bucket": {
        "bucket": CfnActions(
            create=(
                "s3:CreateBucket",
                "s3:PutEncryptionConfiguration",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketOwnershipControls",
            ),
            read=("s3:Get*", "s3:ListBucket"),
            # An adopted condor_annex bucket had AccessControl: Private; dropping it is an ACL call.
            update=("s3:PutBucketAcl",),
            delete=("s3:DeleteBucket",),
            # Never DeleteBucketTagging: the htcondor:AnnexSetup tag is always there.
            tag=(
                "s3:PutBucketTagging",
                "s3:ListTagsForResource",
                "s3:TagResource",
                "s3:UntagResource",
            ),
        ),
    },
    "AWS::S3::BucketPolicy": {
        "bucket": CfnActions(
            create=("s3:PutBucketPolicy",), read=("s3:Get*",), delete=("s3:DeleteBucketPolicy",)
        ),
    },
    "AWS::IAM::Role": {
        "iam": CfnActions(
            create=("iam:CreateRole", "iam:PutRolePolicy"),
            read=("iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies"),
            update=(
                "iam:UpdateRole",
                "iam:UpdateRoleDescription",
                "iam:UpdateAssumeRolePolicy",
                "iam:DeleteRolePolicy",
            ),
            delete=("iam:DeleteRole", "iam:ListAttachedRolePolicies", "iam:DetachRolePolicy"),
            tag=("iam:TagRole", "iam:UntagRole", "iam:ListRoleTags"),
        ),
    },
    "AWS::IAM::Policy": {
        "iam": CfnActions(
            create=("iam:PutRolePolicy",),
            read=("iam:GetRolePolicy",),
            delete=("iam:DeleteRolePolicy",),
        ),
    },
    "AWS::IAM::InstanceProfile": {
        "iam": CfnActions(
            create=("iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile"),
            read=("iam:GetInstanceProfile",),
            delete=("iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"),
        ),
        "pass-role": CfnActions(create=("iam:PassRole",)),
    },
    "AWS::Lambda::Function": {
        "functions": CfnActions(
            create=("lambda:CreateFunction",),
            read=("lambda:GetFunction*", "lambda:GetRuntimeManagementConfig"),
            update=("lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration"),
            delete=("lambda:DeleteFunction",),
            tag=("lambda:TagResource", "lambda:UntagResource", "lambda:ListTags"),
        ),
        "pass-role": CfnActions(create=("iam:PassRole",)),
    },
    "AWS::Lambda::Permission": {
        "functions": CfnActions(
            create=("lambda:AddPermission",),
            read=("lambda:GetPolicy",),
            delete=("lambda:RemovePermission",),
        ),
    },
    "AWS::Logs::LogGroup": {
        "log-groups": CfnActions(
            create=("logs:CreateLogGroup", "logs:PutRetentionPolicy"),
            read=("logs:GetDataProtectionPolicy",),
            update=("logs:DeleteRetentionPolicy",),
            delete=("logs:DeleteLogGroup",),
            tag=("logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource"),
        ),
        "no-resource-level": CfnActions(
            read=(
                "logs:DescribeLogGroups",
                "logs:DescribeIndexPolicies",
                "logs:DescribeResourcePolicies",
            )
        ),
    },
    "AWS::EC2::SecurityGroup": {
        "security-groups": CfnActions(
            create=(
                "ec2:CreateSecurityGroup",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:RevokeSecurityGroupEgress",
            ),
            update=(
                "ec2:RevokeSecurityGroupIngress",
                "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
                "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
            ),
            delete=("ec2:DeleteSecurityGroup",),
            tag=("ec2:CreateTags", "ec2:DeleteTags"),
        ),
        "no-resource-level": CfnActions(
            read=("ec2:DescribeSecurityGroups",), delete=("ec2:DescribeInstances",)
        ),
    },
    "AWS::EC2::KeyPair": {
        "key-pair": CfnActions(
            create=("ec2:CreateKeyPair",), delete=("ec2:DeleteKeyPair",), tag=("ec2:CreateTags",)
        ),
        # EC2 keeps the new key's private key in SSM under the caller's credentials.
        "parameters": CfnActions(create=("ssm:PutParameter",), delete=("ssm:DeleteParameter",)),
        "no-resource-level": CfnActions(read=("ec2:DescribeKeyPairs",)),
    },
}

_IB = "imagebuilder:"
_IB_TAGS = (f"{_IB}TagResource", f"{_IB}UntagResource")
#: Every Image Builder handler first makes sure Image Builder's service-linked role exists.
_IB_SERVICE_ROLE = CfnActions(create=("iam:CreateServiceLinkedRole", "iam:GetRole"))


def _image_builder(
    kind: str, *, update: bool = False, create: tuple[str, ...] = (), delete: tuple[str, ...] = ()
) -> CfnActions:
    """An Image Builder type's own calls: Create/Get/[Update]/Delete<kind>, tags, and more."""
    return CfnActions(
        create=(f"{_IB}Create{kind}", *create),
        read=(f"{_IB}Get{kind}",),
        update=(f"{_IB}Update{kind}",) if update else (),
        delete=(f"{_IB}Delete{kind}", *delete),
        tag=_IB_TAGS,
    )


#: The optional HTCondorAnnex-Image stack's types: their actions land in IMAGE_SCOPES, or in
#: scopes the first document already grants (iam:Get* on HTCondorAnnex-*).
CFN_RESOURCE_ACTIONS.update(
    {
        "AWS::ImageBuilder::Component": {
            "image-builder": _image_builder("Component"),
            "image-service-role": _IB_SERVICE_ROLE,
        },
        "AWS::ImageBuilder::ImageRecipe": {
            "image-builder": _image_builder("ImageRecipe", create=(f"{_IB}GetComponent",)),
            "image-parents": CfnActions(create=(f"{_IB}GetImage",)),
            "image-no-resource-level": CfnActions(create=("ec2:DescribeImages",)),
            "image-service-role": _IB_SERVICE_ROLE,
        },
        "AWS::ImageBuilder::InfrastructureConfiguration": {
            "image-builder": _image_builder("InfrastructureConfiguration", update=True),
            "image-pass-role": CfnActions(create=("iam:PassRole",)),
            "iam": CfnActions(create=("iam:GetInstanceProfile",)),
            "image-no-resource-level": CfnActions(
                create=("autoscaling:DescribeAutoScalingGroups",)
            ),
            "image-service-role": _IB_SERVICE_ROLE,
        },
        "AWS::ImageBuilder::DistributionConfiguration": {
            "image-builder": _image_builder("DistributionConfiguration", update=True),
            "image-service-role": _IB_SERVICE_ROLE,
        },
        "AWS::ImageBuilder::Image": {
            "image-builder": _image_builder(
                "Image",
                create=(
                    f"{_IB}GetImageRecipe",
                    f"{_IB}GetInfrastructureConfiguration",
                    f"{_IB}GetDistributionConfiguration",
                ),
                # A stack deleted while its image still builds cancels the build first.
                delete=(f"{_IB}CancelImageCreation",),
            ),
            "image-service-role": _IB_SERVICE_ROLE,
        },
    }
)

#: The rest of each type's registry handler permissions (cfn-lint ships the schemas): calls
#: for properties the templates never set. Pattern -> (that property, or None, and why). The
#: infra tests check that every handler permission is in the table or here, and that each
#: named property is absent from every template.
CFN_NOT_NEEDED: Final[dict[str, dict[str, tuple[str | None, str]]]] = {
    "AWS::S3::Bucket": {
        "iam:PassRole": ("ReplicationConfiguration", "only replication passes a role"),
        "s3:*Cors*": ("CorsConfiguration", "no CORS"),
        "s3:*CORS*": ("CorsConfiguration", "no CORS"),
        "s3:*Website*": ("WebsiteConfiguration", "no website"),
        "s3:*Logging*": ("LoggingConfiguration", "no access logging (see AwsSolutions-S1)"),
        "s3:*Versioning*": ("VersioningConfiguration", "no versioning"),
        "s3:*Lifecycle*": ("LifecycleConfiguration", "no lifecycle rules"),
        "s3:*Replication*": ("ReplicationConfiguration", "no replication"),
        "s3:*Analytics*": ("AnalyticsConfigurations", "no analytics"),
        "s3:*Inventory*": ("InventoryConfigurations", "no inventory"),
        "s3:*Metrics*": ("MetricsConfigurations", "no request metrics"),
        "s3:*Notification*": ("NotificationConfiguration", "no notifications"),
        "s3:*ObjectLock*": ("ObjectLockConfiguration", "no object lock"),
        "s3:*Accelerate*": ("AccelerateConfiguration", "no transfer acceleration"),
        "s3:*IntelligentTiering*": ("IntelligentTieringConfigurations", "no tiering"),
        "s3:*BucketMetadata*": ("MetadataConfiguration", "no metadata tables"),
        "s3tables:*": ("MetadataTableConfiguration", "no metadata tables"),
        "s3:PutBucketAbac": ("AbacStatus", "no attribute-based access control"),
        "s3:DeleteBucketEncryption": (None, "encryption is always set"),
        "s3:DeleteBucketTagging": (None, "the htcondor:AnnexSetup tag is always there"),
        "s3:PutObjectAcl": (None, "ACLs are disabled (BucketOwnerEnforced)"),
        "s3:DeleteObject": (None, "CloudFormation never empties a bucket; annex-cdk does"),
    },
    "AWS::IAM::Role": {
        "iam:AttachRolePolicy": ("ManagedPolicyArns", "inline policies only"),
        "iam:*RolePermissionsBoundary": ("PermissionsBoundary", "no boundary"),
    },
    "AWS::IAM::Policy": {
        "iam:*UserPolicy": ("Users", "policies attach to roles only"),
        "iam:*GroupPolicy": ("Groups", "policies attach to roles only"),
    },
    "AWS::Lambda::Function": {
        "ec2:Describe*": ("VpcConfig", "the functions run outside any VPC"),
        "elasticfilesystem:*": ("FileSystemConfigs", "no file systems"),
        "s3files:*": ("FileSystemConfigs", "no file systems"),
        "kms:*": ("KmsKeyArn", "environment encryption uses the AWS-owned key"),
        "lambda:*CodeSigningConfig": ("CodeSigningConfigArn", "no code signing"),
        "lambda:*FunctionConcurrency": ("ReservedConcurrentExecutions", "no reservation"),
        "lambda:GetLayerVersion": ("Layers", "no layers"),
        "lambda:PutFunctionRecursionConfig": ("RecursiveLoop", "the default"),
        "lambda:PutRuntimeManagementConfig": ("RuntimeManagementConfig", "the default"),
        "lambda:PublishVersion": ("SnapStart", "no versions are published"),
        "lambda:PutFunctionScalingConfig": (None, "no capacity provider"),
        "lambda:PassCapacityProvider": (None, "no capacity provider"),
        "lambda:AssociateRuntimeAlias": (None, "no runtime alias"),
        "s3:GetObject*": (None, "the code is inline (ZipFile), not in S3"),
    },
    "AWS::Logs::LogGroup": {
        "logs:*DataProtectionPolicy": ("DataProtectionPolicy", "none (reading it is granted)"),
        "logs:*KmsKey": ("KmsKeyId", "the service key"),
        "logs:*IndexPolicy": ("FieldIndexPolicies", "no field indexes"),
        "logs:*ResourcePolicy": ("ResourcePolicyDocument", "no resource policy"),
        "logs:PutLogGroupDeletionProtection": ("DeletionProtectionEnabled", "not protected"),
        "logs:PutBearerTokenAuthentication": (None, "no bearer tokens"),
        "logs:CreateLogDelivery": (None, "no log delivery"),
        "firehose:TagDeliveryStream": (None, "no log delivery"),
        "s3:REST.PUT.OBJECT": (None, "no log delivery"),
    },
    "AWS::EC2::KeyPair": {
        "ec2:ImportKeyPair": ("PublicKeyMaterial", "EC2 makes the key"),
    },
    "AWS::ImageBuilder::Component": {
        "kms:*": ("KmsKeyId", "the document is encrypted with Image Builder's own key"),
        "s3:*": ("Uri", "the document is inline (Data), not in S3"),
    },
    "AWS::ImageBuilder::InfrastructureConfiguration": {
        "sns:Publish": ("SnsTopicArn", "no build notifications"),
    },
    "AWS::ImageBuilder::DistributionConfiguration": {
        "ec2:*LaunchTemplate*": (None, "the distribution updates no launch template"),
        "ssm:GetParameter": (None, "the distribution writes no SSM parameter"),
    },
    "AWS::ImageBuilder::Image": {
        "ecr:*": ("ImageScanningConfiguration", "no image scanning"),
        "inspector2:*": ("ImageScanningConfiguration", "no image scanning"),
        "iam:PassRole": ("ExecutionRole", "no workflow execution role"),
        f"{_IB}GetContainerRecipe": ("ContainerRecipeArn", "an AMI, not a container image"),
        f"{_IB}GetWorkflow": ("Workflows", "Image Builder's default build workflow"),
        f"{_IB}StartImagePipelineExecution": (None, "no pipeline: the stack builds one image"),
    },
}

#: annex-cdk's own calls (cli/), as IAM actions; tests/e2e/test_policy.py records the real ones.
ANNEX_CDK_ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "stacks": (
        "cloudformation:CreateStack",
        "cloudformation:UpdateStack",
        "cloudformation:DeleteStack",
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStackEvents",
        "cloudformation:DescribeStackResource",
        "cloudformation:GetTemplate",
        "cloudformation:DetectStackDrift",
        "cloudformation:DetectStackResourceDrift",
        "cloudformation:DescribeStackResourceDrifts",
        # What plain `cdk diff` and `cdk deploy` (the pinned CLI) call besides the above.
        "cloudformation:CreateChangeSet",
        "cloudformation:DescribeChangeSet",
        "cloudformation:ExecuteChangeSet",
        "cloudformation:DeleteChangeSet",
        "cloudformation:ListChangeSets",
        "cloudformation:ListStackResources",
        "cloudformation:DescribeStackResources",
        "cloudformation:GetTemplateSummary",
    ),
    "no-resource-level": (
        "cloudformation:DescribeStackDriftDetectionStatus",
        "ec2:DescribeInstances",
        "ec2:DescribeKeyPairs",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeImages",
    ),
    "bucket": ("s3:ListBucket", "s3:ListBucketVersions"),
    "bucket-objects": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    "parameters": ("ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter"),
    "kms-via-ssm": ("kms:Decrypt",),
    "iam": ("iam:ListRolePolicies", "iam:GetRolePolicy", "iam:SimulatePrincipalPolicy"),
    "built-images": ("ec2:DeregisterImage",),
    # An action authorizes only resources of its own type: here, the snapshot/* of this
    # statement. destroy deletes a built AMI's snapshots by the ids the AMI names (Image
    # Builder's snapshots carry no tag of ours to condition on).
    "launch-resources": ("ec2:DeleteSnapshot",),
    "functions": ("lambda:GetFunctionConfiguration",),
}

#: A later condor_annex run (reference §4, §8.1).
CONDOR_ANNEX_ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "config-objects": ("s3:PutObject",),
    "functions": ("lambda:GetFunction",),
    "check-function": ("lambda:InvokeFunction",),
    "lease-rules": ("events:PutRule", "events:DeleteRule", "events:RemoveTargets"),
    "lease-targets": ("events:PutTargets",),
    "annex-instances": ("ec2:RunInstances",),
    "tag-at-launch": ("ec2:CreateTags",),
    "launch-resources": ("ec2:RunInstances",),
    "spot-fleets": ("ec2:RequestSpotFleet", "ec2:CancelSpotFleetRequests"),
    "annex-rollback": ("ec2:TerminateInstances",),
    "pass-role": ("iam:PassRole",),
    "pass-fleet-role": ("iam:PassRole",),
    "spot-service-roles": ("iam:CreateServiceLinkedRole",),
    "no-resource-level": (
        "ec2:DescribeInstances",
        "ec2:DescribeSpotFleetRequests",
        "ec2:DescribeSpotFleetInstances",
    ),
}


@dataclass(frozen=True)
class Values:
    """What the resource templates are filled with."""

    partition: str
    region: str
    account: str
    bucket: str
    key_pair: str = names.KEY_PAIR_NAME

    def fill(self, text: str) -> str:
        return text.format(
            partition=self.partition,
            region=self.region,
            account=self.account,
            bucket=self.bucket,
            key_pair=self.key_pair,
        )


def partition_for(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def actions_by_scope(resource_types: Iterable[str] | None = None) -> dict[str, set[str]]:
    """Every action of the three sources, by scope; CloudFormation's for `resource_types`."""
    types = CFN_RESOURCE_ACTIONS if resource_types is None else set(resource_types)
    out: dict[str, set[str]] = {scope: set() for scope in SCOPES}
    for rtype in types:
        for scope, actions in CFN_RESOURCE_ACTIONS[rtype].items():
            out[scope].update(actions.all)
    for source in (ANNEX_CDK_ACTIONS, CONDOR_ANNEX_ACTIONS):
        for scope, listed in source.items():
            out[scope].update(listed)
    return out


#: Read-only action families that stand in for the single actions they match, on scopes that
#: hold only annex-cdk's own resources: the same rights, and room under IAM's size limit.
READ_ONLY_FAMILIES: Final[dict[str, tuple[str, ...]]] = {
    "stacks": (
        "cloudformation:Describe*",
        "cloudformation:Detect*",
        "cloudformation:Get*",
        "cloudformation:List*",
    ),
    "bucket": ("s3:Get*", "s3:List*"),
    "iam": ("iam:Get*", "iam:List*"),
    "functions": ("lambda:Get*", "lambda:List*"),
    "no-resource-level": ("logs:Describe*", "ec2:Describe*"),
}


#: Families of changes, likewise only on scopes whose resources are annex-cdk's own (its
#: stacks, roles, profiles, functions and log groups, all by name): each stands for the create
#: and delete pair (or the like) that CloudFormation calls there, to stay under IAM's limit.
OWN_RESOURCE_FAMILIES: Final[dict[str, tuple[str, ...]]] = {
    "stacks": ("cloudformation:*ChangeSet", "cloudformation:*Stack"),
    "iam": ("iam:*InstanceProfile", "iam:*RolePolicy", "iam:UpdateRole*", "iam:*TagRole"),
    "functions": ("lambda:*Permission", "lambda:UpdateFunction*", "lambda:*TagResource"),
    "log-groups": ("logs:*LogGroup", "logs:*RetentionPolicy", "logs:*TagResource"),
    "bucket": ("s3:*BucketPolicy", "s3:*TagResource"),
}


def _collapse(scope: str, actions: set[str]) -> list[str]:
    # A family of changes stands in only where every listed action it matches is granted: a
    # narrower set (the CI plan role's reads) must not gain the writes through it.
    listed = actions_by_scope()[scope]
    changes = [
        f
        for f in OWN_RESOURCE_FAMILIES.get(scope, ())
        if {a for a in listed if fnmatch.fnmatchcase(a, f)} <= actions
    ]
    families = (*READ_ONLY_FAMILIES.get(scope, ()), *changes)
    kept = {a for a in actions if not any(fnmatch.fnmatchcase(a, f) for f in families)}
    used = {f for f in families if any(fnmatch.fnmatchcase(a, f) for a in actions)}
    return sorted(kept | used, key=str.lower)


def _fill(value: Any, values: Values) -> Any:
    if isinstance(value, str):
        return values.fill(value)
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return {k: _fill(v, values) for k, v in value.items()}


@dataclass(frozen=True)
class Grant:
    """One statement before the read-only families are folded in: every single action."""

    scope: str
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]] | None


def grants(
    *,
    region: str,
    account: str,
    bucket: str | None = None,
    key_pair_name: str = names.KEY_PAIR_NAME,
    partition: str | None = None,
    resource_types: Iterable[str] | None = None,
    actions: Mapping[str, Iterable[str]] | None = None,
    lease_functions: Sequence[str] = (),
    build_image: bool = False,
    image_only: bool = False,
) -> list[Grant]:
    """The statements for one account and region, with resources and conditions filled in.

    `bucket` is the configuration bucket's name (default: the deterministic one). `actions`
    by scope replaces actions_by_scope(resource_types) (the CI roles' narrower sets).
    `lease_functions` are the deployed lease functions' ARNs, which then are the only targets
    a lease rule may get (default: any HTCondorAnnex-* function, for a setup not yet deployed).
    IMAGE_SCOPES come with `build_image` (or with `actions` that name them); `image_only`
    gives them alone, the second document of a setup with the image stack.
    """
    values = Values(
        partition=partition or partition_for(region),
        region=region,
        account=account,
        bucket=bucket or names.bucket_name(account, region),
        key_pair=key_pair_name,
    )
    conditions = {
        name: _fill(dict(scope.condition), values) if scope.condition else None
        for name, scope in SCOPES.items()
    }
    explicit = actions is not None  # the comprehension below reuses the name
    if lease_functions:
        conditions["lease-targets"] = {"ArnLike": {_TARGET_ARN: sorted(lease_functions)}}
    return [
        Grant(
            scope=name,
            sid=SCOPES[name].sid,
            actions=tuple(sorted(actions, key=str.lower)),
            resources=tuple(values.fill(r) for r in SCOPES[name].resources),
            condition=conditions[name],
        )
        for name, actions in (
            actions_by_scope(resource_types) if actions is None else actions
        ).items()
        if actions and _wanted(name, explicit=explicit, image=build_image, image_only=image_only)
    ]


def _wanted(scope: str, *, explicit: bool, image: bool, image_only: bool) -> bool:
    if image_only:
        return scope in IMAGE_SCOPES
    return explicit or image or scope not in IMAGE_SCOPES


def policy_document(
    *,
    region: str,
    account: str,
    bucket: str | None = None,
    key_pair_name: str = names.KEY_PAIR_NAME,
    partition: str | None = None,
    resource_types: Iterable[str] | None = None,
    actions: Mapping[str, Iterable[str]] | None = None,
    lease_functions: Sequence[str] = (),
    build_image: bool = False,
    image_only: bool = False,
) -> dict[str, Any]:
    """The IAM policy for one account and region ("*" for either widens to all of them)."""
    statements = []
    for grant in grants(
        region=region,
        account=account,
        bucket=bucket,
        key_pair_name=key_pair_name,
        partition=partition,
        resource_types=resource_types,
        actions=actions,
        lease_functions=lease_functions,
        build_image=build_image,
        image_only=image_only,
    ):
        statement: dict[str, Any] = {
            "Sid": grant.sid,
            "Effect": "Allow",
            "Action": _collapse(grant.scope, set(grant.actions)),
            "Resource": grant.resources[0] if len(grant.resources) == 1 else list(grant.resources),
        }
        if grant.condition:
            statement["Condition"] = grant.condition
        statements.append(statement)
    return {"Version": VERSION, "Statement": statements}


def template_document(
    *,
    bucket_expression: str,
    key_pair_name: str,
    resource_types: Iterable[str] | None = None,
    actions: Mapping[str, Iterable[str]] | None = None,
    build_image: bool = False,
) -> dict[str, Any]:
    """The same policy as Fn::Sub text (${AWS::Region} & co.), for a CloudFormation template
    (one inline policy: both documents fit under a role's 10,240 characters)."""
    return policy_document(
        region="${AWS::Region}",
        account="${AWS::AccountId}",
        bucket=bucket_expression,
        key_pair_name=key_pair_name,
        partition="${AWS::Partition}",
        resource_types=resource_types,
        actions=actions,
        build_image=build_image,
    )


def size(document: Mapping[str, Any]) -> int:
    """The length IAM counts against its limits: the JSON without whitespace."""
    return len(json.dumps(document, separators=(",", ":")))


def why(sid: str) -> str:
    """The reason behind a statement's Resource (the stack's cdk-nag acknowledgements)."""
    return next(s.why for s in SCOPES.values() if s.sid == sid)
