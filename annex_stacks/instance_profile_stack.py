"""HTCondorAnnex-InstanceProfile: the role annex instances boot with."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from annex_stacks import nag, names
from annex_stacks.settings import AnnexSettings


def config_object_arn(settings: AnnexSettings) -> str:
    """Fn::Sub text of the config tarballs' ARN.

    Annex instances find their bucket by matching ^arn:aws:s3:::[^/]*/config-\\*\\.tar\\.gz
    against their own role's policy resources, so it stays literal (partition included).
    """
    return f"arn:aws:s3:::{settings.bucket_expression}/{names.CONFIG_OBJECT_PATTERN}"


def config_object_resource(settings: AnnexSettings) -> str:
    """The policy Resource value: Fn::Sub only when there is something to substitute."""
    arn = config_object_arn(settings)
    return Fn.sub(arn) if "${" in arn else arn


def bucket_name(settings: AnnexSettings) -> str:
    """The configuration bucket's name as a template value."""
    name = settings.bucket_expression
    return Fn.sub(name) if "${" in name else name


class InstanceProfileStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: AnnexSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        role = iam.Role(
            self,
            names.LID_INSTANCE_ROLE,
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="HTCondor annex instances: fetch the annex config and introspect",
            inline_policies={
                "Configuration": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["s3:GetObject"], resources=[config_object_resource(settings)]
                        )
                    ]
                )
            },
        )
        role.node.default_child.override_logical_id(names.LID_INSTANCE_ROLE)  # type: ignore[union-attr]  # the role's default child is its CfnRole; CDK types it IConstruct | None
        profile = iam.CfnInstanceProfile(
            self, names.LID_INSTANCE_PROFILE, roles=[role.role_name], path="/"
        )
        # The boot script walks the instance's own profile and role policies to find the
        # bucket; these rights are read-only and limited to that profile and role.
        introspection = iam.Policy(
            self,
            "Introspection",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["iam:GetInstanceProfile"], resources=[profile.attr_arn]
                ),
                iam.PolicyStatement(
                    actions=[
                        "iam:ListRolePolicies",
                        "iam:GetRolePolicy",
                        "iam:ListAttachedRolePolicies",
                    ],
                    resources=[role.role_arn],
                ),
                iam.PolicyStatement(
                    actions=["iam:GetPolicy", "iam:GetPolicyVersion"],
                    # AWS-managed policies too (e.g. SSM's core policy): the boot script reads
                    # every policy attached to its role and retries ~50 minutes on a refusal.
                    resources=[
                        Fn.sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/*"),
                        Fn.sub("arn:${AWS::Partition}:iam::aws:policy/*"),
                    ],
                ),
                iam.PolicyStatement(
                    actions=["ec2:DescribeInstances", "ec2:DescribeSpotFleetRequests"],
                    resources=["*"],
                ),
            ],
        )
        nag.acknowledge(
            role,
            {
                f"AwsSolutions-IAM5[Resource::{nag.finding_resource(config_object_arn(settings))}]": (
                    "Annex instances parse this literal config-*.tar.gz resource at boot to find "
                    "their bucket (condor-annex-ec2); each fetches only config-<its annex>.tar.gz."
                ),
            },
        )
        nag.acknowledge(
            introspection,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "ec2:DescribeInstances and ec2:DescribeSpotFleetRequests support no "
                    "resource-level permissions; the boot script reads its own client token."
                ),
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:policy/*]": (
                    "Read-only; the boot script reads the managed policies attached to its own "
                    "role, whose ARNs are not known when the stack is made."
                ),
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::aws:policy/*]": (
                    "Read-only; AWS-managed policies attached to the role (e.g. SSM's core "
                    "policy) must be readable or the boot script never finds its bucket."
                ),
            },
        )
        CfnOutput(self, names.OUT_INSTANCE_PROFILE, value=profile.attr_arn)
