"""The least-privilege IAM policy for everything annex-cdk and condor_annex do, as plain data.

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
simulates it, and the submit-host-role and CI role stacks carry it, all from this package:

- scopes.py: the statements (Scope), where each lets its actions act, and why;
- cloudformation.py: what CloudFormation calls per resource type (and what it need not);
- callers.py: annex-cdk's and condor_annex's own calls; all three sources by scope;
- document.py: the documents, filled for an account and region or as Fn::Sub text;
- ci_roles.py: the CI roles' narrower documents.
"""

from __future__ import annotations

from annex_stacks.policy.callers import (
    ANNEX_CDK_ACTIONS,
    CONDOR_ANNEX_ACTIONS,
    RUNTIME_EXCLUDED,
    actions_by_scope,
    runtime_actions,
)
from annex_stacks.policy.cloudformation import CFN_NOT_NEEDED, CFN_RESOURCE_ACTIONS, CfnActions
from annex_stacks.policy.document import (
    HEADROOM,
    MANAGED_POLICY_LIMIT,
    OWN_RESOURCE_FAMILIES,
    READ_ONLY_FAMILIES,
    ROLE_INLINE_LIMIT,
    USER_INLINE_LIMIT,
    VERSION,
    Grant,
    attachment_advice,
    budget,
    grants,
    policy_document,
    size,
    split,
    template_document,
)
from annex_stacks.policy.scopes import IMAGE_SCOPES, SCOPES, Scope, why

__all__ = [
    "ANNEX_CDK_ACTIONS",
    "CFN_NOT_NEEDED",
    "CFN_RESOURCE_ACTIONS",
    "CONDOR_ANNEX_ACTIONS",
    "HEADROOM",
    "IMAGE_SCOPES",
    "MANAGED_POLICY_LIMIT",
    "OWN_RESOURCE_FAMILIES",
    "READ_ONLY_FAMILIES",
    "ROLE_INLINE_LIMIT",
    "RUNTIME_EXCLUDED",
    "SCOPES",
    "USER_INLINE_LIMIT",
    "VERSION",
    "CfnActions",
    "Grant",
    "Scope",
    "actions_by_scope",
    "attachment_advice",
    "budget",
    "grants",
    "policy_document",
    "runtime_actions",
    "size",
    "split",
    "template_document",
    "why",
]
