"""What CloudFormation calls with the caller's credentials, per resource type and scope.

annex-cdk deploys without a service role, so the caller's policy must allow what each
resource type's registry handlers call; and what those handlers call only for properties
the templates never set is listed apart (CFN_NOT_NEEDED), each with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


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

#: The optional HTCondorAnnex-Guardrail stack's own types: their actions land in
#: GUARDRAIL_SCOPES (its function, roles and log group are covered like the lease functions').
CFN_RESOURCE_ACTIONS.update(
    {
        "AWS::IAM::ManagedPolicy": {
            "guardrail-deny-policy": CfnActions(
                create=("iam:CreatePolicy",),
                read=("iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListEntitiesForPolicy"),
                update=("iam:CreatePolicyVersion", "iam:ListPolicyVersions"),
                delete=("iam:DeletePolicy", "iam:DeletePolicyVersion"),
            ),
            # Its handlers detach it from identities (as destroy does first) on delete.
            "guardrail-attach": CfnActions(
                delete=("iam:DetachUserPolicy", "iam:DetachRolePolicy"),
            ),
            # HTCondorAnnex-CondorUser's run-time policy (a generated name).
            "condor-user-policy": CfnActions(
                create=("iam:CreatePolicy",),
                read=("iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListEntitiesForPolicy"),
                update=("iam:CreatePolicyVersion", "iam:ListPolicyVersions"),
                delete=("iam:DeletePolicy", "iam:DeletePolicyVersion"),
            ),
        },
        "AWS::IAM::User": {
            "condor-user": CfnActions(
                create=("iam:CreateUser", "iam:GetUser"),
                read=(
                    "iam:GetUser",
                    "iam:ListAttachedUserPolicies",
                    "iam:ListUserPolicies",
                    "iam:ListGroupsForUser",
                    "iam:GetLoginProfile",
                ),
                update=("iam:UpdateUser",),
                delete=("iam:DeleteUser",),
                tag=("iam:TagUser", "iam:UntagUser", "iam:ListUserTags"),
            ),
            "condor-user-attach": CfnActions(
                create=("iam:AttachUserPolicy",),
                delete=("iam:DetachUserPolicy",),
            ),
            # CloudFormation deletes the keys a user still has (setup made them).
            "condor-user-keys": CfnActions(delete=("iam:ListAccessKeys", "iam:DeleteAccessKey")),
        },
        "AWS::Scheduler::Schedule": {
            "guardrail-schedule": CfnActions(
                create=("scheduler:CreateSchedule",),
                read=("scheduler:GetSchedule",),
                update=("scheduler:UpdateSchedule",),
                delete=("scheduler:DeleteSchedule",),
            ),
            "guardrail-pass-scheduler-role": CfnActions(create=("iam:PassRole",)),
        },
        "AWS::Budgets::Budget": {
            "guardrail-budget": CfnActions(
                create=("budgets:ModifyBudget",),
                read=("budgets:ViewBudget",),
                tag=(
                    "budgets:TagResource",
                    "budgets:UntagResource",
                    "budgets:ListTagsForResource",
                ),
            ),
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
    "AWS::IAM::ManagedPolicy": {
        "iam:AttachUserPolicy": ("Users", "setup attaches it, not the template"),
        "iam:AttachRolePolicy": ("Roles", "setup attaches it, not the template"),
        "iam:*GroupPolicy": ("Groups", "no groups"),
    },
    "AWS::IAM::User": {
        "iam:*LoginProfile": ("LoginProfile", "no console password: condor_annex uses a key"),
        "iam:*UserToGroup": ("Groups", "no groups"),
        "iam:RemoveUserFromGroup": ("Groups", "no groups"),
        "iam:*UserPolicy": ("Policies", "no inline policies: the managed run-time policy only"),
        "iam:*UserPermissionsBoundary": ("PermissionsBoundary", "no boundary"),
    },
    "AWS::Budgets::Budget": {
        "billing:GetBillingViewData": (None, "the budget names no billing view (BillingViewArn)"),
    },
}
