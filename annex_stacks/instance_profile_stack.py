"""HTCondorAnnex-InstanceProfile: the role annex instances boot with."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from annex_stacks import nag, names
from annex_stacks.settings import AnnexSettings

# Annex instances find their bucket by matching ^arn:aws:s3:::[^/]*/config-\*\.tar\.gz against
# their own role's policy resources, so this string must stay literal (partition included).
CONFIG_OBJECT_ARN = f"arn:aws:s3:::{names.BUCKET_NAME_PATTERN}/{names.CONFIG_OBJECT_PATTERN}"


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
                            actions=["s3:GetObject"], resources=[Fn.sub(CONFIG_OBJECT_ARN)]
                        )
                    ]
                )
            },
        )
        role.node.default_child.override_logical_id(names.LID_INSTANCE_ROLE)  # type: ignore[union-attr]
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
                    resources=[Fn.sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/*")],
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
                "AwsSolutions-IAM5[Resource::arn:aws:s3:::htcondor-annex-<AWS::AccountId>-<AWS::Region>/config-*.tar.gz]": (
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
            },
        )
        CfnOutput(self, names.OUT_INSTANCE_PROFILE, value=profile.attr_arn)
