"""Bucket-policy conditions: S3 requests are judged as if they came in over HTTPS.

Replaces FakeBucket.get_permission (see `annex_emulator.teach`): moto treated an operator it
does not know, such as Bool, as satisfied, so CDK's enforce-SSL statement denied everything.
"""

from __future__ import annotations

import json
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.s3.models import FakeBucket

from annex_emulator.patches import ORIGINALS

#: The request context the emulator evaluates bucket-policy conditions against. Clients talk to
#: it over plain HTTP on loopback, but it stands in for AWS's HTTPS endpoints.
_REQUEST_CONTEXT = {"aws:securetransport": "true"}


def _condition_applies(condition: dict[str, Any]) -> bool:
    """Evaluate the Bool/BoolIfExists conditions the emulator has context for.

    A condition it has no context for makes the statement not apply: the emulator knows nothing
    about the caller beyond "came in over TLS" and must not invent denials (moto's own check
    treats an operator it does not know, such as Bool, as satisfied, so CDK's enforce-SSL
    statement denied every object request).
    """
    for operator, clauses in condition.items():
        if operator not in ("Bool", "BoolIfExists") or not isinstance(clauses, dict):
            return False
        for key, expected in clauses.items():
            actual = _REQUEST_CONTEXT.get(key.lower())
            if actual is None:
                return False
            values = expected if isinstance(expected, list) else [expected]
            if actual not in [str(v).lower() for v in values]:
                return False
    return True


def bucket_get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    """Replacement for FakeBucket.get_permission that evaluates conditions (see above)."""
    if self.policy is None:
        return PermissionResult.NEUTRAL
    try:
        document = json.loads(self.policy)
    except ValueError:
        return ORIGINALS["FakeBucket.get_permission"](self, action, resource)
    statements = document.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    applicable = []
    for statement in statements:
        condition = statement.get("Condition")
        if condition:
            if not _condition_applies(condition):
                continue
            statement = {k: v for k, v in statement.items() if k != "Condition"}
        applicable.append(statement)
    if not applicable:
        return PermissionResult.NEUTRAL
    policy = {"Version": document.get("Version", "2012-10-17"), "Statement": applicable}
    return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)
