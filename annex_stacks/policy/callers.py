"""The calls the policy is for, besides CloudFormation's: annex-cdk's own and a later
condor_annex run's, by scope; and all three sources together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from annex_stacks.policy.cloudformation import CFN_RESOURCE_ACTIONS
from annex_stacks.policy.scopes import SCOPES

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
        # setup --yes on a stack in UPDATE_ROLLBACK_FAILED finishes the rollback first.
        "cloudformation:ContinueUpdateRollback",
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
    "condor-user-keys": ("iam:ListAccessKeys", "iam:CreateAccessKey", "iam:DeleteAccessKey"),
    # With DeleteAssociatedSnapshots: the built AMI's snapshots go with it, authorized on the
    # tagged image alone (no ec2:DeleteSnapshot on anyone's snapshots).
    "built-images": ("ec2:DeregisterImage",),
    "image-imds": ("ec2:ModifyImageAttribute",),
    "functions": ("lambda:GetFunctionConfiguration",),
    # The spend guardrail (GUARDRAIL_SCOPES): setup attaches the Deny, destroy detaches it,
    # spend and heartbeat read and refresh.
    "guardrail-deny-policy": ("iam:ListEntitiesForPolicy",),
    "guardrail-attach": (
        "iam:AttachUserPolicy",
        "iam:DetachUserPolicy",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
    ),
    "guardrail-budget": ("budgets:ViewBudget",),
    "guardrail-heartbeat": ("ssm:PutParameter", "ssm:GetParameter"),
    "guardrail-state": ("s3:GetObject",),
    "guardrail-no-resource-level": ("pricing:GetProducts", "ec2:DescribeInstanceTypes"),
}

#: Calls annex-cdk makes that `annex-cdk policy` does not grant, and why a refusal is fine.
BEYOND_THE_POLICY: Final[dict[str, str]] = {
    # The first document is at IAM's size limit: setup's account pre-flight reads the
    # account's IMDS defaults only where the caller may, and says so otherwise.
    "ec2:GetInstanceMetadataDefaults": "the account's instance-metadata defaults",
    # setup --create-default-vpc: a one-off that an administrator may run instead
    # (`aws ec2 create-default-vpc`); the pre-flight names the gap before any change.
    "ec2:CreateDefaultVpc": "the region's default VPC, made once",
    # rehearse --governed only, as the root user of its private emulator: the administrator
    # a governed account's user signs in as.
    "iam:PutUserPolicy": "the governed rehearsal's administrator",
    # rehearse's guardrail step, as the root user of its private emulator: the user standing
    # in for condor_annex's identity is removed after its refused launch.
    "iam:DeleteUserPolicy": "the guardrail rehearsal's launching user",
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


#: condor_annex's run-time scopes that its own identity does without: EC2 creates the spot
#: service-linked roles on an account's first spot request, made once by an administrator
#: (or by `aws iam create-service-linked-role`); the identity creates nothing of IAM's.
RUNTIME_EXCLUDED: Final = frozenset({"spot-service-roles"})


def runtime_actions() -> dict[str, set[str]]:
    """What condor_annex calls after setup (`annex-cdk policy --runtime`): no CloudFormation,
    no IAM creation, any image the user picks (launch-resources)."""
    return {
        scope: set(actions)
        for scope, actions in CONDOR_ANNEX_ACTIONS.items()
        if scope not in RUNTIME_EXCLUDED
    }


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
