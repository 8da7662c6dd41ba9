"""IAM's evaluation of identity policies for one request: action, resource ARNs and the
request's condition context, as AWS documents it ("Policy evaluation logic").

moto 5.2.5 evaluates the caller's policies in server mode, but with `*` as the resource of
almost every call and without condition keys (moto/iam/access_control.py), so a scoped
statement comes out denied and a condition is never tested. This module is the evaluator the
emulator uses instead (annex_emulator.iam_enforcement), and the one the policy tests use. Pure:
no moto, no boto3.

Covered: Allow/Deny, Action/NotAction, Resource/NotResource, `*` and `?` wildcards (actions
case-insensitively, ARNs case-sensitively), policy variables (`${aws:username}`, `${*}` ...),
the string, ARN, Bool and Null condition operators with `...IfExists`, and the
`ForAnyValue:`/`ForAllValues:` set qualifiers. Not covered (unused here): numeric and date
operators, IP addresses, resource-based policies, boundaries and SCPs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

ALLOWED: Final = "allowed"
EXPLICIT_DENY: Final = "explicitDeny"
IMPLICIT_DENY: Final = "implicitDeny"

_VARIABLE = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class Request:
    """What IAM authorizes: one action on each of its resources, with the request's context.

    `context` maps condition keys (case-insensitive) to their values; a key that is absent
    makes every condition on it false (except `...IfExists` and `Null`).
    """

    action: str
    resources: Sequence[str] = ("*",)
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def value(self, key: str) -> list[str] | None:
        lowered = key.lower()
        for name, values in self.context.items():
            if name.lower() == lowered:
                return [values] if isinstance(values, str) else list(values)
        return None


@lru_cache(maxsize=4096)
def _pattern(text: str, case: bool) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in text)
    return re.compile(body, 0 if case else re.IGNORECASE | re.DOTALL)


def wildcard_match(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM's `*` (any run, also across `/` and `:`) and `?` (one character); nothing else
    is special."""
    return _pattern(pattern, case).fullmatch(value) is not None


def _substitute(text: str, request: Request) -> str | None:
    """Policy variables filled from the context; None if one is missing (the element then
    matches nothing, as in IAM). `${*}`, `${?}`, `${$}` (literal characters) are unused here
    and refused rather than approximated."""
    missing = False

    def one(m: re.Match[str]) -> str:
        nonlocal missing
        name = m.group(1)
        if name in {"*", "?", "$"}:
            raise ValueError(f"the policy variable ${{{name}}} is not supported by this evaluator")
        values = request.value(name)
        if not values:
            missing = True
            return ""
        return values[0]

    out = _VARIABLE.sub(one, text)
    return None if missing else out


def _matches_any(patterns: Any, value: str, request: Request, *, case: bool) -> bool:
    for raw in patterns if isinstance(patterns, list) else [patterns]:
        pattern = _substitute(raw, request)
        if pattern is not None and wildcard_match(pattern, value, case=case):
            return True
    return False


def _string_test(operator: str) -> Any:
    def equals(policy: str, value: str) -> bool:
        return policy == value

    def equals_ci(policy: str, value: str) -> bool:
        return policy.lower() == value.lower()

    def like(policy: str, value: str) -> bool:
        return wildcard_match(policy, value)

    def arn_like(policy: str, value: str) -> bool:
        # ArnLike compares the six colon-separated parts one by one (a wildcard stays within
        # its part); the last part, the resource, may itself hold colons.
        p_parts, v_parts = policy.split(":", 5), value.split(":", 5)
        if len(p_parts) != 6 or len(v_parts) != 6:
            return False
        return all(wildcard_match(p, v) for p, v in zip(p_parts, v_parts, strict=True))

    def bool_test(policy: str, value: str) -> bool:
        return policy.lower() == value.lower()

    table = {
        "StringEquals": (equals, False),
        "StringNotEquals": (equals, True),
        "StringEqualsIgnoreCase": (equals_ci, False),
        "StringNotEqualsIgnoreCase": (equals_ci, True),
        "StringLike": (like, False),
        "StringNotLike": (like, True),
        "ArnEquals": (arn_like, False),
        "ArnLike": (arn_like, False),
        "ArnNotEquals": (arn_like, True),
        "ArnNotLike": (arn_like, True),
        "Bool": (bool_test, False),
    }
    if operator not in table:
        raise ValueError(f"condition operator {operator} is not supported by this evaluator")
    return table[operator]


def _condition_holds(operator: str, key: str, policy_values: Any, request: Request) -> bool:
    wanted = [
        str(v) for v in (policy_values if isinstance(policy_values, list) else [policy_values])
    ]
    qualifier = ""
    if ":" in operator and operator.split(":", 1)[0] in {"ForAnyValue", "ForAllValues"}:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    values = request.value(key)
    if operator == "Null":
        is_null = not values
        return any((w.lower() == "true") == is_null for w in wanted)
    test, negated = _string_test(operator)
    if values is None:
        # ForAllValues over no values is vacuously true; IfExists says so; and a negated
        # operator holds (IAM User Guide, condition operators: "If the policy condition
        # requires that the key is not matched, such as StringNotLike or ArnNotLike, and the
        # right key is not present, the condition is true"). Otherwise a missing key fails.
        return if_exists or qualifier == "ForAllValues" or negated
    filled = [w2 for w in wanted if (w2 := _substitute(w, request)) is not None]

    def one(value: str) -> bool:
        hit = any(test(w, value) for w in filled)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def _conditions_hold(block: Mapping[str, Mapping[str, Any]] | None, request: Request) -> bool:
    return all(
        _condition_holds(operator, key, wanted, request)
        for operator, keys in (block or {}).items()
        for key, wanted in keys.items()
    )


def _statement_applies(statement: Mapping[str, Any], request: Request, resource: str) -> bool:
    if "Action" in statement:
        if not _matches_any(statement["Action"], request.action, request, case=False):
            return False
    elif _matches_any(statement["NotAction"], request.action, request, case=False):
        return False
    if "Resource" in statement:
        if not _matches_any(statement["Resource"], resource, request, case=True):
            return False
    elif _matches_any(statement["NotResource"], resource, request, case=True):
        return False
    return _conditions_hold(statement.get("Condition"), request)


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def decide_resource(policies: Iterable[Mapping[str, Any]], request: Request, resource: str) -> str:
    """IAM's decision for the action on one resource: an explicit deny wins, then an allow."""
    allowed = False
    for document in policies:
        for statement in _statements(document):
            if _statement_applies(statement, request, resource):
                if statement["Effect"] == "Deny":
                    return EXPLICIT_DENY
                allowed = True
    return ALLOWED if allowed else IMPLICIT_DENY


def decide(policies: Iterable[Mapping[str, Any]], request: Request) -> tuple[str, str | None]:
    """(decision, the first resource not allowed): the request is allowed only when every
    resource it touches is (RunInstances authorizes the instance, image, subnet ... each)."""
    documents = list(policies)
    for resource in request.resources:
        decision = decide_resource(documents, request, resource)
        if decision != ALLOWED:
            return decision, resource
    return ALLOWED, None
