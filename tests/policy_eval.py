"""The policy tests' view of IAM: which actions a boto3 call needs, and whether a policy document
allows an action, by name alone or (given a resource) as IAM decides it, conditions included
(annex_emulator.iam_evaluation, the evaluator the emulator enforces with)."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from annex_emulator.iam_evaluation import ALLOWED, Request, decide

#: botocore `service:Operation` -> the IAM actions it needs, where that is not simply
#: `<service>:<Operation>` (the boto3 service names annex-cdk uses are their IAM prefixes).
ACTIONS_FOR_OPERATION: dict[str, tuple[str, ...]] = {
    "sts:GetCallerIdentity": (),  # needs no permission, and cannot be denied
    "s3:HeadBucket": ("s3:ListBucket",),
    "s3:ListObjectVersions": ("s3:ListBucketVersions",),
    "s3:ListObjectsV2": ("s3:ListBucket",),
    # destroy deletes object versions by VersionId.
    "s3:DeleteObjects": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    # The key pair's private key is a SecureString (GetParameter WithDecryption).
    "ssm:GetParameter": ("ssm:GetParameter", "kms:Decrypt"),
    "budgets:DescribeBudget": ("budgets:ViewBudget",),
}


def iam_actions(call: str) -> tuple[str, ...]:
    """The IAM actions one recorded `service:Operation` needs."""
    return ACTIONS_FOR_OPERATION.get(call, (call,))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(value: str, patterns: list[str], *, case: bool) -> bool:
    if case:
        return any(fnmatch.fnmatchcase(value, p) for p in patterns)
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


def allows(
    document: Mapping[str, Any],
    action: str,
    resource: str | None = None,
    context: Mapping[str, Sequence[str]] | None = None,
) -> bool:
    """Whether `document` allows `action`: with a resource, as IAM decides it for a request with
    that resource and condition `context` (a missing key fails its condition); without one,
    whether an Allow statement names the action at all (the recorded-call coverage check)."""
    if resource is not None:
        request = Request(action=action, resources=(resource,), context=context or {})
        return decide([document], request)[0] == ALLOWED
    for statement in document["Statement"]:
        assert "NotAction" not in statement and "NotResource" not in statement
        if statement["Effect"] == "Allow" and _matches(
            action, _as_list(statement["Action"]), case=False
        ):
            return True
    return False
