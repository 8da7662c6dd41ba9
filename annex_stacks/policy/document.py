"""The policy documents: the scopes' statements with their actions, families folded in,
resources and conditions filled for one account and region (or as Fn::Sub text).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from annex_stacks import names
from annex_stacks.policy.callers import actions_by_scope
from annex_stacks.policy.scopes import (
    CONDOR_USER_SCOPES,
    GUARDRAIL_SCOPES,
    IMAGE_SCOPES,
    SCOPES,
    lease_target_condition,
)

VERSION: Final = "2012-10-17"
#: IAM's limits on policy size, counted without whitespace (IAM User Guide, "IAM and AWS STS
#: quotas"): one managed policy; all of a role's inline policies; all of a user's.
MANAGED_POLICY_LIMIT: Final = 6144
ROLE_INLINE_LIMIT: Final = 10240
USER_INLINE_LIMIT: Final = 2048
#: Each document keeps at least this share of its limit free with the longest names a setup
#: can have, so that a longer region, bucket or function name never tips it over.
HEADROOM: Final = 0.10


@dataclass(frozen=True)
class Values:
    """What the resource templates are filled with."""

    partition: str
    region: str
    account: str
    bucket: str
    key_pair: str = names.KEY_PAIR_NAME

    def fill(self, text: str) -> str:
        return text.format(
            partition=self.partition,
            region=self.region,
            account=self.account,
            bucket=self.bucket,
            key_pair=self.key_pair,
        )


#: Read-only action families that stand in for the single actions they match, on scopes that
#: hold only annex-cdk's own resources: the same rights, and room under IAM's size limit.
READ_ONLY_FAMILIES: Final[dict[str, tuple[str, ...]]] = {
    "stacks": (
        "cloudformation:Describe*",
        "cloudformation:Detect*",
        "cloudformation:Get*",
        "cloudformation:List*",
    ),
    "bucket": ("s3:Get*", "s3:List*"),
    "iam": ("iam:Get*", "iam:List*"),
    "functions": ("lambda:Get*", "lambda:List*"),
    "no-resource-level": ("logs:Describe*", "ec2:Describe*"),
}


#: Families of changes, likewise only on scopes whose resources are annex-cdk's own (its
#: stacks, roles, profiles, functions and log groups, all by name): each stands for the create
#: and delete pair (or the like) that CloudFormation calls there, to stay under IAM's limit.
OWN_RESOURCE_FAMILIES: Final[dict[str, tuple[str, ...]]] = {
    "stacks": ("cloudformation:*ChangeSet", "cloudformation:*Stack"),
    "iam": ("iam:*InstanceProfile", "iam:*RolePolicy", "iam:UpdateRole*", "iam:*TagRole"),
    "functions": ("lambda:*Permission", "lambda:UpdateFunction*", "lambda:*TagResource"),
    "log-groups": ("logs:*LogGroup", "logs:*RetentionPolicy", "logs:*TagResource"),
    "bucket": ("s3:*BucketPolicy", "s3:*TagResource"),
}


def _collapse(scope: str, actions: set[str]) -> list[str]:
    # A family of changes stands in only where every listed action it matches is granted: a
    # narrower set (the CI plan role's reads) must not gain the writes through it.
    listed = actions_by_scope()[scope]
    changes = [
        f
        for f in OWN_RESOURCE_FAMILIES.get(scope, ())
        if {a for a in listed if fnmatch.fnmatchcase(a, f)} <= actions
    ]
    families = (*READ_ONLY_FAMILIES.get(scope, ()), *changes)
    kept = {a for a in actions if not any(fnmatch.fnmatchcase(a, f) for f in families)}
    used = {f for f in families if any(fnmatch.fnmatchcase(a, f) for a in actions)}
    return sorted(kept | used, key=str.lower)


def _fill(value: Any, values: Values) -> Any:
    if isinstance(value, str):
        return values.fill(value)
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return {k: _fill(v, values) for k, v in value.items()}


@dataclass(frozen=True)
class Grant:
    """One statement before the read-only families are folded in: every single action."""

    scope: str
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]] | None


def grants(
    *,
    region: str,
    account: str,
    bucket: str | None = None,
    key_pair_name: str = names.KEY_PAIR_NAME,
    partition: str | None = None,
    resource_types: Iterable[str] | None = None,
    actions: Mapping[str, Iterable[str]] | None = None,
    lease_functions: Sequence[str] = (),
    build_image: bool = False,
    image_only: bool = False,
    guardrail: bool = False,
    guardrail_only: bool = False,
    condor_user: bool = False,
    condor_user_only: bool = False,
) -> list[Grant]:
    """The statements for one account and region, with resources and conditions filled in.

    `bucket` is the configuration bucket's name (default: the deterministic one). `actions`
    by scope replaces actions_by_scope(resource_types) (the CI roles' narrower sets).
    `lease_functions` are the deployed lease functions' ARNs, which then are the only targets
    a lease rule may get (default: any HTCondorAnnex-* function, for a setup not yet deployed).
    IMAGE_SCOPES come with `build_image` (or with `actions` that name them); `image_only`
    gives them alone, the second document of a setup with the image stack. GUARDRAIL_SCOPES
    likewise with `guardrail` and `guardrail_only`.
    """
    values = Values(
        partition=partition or names.partition_of(region),
        region=region,
        account=account,
        bucket=bucket or names.bucket_name(account, region),
        key_pair=key_pair_name,
    )
    conditions = {
        name: _fill(dict(scope.condition), values) if scope.condition else None
        for name, scope in SCOPES.items()
    }
    explicit = actions is not None  # the comprehension below reuses the name
    if lease_functions:
        conditions["lease-targets"] = lease_target_condition(sorted(lease_functions))
    return [
        Grant(
            scope=name,
            sid=SCOPES[name].sid,
            actions=tuple(sorted(actions, key=str.lower)),
            resources=tuple(values.fill(r) for r in SCOPES[name].resources),
            condition=conditions[name],
        )
        for name, actions in (
            actions_by_scope(resource_types) if actions is None else actions
        ).items()
        if actions
        and _wanted(
            name,
            explicit=explicit,
            image=build_image,
            image_only=image_only,
            guardrail=guardrail,
            guardrail_only=guardrail_only,
            condor_user=condor_user,
            condor_user_only=condor_user_only,
        )
    ]


def _wanted(
    scope: str,
    *,
    explicit: bool,
    image: bool,
    image_only: bool,
    guardrail: bool,
    guardrail_only: bool,
    condor_user: bool,
    condor_user_only: bool,
) -> bool:
    if image_only:
        return scope in IMAGE_SCOPES
    if guardrail_only:
        return scope in GUARDRAIL_SCOPES
    if condor_user_only:
        return scope in CONDOR_USER_SCOPES
    if scope in IMAGE_SCOPES:
        return explicit or image
    if scope in GUARDRAIL_SCOPES:
        return explicit or guardrail
    if scope in CONDOR_USER_SCOPES:
        return explicit or condor_user
    return True


def policy_document(
    *,
    region: str,
    account: str,
    bucket: str | None = None,
    key_pair_name: str = names.KEY_PAIR_NAME,
    partition: str | None = None,
    resource_types: Iterable[str] | None = None,
    actions: Mapping[str, Iterable[str]] | None = None,
    lease_functions: Sequence[str] = (),
    build_image: bool = False,
    image_only: bool = False,
    guardrail: bool = False,
    guardrail_only: bool = False,
    condor_user: bool = False,
    condor_user_only: bool = False,
) -> dict[str, Any]:
    """The IAM policy for one account and region ("*" for either widens to all of them)."""
    statements = []
    for grant in grants(
        region=region,
        account=account,
        bucket=bucket,
        key_pair_name=key_pair_name,
        partition=partition,
        resource_types=resource_types,
        actions=actions,
        lease_functions=lease_functions,
        build_image=build_image,
        image_only=image_only,
        guardrail=guardrail,
        guardrail_only=guardrail_only,
        condor_user=condor_user,
        condor_user_only=condor_user_only,
    ):
        statement: dict[str, Any] = {
            "Sid": grant.sid,
            "Effect": "Allow",
            "Action": _collapse(grant.scope, set(grant.actions)),
            "Resource": grant.resources[0] if len(grant.resources) == 1 else list(grant.resources),
        }
        if grant.condition:
            statement["Condition"] = grant.condition
        statements.append(statement)
    return {"Version": VERSION, "Statement": statements}


def template_document(
    *,
    bucket_expression: str,
    key_pair_name: str,
    resource_types: Iterable[str] | None = None,
    actions: Mapping[str, Iterable[str]] | None = None,
    build_image: bool = False,
    guardrail: bool = False,
) -> dict[str, Any]:
    """The same policy as Fn::Sub text (${AWS::Region} & co.), for a CloudFormation template
    (one inline policy: both documents fit under a role's 10,240 characters)."""
    return policy_document(
        region="${AWS::Region}",
        account="${AWS::AccountId}",
        bucket=bucket_expression,
        key_pair_name=key_pair_name,
        partition="${AWS::Partition}",
        resource_types=resource_types,
        actions=actions,
        build_image=build_image,
        guardrail=guardrail,
    )


def size(document: Mapping[str, Any]) -> int:
    """The length IAM counts against its limits: the JSON without whitespace."""
    return len(json.dumps(document, separators=(",", ":")))


def budget(limit: int) -> int:
    """What a document may use of `limit`, HEADROOM kept free."""
    return int(limit * (1 - HEADROOM))


def split(document: Mapping[str, Any], limit: int = MANAGED_POLICY_LIMIT) -> list[dict[str, Any]]:
    """The document as consecutive documents that each stay within budget(limit), statements
    kept whole and in order (one document when it fits)."""
    documents: list[dict[str, Any]] = []
    current: list[Any] = []
    for statement in document["Statement"]:
        trial = {"Version": VERSION, "Statement": [*current, statement]}
        if current and size(trial) > budget(limit):
            documents.append({"Version": VERSION, "Statement": current})
            current = [statement]
        else:
            current.append(statement)
    documents.append({"Version": VERSION, "Statement": current})
    too_big = [d["Statement"][0].get("Sid") for d in documents if size(d) > budget(limit)]
    if too_big:
        raise ValueError(f"statement {too_big[0]} alone exceeds {budget(limit)} characters")
    return documents


def attachment_advice(documents: Sequence[Mapping[str, Any]]) -> list[str]:
    """Where the documents fit, by principal type: managed policies always (they are split to);
    a role's inline policies when all of them together fit its limit; a user's inline limit is
    too small for them."""
    total = sum(size(d) for d in documents)
    count = f"{len(documents)} document{'s' if len(documents) > 1 else ''} ({total:,} characters)"
    lines = [
        f"{count}: attach each as a customer managed policy (IAM's limit: "
        f"{MANAGED_POLICY_LIMIT:,} characters each) to the user or role that runs annex-cdk."
    ]
    if total <= budget(ROLE_INLINE_LIMIT):
        lines.append(
            f"On a role they may instead be inline policies: a role's inline policies may "
            f"hold {ROLE_INLINE_LIMIT:,} characters in all."
        )
    else:
        lines.append(
            f"Not as a role's inline policies: those hold {ROLE_INLINE_LIMIT:,} characters in all."
        )
    if total > budget(USER_INLINE_LIMIT):
        lines.append(
            f"Not as a user's inline policies: those hold {USER_INLINE_LIMIT:,} characters in all."
        )
    return lines
