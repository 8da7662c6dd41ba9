"""The CI roles' policies, derived from the submit host's (the rest of this package).

- DEPLOY runs `setup --no-local` and `check-setup --no-local --deep`: annex-cdk's own calls and
  what CloudFormation does for every resource type, but nothing condor_annex does (no instance
  is launched from CI), and never the private key (ssm:GetParameter, kms:Decrypt): a runner
  writes no PEM. It may read and re-tag GitHub's OIDC provider when HTCondorAnnex-CiRoles
  changes, but not create or delete it: that trust anchor is an administrator's to make.
- PLAN runs `diff --no-local` on pull requests: only the read actions of DEPLOY.

Plain data, no aws_cdk: the stack carries these documents and the tests read them.
"""

from __future__ import annotations

from typing import Any, Final

from annex_stacks import names
from annex_stacks.policy.callers import ANNEX_CDK_ACTIONS
from annex_stacks.policy.cloudformation import CFN_RESOURCE_ACTIONS
from annex_stacks.policy.document import template_document
from annex_stacks.policy.scopes import SCOPES

#: What a runner must never read: the key pair's private key (a SecureString in SSM).
PRIVATE_KEY_ACTIONS: Final = frozenset({"ssm:GetParameter", "kms:Decrypt"})
#: The verbs of IAM's read access level among our actions, and the one read that is not one.
READ_VERBS: Final = ("Describe", "Get", "List")
READ_ACTIONS: Final = frozenset({"iam:SimulatePrincipalPolicy", "s3:ListBucket"})
#: The stack's own provider, changed only in place by CloudFormation (tags, thumbprints).
OIDC_PROVIDER_ACTIONS: Final = (
    "iam:GetOpenIDConnectProvider",
    "iam:ListOpenIDConnectProviderTags",
    "iam:TagOpenIDConnectProvider",
    "iam:UntagOpenIDConnectProvider",
    "iam:UpdateOpenIDConnectProviderThumbprint",
)
OIDC_PROVIDER_RESOURCE: Final = (
    f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:oidc-provider/{names.GITHUB_OIDC_HOST}"
)
OIDC_SID: Final = "GitHubOidcProviderInPlace"
#: setup's lock is read with ssm:GetParameter too; the runner gets that on the lock alone.
LOCK_SID: Final = "ReadTheSetupLock"
LOCK_RESOURCE: Final = (
    f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter"
    f"{names.LOCK_PARAMETER}"
)


def deploy_actions() -> dict[str, set[str]]:
    """By scope: annex-cdk's calls and CloudFormation's, without condor_annex's or the key's."""
    out: dict[str, set[str]] = {scope: set() for scope in SCOPES}
    for by_scope in CFN_RESOURCE_ACTIONS.values():
        for scope, actions in by_scope.items():
            out[scope].update(actions.all)
    for scope, listed in ANNEX_CDK_ACTIONS.items():
        out[scope].update(listed)
    return {scope: actions - PRIVATE_KEY_ACTIONS for scope, actions in out.items()}


def is_read(action: str) -> bool:
    verb = action.split(":", 1)[1]
    return action in READ_ACTIONS or verb.startswith(READ_VERBS)


def plan_actions() -> dict[str, set[str]]:
    """By scope: the read actions of deploy_actions(), and no other."""
    return {
        scope: {a for a in actions if is_read(a)} for scope, actions in deploy_actions().items()
    }


def plan_document(*, bucket_expression: str, key_pair_name: str) -> dict[str, Any]:
    return template_document(
        bucket_expression=bucket_expression,
        key_pair_name=key_pair_name,
        actions=plan_actions(),
    )


def deploy_document(*, bucket_expression: str, key_pair_name: str) -> dict[str, Any]:
    document = template_document(
        bucket_expression=bucket_expression,
        key_pair_name=key_pair_name,
        actions=deploy_actions(),
    )
    document["Statement"] += [
        {
            "Sid": LOCK_SID,
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": LOCK_RESOURCE,
        },
        {
            "Sid": OIDC_SID,
            "Effect": "Allow",
            "Action": list(OIDC_PROVIDER_ACTIONS),
            "Resource": OIDC_PROVIDER_RESOURCE,
        },
    ]
    return document
