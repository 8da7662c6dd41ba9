"""HTCondorAnnex-SubmitHostRole: an instance profile for a submit host on EC2.

The guide's "Using Instance Credentials" path gives the submit host's instance profile
AdministratorAccess. This stack's role carries the least-privilege policy instead (the one
`annex-cdk policy` prints), so that annex-cdk and condor_annex can run there with
`--from-instance` / FROM INSTANCE.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from annex_stacks import nag, names
from annex_stacks.components.trust import ec2_instance_trust
from annex_stacks.policy import (
    OWN_RESOURCE_FAMILIES,
    READ_ONLY_FAMILIES,
    template_document,
    why,
)
from annex_stacks.settings import AnnexSettings

# ${AWS::X} is CloudFormation's to substitute; any other ${...} (IAM's ${aws:username}) must
# reach IAM as written, which inside Fn::Sub is spelt ${!...}.
_NOT_PSEUDO = re.compile(r"\$\{(?!AWS::)")


def fn_sub_document(value: Any) -> Any:
    """The document with every string that names a pseudo parameter wrapped in Fn::Sub."""
    if isinstance(value, str):
        return Fn.sub(_NOT_PSEUDO.sub("${!", value)) if "${AWS::" in value else value
    if isinstance(value, list):
        return [fn_sub_document(v) for v in value]
    if isinstance(value, Mapping):
        return {k: fn_sub_document(v) for k, v in value.items()}
    return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def acknowledgements(document: Mapping[str, Any]) -> dict[str, str]:
    """cdk-nag IAM5 findings the document raises, each with its statement's reason."""
    family_reason = (
        "A read-only family on resources that are annex-cdk's own; it stands for the single "
        "reads CloudFormation and annex-cdk make there and keeps the policy within IAM's limit."
    )
    own_reason = (
        "A family of changes on resources that are annex-cdk's own (by name); it stands for "
        "the create/delete pairs CloudFormation calls there and keeps the policy within IAM's "
        "limit."
    )
    families = {f: family_reason for listed in READ_ONLY_FAMILIES.values() for f in listed}
    families.update({f: own_reason for listed in OWN_RESOURCE_FAMILIES.values() for f in listed})
    found: dict[str, str] = {}
    for statement in document["Statement"]:
        for resource in _as_list(statement["Resource"]):
            if "*" in resource:
                shown = nag.finding_resource(_NOT_PSEUDO.sub("${!", resource))
                found[f"AwsSolutions-IAM5[Resource::{shown}]"] = why(statement["Sid"])
        for action in _as_list(statement["Action"]):
            if "*" in action:
                if action not in families:  # a new wildcard needs its own reason here
                    raise ValueError(f"no reason for the wildcard action {action}")
                found[f"AwsSolutions-IAM5[Action::{action}]"] = families[action]
    return found


class SubmitHostRoleStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AnnexSettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Plain data from the same builder as `annex-cdk policy`, so the two cannot differ.
        policy = template_document(
            bucket_expression=settings.bucket_expression,
            key_pair_name=settings.key_pair_name,
            # A submit host that runs `setup --build-image` needs the image statements too.
            build_image=settings.build_image,
        )
        # L1, so that the document reaches the template exactly as `annex-cdk policy` prints it
        # (an L2 PolicyDocument would re-order and merge statements).
        role = iam.CfnRole(
            self,
            names.LID_SUBMIT_HOST_ROLE,
            assume_role_policy_document=ec2_instance_trust(),
            description="HTCondor submit host: annex-cdk and condor_annex, least privilege",
            policies=[
                iam.CfnRole.PolicyProperty(
                    policy_name=names.SUBMIT_HOST_POLICY_NAME,
                    policy_document=fn_sub_document(policy),
                )
            ],
        )
        profile = iam.CfnInstanceProfile(
            self, names.LID_SUBMIT_HOST_PROFILE, roles=[role.ref], path="/"
        )
        nag.acknowledge(role, acknowledgements(policy))
        CfnOutput(self, names.OUT_SUBMIT_HOST_PROFILE, value=profile.attr_arn)
        CfnOutput(self, names.OUT_SUBMIT_HOST_ROLE, value=role.attr_arn)
