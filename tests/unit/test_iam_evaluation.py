"""The emulator's IAM evaluator held to AWS's documented policy evaluation logic.

Every case cites the IAM (or Organizations) User Guide page it is taken from, and most quote the
sentence it checks. A case is (policies, request) -> the decision AWS documents; each family has
cases on both sides of its line, so a mutation of the evaluator (a Deny that no longer wins,
IfExists ignored, a wildcard in StringEquals, a prefix match for a scoped ARN) fails one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from annex_emulator.iam_evaluation import (
    ALLOWED,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    PolicySet,
    Request,
    decide,
    evaluate,
    parse_operator,
)

GUIDE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
EVALUATION = GUIDE + "reference_policies_evaluation-logic_policy-eval-denyallow.html"
OPERATORS = GUIDE + "reference_policies_elements_condition_operators.html"
MULTIVALUED = GUIDE + "reference_policies_condition-single-vs-multi-valued-context-keys.html"
RESOURCE = GUIDE + "reference_policies_elements_resource.html"
NOTACTION = GUIDE + "reference_policies_elements_notaction.html"
NOTRESOURCE = GUIDE + "reference_policies_elements_notresource.html"
ACTION = GUIDE + "reference_policies_elements_action.html"
VARIABLES = GUIDE + "reference_policies_variables.html"
BOUNDARIES = GUIDE + "access_policies_boundaries.html"
SCPS = "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html"

ACCOUNT = "111122223333"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"


def stmt(effect: str = "Allow", action: Any = "*", resource: Any = "*", **extra: Any) -> dict:
    s: dict[str, Any] = {"Effect": effect}
    if "NotAction" not in extra:
        s["Action"] = action
    if "NotResource" not in extra:
        s["Resource"] = resource
    s.update(extra)
    return s


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def when(operator: str, key: str, value: Any, action: str = "s3:GetObject") -> dict:
    """A policy allowing `action` on anything when one condition holds."""
    return doc(stmt(action=action, Condition={operator: {key: value}}))


@dataclass
class Case:
    name: str
    source: str
    policy: dict
    action: str
    resource: str = "*"
    context: dict[str, Any] = field(default_factory=dict)
    expected: str = ALLOWED


def allow_get(resource: Any) -> dict:
    return doc(stmt(action="s3:GetObject", resource=resource))


CASES: list[Case] = [
    # --- explicit and implicit deny ---------------------------------------------------------
    Case(
        "nothing applies: implicit deny ('By default, all requests are implicitly denied')",
        EVALUATION,
        doc(stmt(action="ec2:DescribeInstances")),
        "s3:GetObject",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "an explicit deny overrides an explicit allow",
        EVALUATION,
        doc(stmt(), stmt("Deny", action="s3:GetObject")),
        "s3:GetObject",
        expected=EXPLICIT_DENY,
    ),
    Case(
        "the deny wins whatever the order of statements",
        EVALUATION,
        doc(stmt("Deny", action="s3:Get*"), stmt(action="s3:GetObject")),
        "s3:GetObject",
        expected=EXPLICIT_DENY,
    ),
    Case(
        "a deny for another action leaves the allow",
        EVALUATION,
        doc(stmt(), stmt("Deny", action="s3:PutObject")),
        "s3:GetObject",
    ),
    # --- Action / NotAction -----------------------------------------------------------------
    Case(
        "action names are case-insensitive ('prefixes and action names are case insensitive')",
        ACTION,
        doc(stmt(action="S3:getobject")),
        "s3:GetObject",
    ),
    Case(
        "an action wildcard covers the family",
        ACTION,
        doc(stmt(action="s3:Get*")),
        "s3:GetObjectVersion",
    ),
    Case(
        "an action wildcard is no prefix match of another family",
        ACTION,
        doc(stmt(action="s3:Get*")),
        "s3:PutObject",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "Allow with NotAction allows every action not listed",
        NOTACTION,
        doc(stmt(NotAction="iam:*", resource="*")),
        "s3:GetObject",
    ),
    Case(
        "Allow with NotAction does not allow the listed action",
        NOTACTION,
        doc(stmt(NotAction="iam:*", resource="*")),
        "iam:CreateUser",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "Deny with NotAction denies everything not listed",
        NOTACTION,
        doc(stmt(), stmt("Deny", NotAction=["iam:Get*"], resource="*")),
        "s3:GetObject",
        expected=EXPLICIT_DENY,
    ),
    # --- Resource / NotResource, ARN segments -----------------------------------------------
    Case(
        "a scoped ARN matches exactly that resource",
        RESOURCE,
        allow_get(FN + "lease"),
        "s3:GetObject",
        FN + "lease",
    ),
    Case(
        "a scoped ARN does not match a longer one (whole match, not a prefix)",
        RESOURCE,
        allow_get(FN + "lease"),
        "s3:GetObject",
        FN + "lease-extra",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "Resource ARNs are case-sensitive ('the IAM user name is case sensitive')",
        RESOURCE,
        allow_get(f"arn:aws:iam::{ACCOUNT}:user/Bob"),
        "s3:GetObject",
        f"arn:aws:iam::{ACCOUNT}:user/bob",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "a * within a segment does not cross a colon",
        RESOURCE,
        allow_get(f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*-annex"),
        "s3:GetObject",
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:x:y-annex",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "a * that ends a segment 'can expand to match beyond the colon boundaries'",
        RESOURCE,
        allow_get(f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*"),
        "s3:GetObject",
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:x:log-stream:y",
    ),
    Case(
        "a * expands over '/' inside a segment",
        RESOURCE,
        allow_get("arn:aws:s3:::amzn-s3-demo-bucket/*"),
        "s3:GetObject",
        "arn:aws:s3:::amzn-s3-demo-bucket/a/b/c",
    ),
    Case(
        "? matches one character",
        RESOURCE,
        allow_get("arn:aws:s3:::bucket-?"),
        "s3:GetObject",
        "arn:aws:s3:::bucket-12",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "another account does not match a scoped account segment",
        RESOURCE,
        allow_get(FN + "*"),
        "s3:GetObject",
        "arn:aws:lambda:us-east-1:444455556666:function:lease",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "a specific ARN is no grant on * (an action without resource-level permissions)",
        RESOURCE,
        allow_get(FN + "*"),
        "s3:GetObject",
        "*",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "Allow with NotResource allows every other resource",
        NOTRESOURCE,
        doc(stmt(action="s3:GetObject", NotResource="arn:aws:s3:::secret/*")),
        "s3:GetObject",
        "arn:aws:s3:::public/x",
    ),
    Case(
        "Allow with NotResource does not allow the listed one",
        NOTRESOURCE,
        doc(stmt(action="s3:GetObject", NotResource="arn:aws:s3:::secret/*")),
        "s3:GetObject",
        "arn:aws:s3:::secret/x",
        expected=IMPLICIT_DENY,
    ),
    # --- String operators ---------------------------------------------------------------------
    Case(
        "StringEquals: exact, case-sensitive",
        OPERATORS,
        when("StringEquals", "aws:PrincipalTag/team", "Physics"),
        "s3:GetObject",
        context={"aws:PrincipalTag/team": "physics"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "StringEquals takes no wildcards (a * is a literal)",
        OPERATORS,
        when("StringEquals", "aws:PrincipalTag/team", "phys*"),
        "s3:GetObject",
        context={"aws:PrincipalTag/team": "physics"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "StringEquals with several policy values: any one matches",
        OPERATORS,
        when("StringEquals", "aws:PrincipalTag/team", ["chemistry", "physics"]),
        "s3:GetObject",
        context={"aws:PrincipalTag/team": "physics"},
    ),
    Case(
        "StringEqualsIgnoreCase ignores case",
        OPERATORS,
        when("StringEqualsIgnoreCase", "aws:PrincipalTag/team", "PHYSICS"),
        "s3:GetObject",
        context={"aws:PrincipalTag/team": "physics"},
    ),
    Case(
        "StringLike takes * and ?",
        OPERATORS,
        when("StringLike", "s3:prefix", "home/?ob/*"),
        "s3:GetObject",
        context={"s3:prefix": "home/bob/notes"},
    ),
    Case(
        "StringNotEquals with several values: the value must match none of them (logical AND)",
        OPERATORS,
        when("StringNotEquals", "aws:PrincipalTag/team", ["audit", "security"]),
        "s3:GetObject",
        context={"aws:PrincipalTag/team": "security"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "StringNotLike on a present, non-matching value",
        OPERATORS,
        when("StringNotLike", "s3:prefix", "private/*"),
        "s3:GetObject",
        context={"s3:prefix": "public/x"},
    ),
    Case(
        "a positive operator on an absent key is false ('the values do not match')",
        OPERATORS,
        when("StringEquals", "aws:PrincipalTag/team", "physics"),
        "s3:GetObject",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "a negated operator on an absent key is true ('the condition is true')",
        OPERATORS,
        when("StringNotEquals", "aws:PrincipalTag/team", "physics"),
        "s3:GetObject",
    ),
    Case(
        "ArnNotLike on an absent key is true",
        OPERATORS,
        when("ArnNotLike", "aws:SourceArn", FN + "*"),
        "s3:GetObject",
    ),
    Case(
        "a negated operator in a Deny on an absent key denies",
        OPERATORS,
        doc(
            stmt(),
            stmt(
                "Deny",
                action="iam:CreateRole",
                Condition={"StringNotEquals": {"iam:PermissionsBoundary": "arn:b"}},
            ),
        ),
        "iam:CreateRole",
        expected=EXPLICIT_DENY,
    ),
    # --- ...IfExists and Null -----------------------------------------------------------------
    Case(
        "StringEqualsIfExists on an absent key is true",
        OPERATORS,
        when("StringEqualsIfExists", "ec2:InstanceType", "t3.micro"),
        "s3:GetObject",
    ),
    Case(
        "StringEqualsIfExists on a present key tests it",
        OPERATORS,
        when("StringEqualsIfExists", "ec2:InstanceType", "t3.micro"),
        "s3:GetObject",
        context={"ec2:InstanceType": "m5.24xlarge"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "NumericLessThanIfExists on an absent key is true",
        OPERATORS,
        when("NumericLessThanIfExists", "s3:max-keys", "10"),
        "s3:GetObject",
    ),
    Case(
        "BoolIfExists on a present false value",
        OPERATORS,
        when("BoolIfExists", "aws:MultiFactorAuthPresent", "true"),
        "s3:GetObject",
        context={"aws:MultiFactorAuthPresent": "false"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "DateGreaterThanIfExists on an absent key is true",
        OPERATORS,
        when("DateGreaterThanIfExists", "aws:TokenIssueTime", "2020-01-01T00:00:00Z"),
        "s3:GetObject",
    ),
    Case(
        "IpAddressIfExists on an absent key is true",
        OPERATORS,
        when("IpAddressIfExists", "aws:SourceIp", "203.0.113.0/24"),
        "s3:GetObject",
    ),
    Case(
        "ArnLikeIfExists on a present, non-matching value",
        OPERATORS,
        when("ArnLikeIfExists", "aws:SourceArn", FN + "lease*"),
        "s3:GetObject",
        context={"aws:SourceArn": FN + "other"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "Null true: the key is absent",
        OPERATORS,
        when("Null", "aws:TokenIssueTime", "true"),
        "s3:GetObject",
    ),
    Case(
        "Null true: fails when the key is present",
        OPERATORS,
        when("Null", "aws:TokenIssueTime", "true"),
        "s3:GetObject",
        context={"aws:TokenIssueTime": "2020-01-01T00:00:00Z"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "Null false: the key must be present",
        OPERATORS,
        when("Null", "aws:TokenIssueTime", "false"),
        "s3:GetObject",
        expected=IMPLICIT_DENY,
    ),
    # --- Numeric, Date, Bool, Binary, IP ------------------------------------------------------
    Case(
        "NumericLessThan",
        OPERATORS,
        when("NumericLessThan", "s3:max-keys", "10"),
        "s3:GetObject",
        context={"s3:max-keys": "9"},
    ),
    Case(
        "NumericLessThan at the limit",
        OPERATORS,
        when("NumericLessThan", "s3:max-keys", "10"),
        "s3:GetObject",
        context={"s3:max-keys": "10"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "NumericLessThanEquals at the limit",
        OPERATORS,
        when("NumericLessThanEquals", "s3:max-keys", "10"),
        "s3:GetObject",
        context={"s3:max-keys": "10"},
    ),
    Case(
        "NumericGreaterThanEquals below",
        OPERATORS,
        when("NumericGreaterThanEquals", "s3:max-keys", "10"),
        "s3:GetObject",
        context={"s3:max-keys": "3"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "NumericNotEquals",
        OPERATORS,
        when("NumericNotEquals", "s3:max-keys", "10"),
        "s3:GetObject",
        context={"s3:max-keys": "10.0"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "DateLessThan with ISO 8601",
        OPERATORS,
        when("DateLessThan", "aws:CurrentTime", "2030-06-30T00:00:00Z"),
        "s3:GetObject",
        context={"aws:CurrentTime": "2030-06-29T23:59:59Z"},
    ),
    Case(
        "DateGreaterThan with epoch seconds",
        OPERATORS,
        when("DateGreaterThan", "aws:EpochTime", "1900000000"),
        "s3:GetObject",
        context={"aws:EpochTime": "1800000000"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "DateEquals across notations",
        OPERATORS,
        when("DateEquals", "aws:CurrentTime", "2020-01-01T00:00:00Z"),
        "s3:GetObject",
        context={"aws:CurrentTime": "1577836800"},
    ),
    Case(
        "Bool true",
        OPERATORS,
        when("Bool", "aws:SecureTransport", "true"),
        "s3:GetObject",
        context={"aws:SecureTransport": "true"},
    ),
    Case(
        "Bool false does not satisfy true",
        OPERATORS,
        when("Bool", "aws:SecureTransport", True),
        "s3:GetObject",
        context={"aws:SecureTransport": "false"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "BinaryEquals compares the base-64 values",
        OPERATORS,
        when("BinaryEquals", "key", "QmluYXJ5VmFsdWVJbkJhc2U2NA=="),
        "s3:GetObject",
        context={"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="},
    ),
    Case(
        "BinaryEquals on another value",
        OPERATORS,
        when("BinaryEquals", "key", "QmluYXJ5VmFsdWVJbkJhc2U2NA=="),
        "s3:GetObject",
        context={"key": "b3RoZXI="},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "IpAddress in the CIDR range",
        OPERATORS,
        when("IpAddress", "aws:SourceIp", "203.0.113.0/24"),
        "s3:GetObject",
        context={"aws:SourceIp": "203.0.113.7"},
    ),
    Case(
        "NotIpAddress for an address inside the range",
        OPERATORS,
        when("NotIpAddress", "aws:SourceIp", ["203.0.113.0/24", "2001:DB8::/32"]),
        "s3:GetObject",
        context={"aws:SourceIp": "2001:db8::1"},
        expected=IMPLICIT_DENY,
    ),
    # --- ARN operators: segment by segment ----------------------------------------------------
    Case(
        "ArnLike: each of the six colon-delimited parts is checked on its own",
        OPERATORS,
        when("ArnLike", "aws:SourceArn", "arn:aws:lambda:*:*:function:lease*"),
        "s3:GetObject",
        context={"aws:SourceArn": FN + "lease-odi"},
    ),
    Case(
        "ArnLike: a * in the region part does not stretch into the account part",
        OPERATORS,
        when("ArnLike", "aws:SourceArn", f"arn:aws:lambda:us-*:{ACCOUNT}:function:x"),
        "s3:GetObject",
        context={"aws:SourceArn": "arn:aws:lambda:us-east-1:444455556666:function:x"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "ArnLike: a value that is no ARN (fewer than six parts) does not match",
        OPERATORS,
        when("ArnLike", "aws:SourceArn", "arn:aws:*"),
        "s3:GetObject",
        context={"aws:SourceArn": "arn:aws:lambda"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "ArnEquals is matched as ArnLike (same description on the page)",
        OPERATORS,
        when("ArnEquals", "aws:SourceArn", FN + "*"),
        "s3:GetObject",
        context={"aws:SourceArn": FN + "x"},
    ),
    Case(
        "ArnNotLike on a matching value",
        OPERATORS,
        when("ArnNotLike", "aws:SourceArn", FN + "*"),
        "s3:GetObject",
        context={"aws:SourceArn": FN + "x"},
        expected=IMPLICIT_DENY,
    ),
    # --- set operators on multivalued keys ----------------------------------------------------
    Case(
        "ForAllValues: every request value must match one policy value",
        MULTIVALUED,
        when("ForAllValues:ArnLike", "events:TargetArn", FN + "lease*"),
        "s3:GetObject",
        context={"events:TargetArn": [FN + "lease-odi", FN + "lease-sfr"]},
    ),
    Case(
        "ForAllValues: one other value fails it",
        MULTIVALUED,
        when("ForAllValues:ArnLike", "events:TargetArn", FN + "lease*"),
        "s3:GetObject",
        context={"events:TargetArn": [FN + "lease-odi", FN + "mine"]},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "ForAllValues on an absent key is true (no context key in the request)",
        MULTIVALUED,
        when("ForAllValues:StringEquals", "aws:TagKeys", "project"),
        "s3:GetObject",
    ),
    Case(
        "ForAllValues on an empty value set is true as well",
        MULTIVALUED,
        when("ForAllValues:StringEquals", "aws:TagKeys", "project"),
        "s3:GetObject",
        context={"aws:TagKeys": []},
    ),
    Case(
        "ForAllValues with a Null guard: an absent key no longer passes",
        MULTIVALUED,
        doc(
            stmt(
                action="events:PutTargets",
                Condition={
                    "ForAllValues:ArnLike": {"events:TargetArn": FN + "lease*"},
                    "Null": {"events:TargetArn": "false"},
                },
            )
        ),
        "events:PutTargets",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "ForAnyValue: one matching request value is enough",
        MULTIVALUED,
        when("ForAnyValue:StringEquals", "aws:TagKeys", "project"),
        "s3:GetObject",
        context={"aws:TagKeys": ["owner", "project"]},
    ),
    Case(
        "ForAnyValue on an absent key is false",
        MULTIVALUED,
        when("ForAnyValue:StringEquals", "aws:TagKeys", "project"),
        "s3:GetObject",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "ForAnyValue with a negated operator on an absent key is false",
        MULTIVALUED,
        when("ForAnyValue:StringNotEquals", "aws:TagKeys", "project"),
        "s3:GetObject",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "ForAllValues:StringNotEquals: no request value may be listed",
        MULTIVALUED,
        when("ForAllValues:StringNotEquals", "aws:TagKeys", ["admin"]),
        "s3:GetObject",
        context={"aws:TagKeys": ["project", "admin"]},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "a plain ArnLike on a multivalued key passes when any one value matches (why lease "
        "targets need ForAllValues)",
        MULTIVALUED,
        when("ArnLike", "events:TargetArn", FN + "lease*"),
        "s3:GetObject",
        context={"events:TargetArn": [FN + "lease-odi", FN + "mine"]},
    ),
    # --- policy variables ---------------------------------------------------------------------
    Case(
        "${aws:username} in a Resource is the caller's name",
        VARIABLES,
        allow_get(f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"),
        "s3:GetObject",
        f"arn:aws:iam::{ACCOUNT}:user/alice",
        {"aws:username": "alice"},
    ),
    Case(
        "${aws:username} is no wildcard: another user",
        VARIABLES,
        allow_get(f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"),
        "s3:GetObject",
        f"arn:aws:iam::{ACCOUNT}:user/bob",
        {"aws:username": "alice"},
        expected=IMPLICIT_DENY,
    ),
    Case(
        "a variable without a value makes the element match nothing",
        VARIABLES,
        allow_get(f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"),
        "s3:GetObject",
        f"arn:aws:iam::{ACCOUNT}:user/",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "a variable's default value is used when the key is absent",
        VARIABLES,
        allow_get("arn:aws:s3:::bucket/${aws:PrincipalTag/team, 'company-wide'}/*"),
        "s3:GetObject",
        "arn:aws:s3:::bucket/company-wide/x",
    ),
    Case(
        "${*} is a literal asterisk, not a wildcard",
        VARIABLES,
        allow_get("arn:aws:s3:::bucket/${*}"),
        "s3:GetObject",
        "arn:aws:s3:::bucket/anything",
        expected=IMPLICIT_DENY,
    ),
    Case(
        "${*} matches a real asterisk",
        VARIABLES,
        allow_get("arn:aws:s3:::bucket/${*}"),
        "s3:GetObject",
        "arn:aws:s3:::bucket/*",
    ),
    Case(
        "a variable in a condition value",
        VARIABLES,
        when("StringEquals", "s3:prefix", "home/${aws:username}"),
        "s3:GetObject",
        context={"aws:username": "alice", "s3:prefix": "home/alice"},
    ),
    Case(
        "a multivalued key is no policy variable ('you can't use multivalued context keys')",
        MULTIVALUED,
        allow_get("arn:aws:s3:::bucket/${aws:TagKeys}"),
        "s3:GetObject",
        "arn:aws:s3:::bucket/a",
        {"aws:TagKeys": ["a", "b"]},
        expected=IMPLICIT_DENY,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_identity_policy_cases_as_aws_documents_them(case: Case) -> None:
    assert case.source.startswith("https://docs.aws.amazon.com/")
    request = Request(case.action, (case.resource,), case.context)
    assert decide([case.policy], request)[0] == case.expected


def test_every_resource_of_a_request_must_be_allowed() -> None:
    # RunInstances authorizes instance, image, subnet ... each; one refused refuses the call.
    policy = allow_get([FN + "a"])
    assert decide([policy], Request("s3:GetObject", (FN + "a", FN + "b"))) == (
        IMPLICIT_DENY,
        FN + "b",
    )


def test_an_unknown_operator_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="StringEqualz"):
        parse_operator("StringEqualz")
    with pytest.raises(ValueError):
        decide([when("StringEqualz", "k", "v")], Request("s3:GetObject", context={"k": "v"}))


# --- identity ∩ permissions boundary ∩ SCPs (one evaluation) -----------------------------------

ADMIN = doc(stmt())
S3_ONLY = doc(stmt(action="s3:*"))
FULL_AWS_ACCESS = doc(stmt())  # Organizations' default SCP
DENY_SPOT = doc(stmt("Deny", action=["ec2:RequestSpotFleet", "ec2:RequestSpotInstances"]))
REQUIRE_BOUNDARY = doc(
    stmt(
        "Deny",
        action=["iam:CreateRole", "iam:PutRolePolicy"],
        Condition={
            "StringNotEquals": {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/org"}
        },
    )
)


@dataclass
class Layered:
    name: str
    source: str
    policies: PolicySet
    request: Request
    decision: str
    denied_by: str | None = None
    by_boundary: bool | None = None
    by_organizations: bool | None = None


LAYERED = [
    Layered(
        "the boundary caps what the identity policy allows ('allowed by both')",
        BOUNDARIES,
        PolicySet(identity=[ADMIN], boundary=S3_ONLY),
        Request("ec2:RunInstances"),
        IMPLICIT_DENY,
        "boundary",
        by_boundary=False,
    ),
    Layered(
        "the boundary grants nothing by itself",
        BOUNDARIES,
        PolicySet(identity=[doc(stmt(action="ec2:*"))], boundary=ADMIN),
        Request("s3:GetObject"),
        IMPLICIT_DENY,
        "identity",
        by_boundary=True,
    ),
    Layered(
        "allowed by both identity and boundary",
        BOUNDARIES,
        PolicySet(identity=[ADMIN], boundary=S3_ONLY),
        Request("s3:GetObject"),
        ALLOWED,
        by_boundary=True,
    ),
    Layered(
        "an explicit deny in the boundary wins",
        BOUNDARIES,
        PolicySet(identity=[ADMIN], boundary=doc(stmt(), stmt("Deny", action="s3:*"))),
        Request("s3:GetObject"),
        EXPLICIT_DENY,
        "boundary",
        by_boundary=False,
    ),
    Layered(
        "an SCP deny wins over an administrator's allow",
        SCPS,
        PolicySet(identity=[ADMIN], scps=[FULL_AWS_ACCESS, DENY_SPOT]),
        Request("ec2:RequestSpotFleet"),
        EXPLICIT_DENY,
        "organizations",
        by_organizations=False,
    ),
    Layered(
        "SCPs cap the root user too ('the root user ... has full access' inside the SCPs)",
        SCPS,
        PolicySet(root=True, scps=[FULL_AWS_ACCESS, DENY_SPOT]),
        Request("ec2:RequestSpotInstances"),
        EXPLICIT_DENY,
        "organizations",
        by_organizations=False,
    ),
    Layered(
        "the root user is allowed what no SCP denies",
        EVALUATION,
        PolicySet(root=True, scps=[FULL_AWS_ACCESS, DENY_SPOT]),
        Request("iam:CreateRole"),
        ALLOWED,
        by_organizations=True,
    ),
    Layered(
        "SCPs follow a default-deny model: without an Allow (no FullAWSAccess) nothing passes",
        SCPS,
        PolicySet(identity=[ADMIN], scps=[DENY_SPOT]),
        Request("s3:GetObject"),
        IMPLICIT_DENY,
        "organizations",
        by_organizations=False,
    ),
    Layered(
        "SCPs grant nothing: an SCP allow without an identity allow is denied",
        SCPS,
        PolicySet(identity=[], scps=[FULL_AWS_ACCESS]),
        Request("s3:GetObject"),
        IMPLICIT_DENY,
        "identity",
        by_organizations=True,
    ),
    Layered(
        "a boundary-required SCP refuses CreateRole without the boundary",
        SCPS,
        PolicySet(identity=[ADMIN], scps=[FULL_AWS_ACCESS, REQUIRE_BOUNDARY]),
        Request("iam:CreateRole", (f"arn:aws:iam::{ACCOUNT}:role/r",)),
        EXPLICIT_DENY,
        "organizations",
        by_organizations=False,
    ),
    Layered(
        "... and allows it with the organization's boundary",
        SCPS,
        PolicySet(identity=[ADMIN], scps=[FULL_AWS_ACCESS, REQUIRE_BOUNDARY]),
        Request(
            "iam:CreateRole",
            (f"arn:aws:iam::{ACCOUNT}:role/r",),
            {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/org"},
        ),
        ALLOWED,
        by_organizations=True,
    ),
    Layered(
        "identity, boundary and SCP all allow",
        EVALUATION,
        PolicySet(identity=[S3_ONLY], boundary=S3_ONLY, scps=[FULL_AWS_ACCESS]),
        Request("s3:GetObject"),
        ALLOWED,
        by_boundary=True,
        by_organizations=True,
    ),
]


@pytest.mark.parametrize("case", LAYERED, ids=[c.name for c in LAYERED])
def test_boundaries_and_scps_in_the_same_evaluation(case: Layered) -> None:
    assert case.source.startswith("https://docs.aws.amazon.com/")
    result = evaluate(case.policies, case.request)
    assert result.decision == case.decision
    assert result.denied_by == case.denied_by
    detail = result.decisions[0]
    assert detail.allowed_by_boundary == case.by_boundary
    assert detail.allowed_by_organizations == case.by_organizations
