"""What `annex-cdk org` needs, for the organization's administrator: a document of its own.

`org deploy|status|diff|destroy` run in the management (or a delegated administrator) account,
never on a submit host, so none of this belongs in the submit host's policy. Resources follow
CloudFormation's entries in AWS's Service Authorization Reference: StackSet operations act on
the `stackset` resource (and `stackset-target` and `type` for instances); trusted access and
the organization's reads are on `*`, the only resource those actions take.
"""

from __future__ import annotations

from typing import Any, Final

from annex_stacks import names

#: The service-linked role CloudFormation StackSets makes when trusted access is activated.
STACKSETS_SERVICE = "stacksets.cloudformation.amazonaws.com"

STACK_SET_ACTIONS: Final = (
    "cloudformation:CreateStackSet",
    "cloudformation:UpdateStackSet",
    "cloudformation:DeleteStackSet",
    "cloudformation:DescribeStackSet",
    "cloudformation:DescribeStackSetOperation",
    "cloudformation:ListStackSetOperationResults",
    "cloudformation:DetectStackSetDrift",
    "cloudformation:CreateStackInstances",
    "cloudformation:UpdateStackInstances",
    "cloudformation:DeleteStackInstances",
    "cloudformation:ListStackInstances",
    "cloudformation:DescribeStackInstance",
)
TRUSTED_ACCESS_ACTIONS: Final = (
    "cloudformation:ActivateOrganizationsAccess",
    "cloudformation:DescribeOrganizationsAccess",
    "organizations:EnableAWSServiceAccess",
    "organizations:ListAWSServiceAccessForOrganization",
)
ORGANIZATION_READS: Final = (
    "organizations:DescribeOrganization",
    "organizations:ListAccountsForParent",
    "organizations:ListChildren",
)


def org_admin_document(*, account: str = "*") -> dict[str, Any]:
    """The policy the organization's administrator needs for `annex-cdk org` (the member
    accounts' `OrganizationAccountAccessRole` is entered only to look for an existing setup)."""
    arn = f"arn:aws:cloudformation:*:{account}"
    prefix = names.STACK_PREFIX
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AnnexStackSets",
                "Effect": "Allow",
                "Action": list(STACK_SET_ACTIONS),
                "Resource": [
                    f"{arn}:stackset/{prefix}*",
                    f"{arn}:stackset-target/{prefix}*",
                    "arn:aws:cloudformation:*::type/resource/*",
                ],
            },
            {
                "Sid": "TrustedAccessAndReads",
                "Effect": "Allow",
                "Action": [*TRUSTED_ACCESS_ACTIONS, *ORGANIZATION_READS],
                "Resource": "*",
            },
            {
                "Sid": "StackSetsServiceLinkedRole",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": f"arn:aws:iam::{account}:role/aws-service-role/{STACKSETS_SERVICE}/*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": STACKSETS_SERVICE}},
            },
            {
                "Sid": "LookForExistingSetups",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": f"arn:aws:iam::*:role/{names.ORG_ACCESS_ROLE}",
            },
        ],
    }
