"""The service control policies a landing zone typically attaches, for the emulator's `--governed`.

Three controls that meet condor_annex and annex-cdk (../shared/reference/governed_accounts.md):

- every role must carry the organization's permissions boundary: iam:CreateRole (and setting a
  role's boundary, and adding policies to a role) is denied unless
  `iam:PermissionsBoundary` is that boundary's ARN. For calls on an existing role, IAM fills the
  key with the role's own boundary, so a role without it cannot get new policies either;
- instances must require IMDSv2: ec2:RunInstances on an instance is denied unless
  `ec2:MetadataHttpTokens` is `required`, the example AWS gives (EC2 User Guide, example
  policies, "Require the use of IMDSv2");
- no spot requests, as Control Tower's CT.EC2.PV.6 denies them (ec2:RequestSpotFleet and
  ec2:RequestSpotInstances) for every principal but Control Tower's own execution role.

The boundary itself is a customer managed policy of the account, `BOUNDARY_POLICY_NAME`; the
emulator creates it so that roles can name it. Like the boundaries landing zones hand out, it
allows what identity policies grant and only keeps roles from shedding it.
"""

from __future__ import annotations

from typing import Any

#: The organization's permissions boundary, a managed policy of the account.
BOUNDARY_POLICY_NAME = "OrgPermissionsBoundary"
#: Control Tower's role, which its own SCPs exempt (CT.EC2.PV.6 among them).
CONTROL_TOWER_ROLE = "arn:*:iam::*:role/AWSControlTowerExecution"

_VERSION = "2012-10-17"


def boundary_arn(account_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account_id}:policy/{BOUNDARY_POLICY_NAME}"


def boundary_document() -> dict[str, Any]:
    """What the boundary allows: everything identity policies grant, but shedding it."""
    return {
        "Version": _VERSION,
        "Statement": [
            {"Sid": "WhatIdentityPoliciesGrant", "Effect": "Allow", "Action": "*", "Resource": "*"},
            {
                "Sid": "KeepTheBoundary",
                "Effect": "Deny",
                "Action": [
                    "iam:DeleteRolePermissionsBoundary",
                    "iam:DeleteUserPermissionsBoundary",
                ],
                "Resource": "*",
            },
        ],
    }


def require_boundary(account_id: str) -> dict[str, Any]:
    """Roles are created, and their policies changed, only with the organization's boundary."""
    boundary = boundary_arn(account_id)
    return {
        "Version": _VERSION,
        "Statement": [
            {
                "Sid": "RolesCarryTheBoundary",
                "Effect": "Deny",
                "Action": [
                    "iam:CreateRole",
                    "iam:PutRolePermissionsBoundary",
                    "iam:PutRolePolicy",
                    "iam:AttachRolePolicy",
                ],
                "Resource": "*",
                "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": boundary}},
            },
            {
                "Sid": "NoOneShedsTheBoundary",
                "Effect": "Deny",
                "Action": "iam:DeleteRolePermissionsBoundary",
                "Resource": "*",
            },
            {
                "Sid": "NoOneChangesTheBoundary",
                "Effect": "Deny",
                "Action": [
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicy",
                    "iam:DeletePolicyVersion",
                    "iam:SetDefaultPolicyVersion",
                ],
                "Resource": boundary,
            },
        ],
    }


def require_imds_v2() -> dict[str, Any]:
    """EC2 User Guide, example policies, "Require the use of IMDSv2" (as AWS writes it)."""
    return {
        "Version": _VERSION,
        "Statement": [
            {
                "Sid": "RequireImdsV2",
                "Effect": "Deny",
                "Action": "ec2:RunInstances",
                "Resource": "arn:aws:ec2:*:*:instance/*",
                "Condition": {"StringNotEquals": {"ec2:MetadataHttpTokens": "required"}},
            }
        ],
    }


def deny_spot() -> dict[str, Any]:
    """Control Tower's CT.EC2.PV.6: no spot fleets or spot instance requests."""
    return {
        "Version": _VERSION,
        "Statement": [
            {
                "Sid": "CTEC2PV6",
                "Effect": "Deny",
                "Action": ["ec2:RequestSpotFleet", "ec2:RequestSpotInstances"],
                "Resource": "*",
                "Condition": {"ArnNotLike": {"aws:PrincipalArn": CONTROL_TOWER_ROLE}},
            }
        ],
    }


def service_control_policies(account_id: str) -> dict[str, dict[str, Any]]:
    """The built-in SCP set, by name."""
    return {
        "require-permissions-boundary": require_boundary(account_id),
        "require-imdsv2": require_imds_v2(),
        "deny-spot-CT.EC2.PV.6": deny_spot(),
    }
