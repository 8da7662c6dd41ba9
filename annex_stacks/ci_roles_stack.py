"""HTCondorAnnex-CiRoles: the GitHub Actions workflow's two roles, assumed through OIDC.

PLAN is trusted only by the repository's pull-request jobs and can only read; DEPLOY is trusted
only by jobs in the protected environment. Their policies come from annex_stacks/
policy/ci_roles.py (derived from `annex-cdk policy`).
GitHub's OIDC provider is created here unless the account has one (one per URL and account):
then its ARN is passed in (--ci-oidc-provider-arn).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from annex_stacks import nag, names
from annex_stacks.policy.ci_roles import deploy_document, plan_document
from annex_stacks.settings import AnnexSettings
from annex_stacks.submit_host_stack import acknowledgements, fn_sub_document

#: GitHub's intermediate certificate thumbprints. IAM no longer checks them for GitHub (it
#: trusts its own CA store), but older partitions still require the property to be set.
GITHUB_THUMBPRINTS = (
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
)


def trust_policy(provider_arn: str, subject: str) -> dict[str, Any]:
    """Web identities of GitHub's issuer, for AWS, with exactly this subject claim."""
    host = names.GITHUB_OIDC_HOST
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:aud": names.GITHUB_OIDC_AUDIENCE,
                        f"{host}:sub": subject,
                    }
                },
            }
        ],
    }


class CiRolesStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AnnexSettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        where = {
            "bucket_expression": settings.bucket_expression,
            "key_pair_name": settings.key_pair_name,
        }
        plan_policy, deploy_policy = plan_document(**where), deploy_document(**where)
        repository = settings.ci_repository
        if repository is None:  # AnnexSettings refuses ci_roles without it; a guard for mypy
            raise ValueError("ci_repository is required for the CI roles")
        provider_arn = settings.ci_oidc_provider_arn
        if provider_arn is None:
            provider = iam.CfnOIDCProvider(
                self,
                names.LID_CI_OIDC_PROVIDER,
                url=f"https://{names.GITHUB_OIDC_HOST}",
                client_id_list=[names.GITHUB_OIDC_AUDIENCE],
                thumbprint_list=list(GITHUB_THUMBPRINTS),
            )
            provider_arn = provider.attr_arn
        subjects = {
            names.LID_CI_PLAN_ROLE: names.GITHUB_SUB_PULL_REQUEST.format(repository=repository),
            names.LID_CI_DEPLOY_ROLE: names.GITHUB_SUB_ENVIRONMENT.format(
                repository=repository, environment=settings.ci_environment_name
            ),
        }
        roles = (
            (names.LID_CI_PLAN_ROLE, names.CI_PLAN_POLICY_NAME, plan_policy, "diff, read only"),
            (names.LID_CI_DEPLOY_ROLE, names.CI_DEPLOY_POLICY_NAME, deploy_policy, "setup"),
        )
        outputs = {
            names.LID_CI_PLAN_ROLE: names.OUT_CI_PLAN_ROLE,
            names.LID_CI_DEPLOY_ROLE: names.OUT_CI_DEPLOY_ROLE,
        }
        for lid, policy_name, policy, what in roles:
            # L1, so that the documents reach the template exactly as built (see
            # submit_host_stack.py); one hour covers a setup with room to spare.
            role = iam.CfnRole(
                self,
                lid,
                assume_role_policy_document=trust_policy(provider_arn, subjects[lid]),
                description=f"annex-cdk GitHub workflow ({repository}): {what}",
                max_session_duration=3600,
                policies=[
                    iam.CfnRole.PolicyProperty(
                        policy_name=policy_name, policy_document=fn_sub_document(policy)
                    )
                ],
            )
            nag.acknowledge(role, acknowledgements(policy))
            CfnOutput(self, outputs[lid], value=role.attr_arn)
        CfnOutput(self, names.OUT_CI_OIDC_PROVIDER, value=provider_arn)
