"""IAM's decision for one request: action, resource ARNs and the request's condition context,
evaluated against identity policies, a permissions boundary and the organization's SCPs, as AWS
documents it ("Policy evaluation logic", IAM User Guide).

moto 5.2.5 evaluates the caller's policies in server mode, but with `*` as the resource of
almost every call and without condition keys (moto/iam/access_control.py), so a scoped
statement comes out denied and a condition is never tested. This module is the evaluator the
emulator uses instead (annex_emulator.iam_enforcement), and the one the policy tests use. Pure:
no moto, no boto3. Its own tests (tests/unit/test_iam_evaluation.py) are taken from AWS's pages.

Covered: Allow/Deny, Action/NotAction (case-insensitive), Resource/NotResource (case-sensitive;
a `*` stays within its ARN segment unless it ends one), every condition operator family (String,
Numeric, Date, Bool, Binary, IP address, ARN) with `...IfExists`, `Null`, the `ForAnyValue:` /
`ForAllValues:` set operators, policy variables (with defaults, and `${*}` `${?}` `${$}`), and
the intersection identity ∩ permissions boundary ∩ SCPs where an explicit Deny anywhere wins.
Not covered (unused here): resource-based policies, session policies, RCPs.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

ALLOWED: Final = "allowed"
EXPLICIT_DENY: Final = "explicitDeny"
IMPLICIT_DENY: Final = "implicitDeny"

#: `${key}` or `${key, 'default'}` (a quote inside the default is doubled).
_VARIABLE = re.compile(r"\$\{\s*([^}',\s]+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?\}")
#: Policy-variable escapes for characters that are otherwise special: kept literal in a pattern.
_LITERAL = {"*": "\ue000", "?": "\ue001", "$": "$"}
_UNLITERAL = {"\ue000": "*", "\ue001": "?"}


@dataclass(frozen=True)
class Request:
    """What IAM authorizes: one action on each of its resources, with the request's context.

    `context` maps condition keys (case-insensitive) to their values; a key that is absent (or
    has no values) makes a positive condition on it false, a negated one true (AWS: "If the
    policy condition requires that the key is not matched ... and the right key is not present,
    the condition is true"), `...IfExists` and `ForAllValues:` true, `ForAnyValue:` false.
    """

    action: str
    resources: Sequence[str] = ("*",)
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def value(self, key: str) -> list[str] | None:
        lowered = key.lower()
        for name, values in self.context.items():
            if name.lower() == lowered:
                found = [values] if isinstance(values, str) else list(values)
                return found or None
        return None

    def with_context(self, extra: Mapping[str, Sequence[str]]) -> Request:
        return Request(self.action, self.resources, {**self.context, **extra})


@lru_cache(maxsize=4096)
def _pattern(text: str, case: bool, arn: bool) -> re.Pattern[str]:
    """IAM's `*` (any run) and `?` (one character); nothing else is special. In a resource ARN
    (`arn`), a wildcard stays within its colon-separated segment, except a `*` that ends one:
    that one "can expand to match beyond the colon boundaries" (the Resource element's page)."""
    body = []
    for i, ch in enumerate(text):
        if ch == "*":
            ends_segment = i + 1 == len(text) or text[i + 1] == ":"
            body.append(".*" if not arn or ends_segment else "[^:]*")
        elif ch == "?":
            body.append("[^:]" if arn else ".")
        else:
            body.append(re.escape(_UNLITERAL.get(ch, ch)))
    return re.compile("".join(body), (0 if case else re.IGNORECASE) | re.DOTALL)


def wildcard_match(pattern: str, value: str, *, case: bool = True, arn: bool = False) -> bool:
    """Whether `value` matches the whole of `pattern` (never a prefix of it)."""
    return _pattern(pattern, case, arn).fullmatch(value) is not None


def _substitute(text: str, request: Request) -> str | None:
    """Policy variables filled from the request context; None when one has no value and no
    default (the element then matches nothing, as in IAM). A multivalued key is no variable."""
    missing = False

    def one(m: re.Match[str]) -> str:
        nonlocal missing
        name, default = m.group(1), m.group(2)
        if name in _LITERAL:
            return _LITERAL[name]
        values = request.value(name)
        if values is not None and len(values) == 1:
            return values[0].replace("*", _LITERAL["*"]).replace("?", _LITERAL["?"])
        if default is not None:
            return default.replace("''", "'")
        missing = True
        return ""

    out = _VARIABLE.sub(one, text)
    return None if missing else out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches_any(patterns: Any, value: str, request: Request, *, resource: bool) -> bool:
    for raw in _as_list(patterns):
        # Policy variables belong in Resource and Condition, not in Action.
        pattern = _substitute(raw, request) if resource else raw
        if pattern is None:
            continue
        if resource and wildcard_match(pattern, value, case=True, arn=pattern.startswith("arn:")):
            return True
        if not resource and wildcard_match(pattern, value, case=False):
            return True
    return False


# --- condition operators ------------------------------------------------------------------------

Test = Callable[[str, str], bool]


def _arn_like(policy: str, value: str) -> bool:
    # ARN operators compare the six colon-separated parts one by one (a wildcard stays within its
    # part); the last part, the resource, may itself hold colons.
    p_parts, v_parts = policy.split(":", 5), value.split(":", 5)
    if len(p_parts) != 6 or len(v_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(p_parts, v_parts, strict=True))


def _number(text: str) -> float:
    return float(text)


def _date(text: str) -> datetime:
    """ISO 8601 (a date, or a date and time) or epoch seconds, as the Date operators take."""
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(convert: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> Test:
    def run(policy: str, value: str) -> bool:
        try:
            return bool(test(convert(value), convert(policy)))
        except ValueError:  # an unparsable value matches nothing
            return False

    return run


def _ip(policy: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(policy, strict=False)
    except ValueError:
        return False


def _binary(policy: str, value: str) -> bool:
    try:
        return base64.b64decode(policy, validate=True) == base64.b64decode(value, validate=True)
    except ValueError:
        return False


_EQ, _LT, _LE = (lambda a, b: a == b), (lambda a, b: a < b), (lambda a, b: a <= b)
_GT, _GE = (lambda a, b: a > b), (lambda a, b: a >= b)

#: operator -> (test of one request value against one policy value, negated).
OPERATORS: Final[dict[str, tuple[Test, bool]]] = {
    "StringEquals": ((lambda p, v: p == v), False),
    "StringNotEquals": ((lambda p, v: p == v), True),
    "StringEqualsIgnoreCase": ((lambda p, v: p.lower() == v.lower()), False),
    "StringNotEqualsIgnoreCase": ((lambda p, v: p.lower() == v.lower()), True),
    "StringLike": ((lambda p, v: wildcard_match(p, v)), False),
    "StringNotLike": ((lambda p, v: wildcard_match(p, v)), True),
    "NumericEquals": (_compare(_number, _EQ), False),
    "NumericNotEquals": (_compare(_number, _EQ), True),
    "NumericLessThan": (_compare(_number, _LT), False),
    "NumericLessThanEquals": (_compare(_number, _LE), False),
    "NumericGreaterThan": (_compare(_number, _GT), False),
    "NumericGreaterThanEquals": (_compare(_number, _GE), False),
    "DateEquals": (_compare(_date, _EQ), False),
    "DateNotEquals": (_compare(_date, _EQ), True),
    "DateLessThan": (_compare(_date, _LT), False),
    "DateLessThanEquals": (_compare(_date, _LE), False),
    "DateGreaterThan": (_compare(_date, _GT), False),
    "DateGreaterThanEquals": (_compare(_date, _GE), False),
    "Bool": ((lambda p, v: p.lower() == v.lower()), False),
    "BinaryEquals": (_binary, False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
}
#: Operators whose policy values may hold policy variables (the variables page's list).
_VARIABLE_OPERATORS = ("String", "Arn", "Bool", "Date", "Numeric", "NotIp", "Ip")


def parse_operator(operator: str) -> tuple[str, str, bool]:
    """(set qualifier or "", base operator, IfExists) of a condition operator; ValueError if
    IAM knows no such operator."""
    qualifier = ""
    if operator.startswith(("ForAnyValue:", "ForAllValues:")):
        qualifier, operator = operator.split(":", 1)
    if_exists = operator != "Null" and operator.endswith("IfExists")
    base = operator.removesuffix("IfExists") if if_exists else operator
    if base != "Null" and base not in OPERATORS:
        raise ValueError(f"IAM has no condition operator {operator}")
    return qualifier, base, if_exists


def _condition_holds(operator: str, key: str, policy_values: Any, request: Request) -> bool:
    qualifier, base, if_exists = parse_operator(operator)
    wanted = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(policy_values)]
    values = request.value(key)
    if base == "Null":
        return any((w.lower() == "true") == (values is None) for w in wanted)
    test, negated = OPERATORS[base]
    if values is None:
        if qualifier == "ForAllValues":
            return True  # vacuously: no value fails
        if qualifier == "ForAnyValue":
            return False  # no value matches
        return if_exists or negated
    if base.startswith(_VARIABLE_OPERATORS):
        filled = [w2 for w in wanted if (w2 := _substitute(w, request)) is not None]
    else:
        filled = wanted

    def one(value: str) -> bool:
        # Several policy values: any one matches; negated, the value must match none of them.
        hit = any(test(w, value) for w in filled)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def _conditions_hold(block: Mapping[str, Mapping[str, Any]] | None, request: Request) -> bool:
    # Operators and keys in one Condition element are ANDed.
    return all(
        _condition_holds(operator, key, wanted, request)
        for operator, keys in (block or {}).items()
        for key, wanted in keys.items()
    )


def _statement_applies(statement: Mapping[str, Any], request: Request, resource: str) -> bool:
    if "Action" in statement:
        if not _matches_any(statement["Action"], request.action, request, resource=False):
            return False
    elif "NotAction" not in statement or _matches_any(
        statement["NotAction"], request.action, request, resource=False
    ):
        return False
    if "Resource" in statement:
        if not _matches_any(statement["Resource"], resource, request, resource=True):
            return False
    elif "NotResource" in statement and _matches_any(
        statement["NotResource"], resource, request, resource=True
    ):
        return False
    return _conditions_hold(statement.get("Condition"), request)


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return _as_list(document.get("Statement", []))


def decide_resource(policies: Iterable[Mapping[str, Any]], request: Request, resource: str) -> str:
    """One policy type's decision for the action on one resource: an explicit deny wins, then
    an allow; nothing that applies is an implicit deny."""
    allowed = False
    for document in policies:
        for statement in statements(document):
            if _statement_applies(statement, request, resource):
                if statement["Effect"] == "Deny":
                    return EXPLICIT_DENY
                allowed = True
    return ALLOWED if allowed else IMPLICIT_DENY


def decide(policies: Iterable[Mapping[str, Any]], request: Request) -> tuple[str, str | None]:
    """Identity policies alone: (decision, the first resource not allowed). The request is
    allowed only when every resource it touches is (RunInstances: instance, image, subnet ...)."""
    return evaluate(PolicySet(identity=tuple(policies)), request).outcome


# --- identity ∩ boundary ∩ SCPs -----------------------------------------------------------------


@dataclass(frozen=True)
class PolicySet:
    """Every policy that applies to a principal of one account.

    `root`: the account's root user, whose identity "has full access" (the deny/allow page) and
    which no boundary limits; SCPs still do. `boundary`: the user's or role's permissions
    boundary, None if it has none. `scps`: the organization's SCPs for the account, None when
    the account is in no organization (then nothing is capped)."""

    identity: Sequence[Mapping[str, Any]] = ()
    boundary: Mapping[str, Any] | None = None
    scps: Sequence[Mapping[str, Any]] | None = None
    root: bool = False


@dataclass(frozen=True)
class Decision:
    """One resource's decision and each policy type's part in it (what SimulatePrincipalPolicy
    reports as EvalDecision, PermissionsBoundaryDecisionDetail, OrganizationsDecisionDetail)."""

    resource: str
    decision: str
    identity: str
    boundary: str | None
    organizations: str | None

    @property
    def allowed_by_boundary(self) -> bool | None:
        return None if self.boundary is None else self.boundary == ALLOWED

    @property
    def allowed_by_organizations(self) -> bool | None:
        return None if self.organizations is None else self.organizations == ALLOWED


@dataclass(frozen=True)
class Evaluation:
    action: str
    decisions: tuple[Decision, ...]

    @property
    def decision(self) -> str:
        for one in self.decisions:
            if one.decision != ALLOWED:
                return one.decision
        return ALLOWED

    @property
    def outcome(self) -> tuple[str, str | None]:
        for one in self.decisions:
            if one.decision != ALLOWED:
                return one.decision, one.resource
        return ALLOWED, None

    @property
    def denial(self) -> tuple[str, str] | None:
        """(policy type, its decision) that refused the request: "organizations", "boundary"
        or "identity", an explicit deny first; None when it is allowed."""
        for one in self.decisions:
            if one.decision == ALLOWED:
                continue
            parts = (
                ("organizations", one.organizations),
                ("boundary", one.boundary),
                ("identity", one.identity),
            )
            for wanted in (EXPLICIT_DENY, IMPLICIT_DENY):
                for name, part in parts:
                    if part == wanted:
                        return name, part
        return None

    @property
    def denied_by(self) -> str | None:
        return None if self.denial is None else self.denial[0]


_WHY: Final = {
    ("organizations", EXPLICIT_DENY): "with an explicit deny in a service control policy",
    ("organizations", IMPLICIT_DENY): "because no service control policy allows the {} action",
    ("boundary", EXPLICIT_DENY): "with an explicit deny in a permissions boundary",
    ("boundary", IMPLICIT_DENY): "because no permissions boundary allows the {} action",
    ("identity", EXPLICIT_DENY): "with an explicit deny in an identity-based policy",
    ("identity", IMPLICIT_DENY): "because no identity-based policy allows the {} action",
}


def denial_message(principal_arn: str, evaluation: Evaluation) -> str:
    """AWS's AccessDenied message for a refused request, naming the policy type that refused
    it (an SCP, a permissions boundary or the identity's own policies)."""
    _, resource = evaluation.outcome
    kind = evaluation.denial or ("identity", IMPLICIT_DENY)
    why = _WHY[kind].format(evaluation.action)
    return (
        f"User: {principal_arn} is not authorized to perform: {evaluation.action} "
        f"on resource: {resource} {why}"
    )


def _combine(*parts: str | None) -> str:
    present = [p for p in parts if p is not None]
    if EXPLICIT_DENY in present:
        return EXPLICIT_DENY
    return ALLOWED if all(p == ALLOWED for p in present) else IMPLICIT_DENY


def evaluate(policies: PolicySet, request: Request) -> Evaluation:
    """The request as AWS decides it within one account: denied if any policy type explicitly
    denies it; else allowed only if the SCPs, the boundary (where there is one) and the identity
    policies each allow it, for every resource it touches."""
    decisions = []
    for resource in request.resources:
        scp = None if policies.scps is None else decide_resource(policies.scps, request, resource)
        boundary = (
            None
            if policies.boundary is None
            else decide_resource([policies.boundary], request, resource)
        )
        identity = (
            ALLOWED if policies.root else decide_resource(policies.identity, request, resource)
        )
        decisions.append(
            Decision(resource, _combine(scp, boundary, identity), identity, boundary, scp)
        )
    return Evaluation(request.action, tuple(decisions))
