"""iam:SimulatePrincipalPolicy, which moto lacks: the principal's identity policies, its
permissions boundary and the organization's SCPs, evaluated by annex_emulator.iam_evaluation
for each action and resource, with the details AWS reports (EvalDecision per resource,
PermissionsBoundaryDecisionDetail, OrganizationsDecisionDetail, MissingContextValues).

Not simulated (unused by annex-cdk): PolicyInputList, PermissionsBoundaryPolicyInputList,
ResourcePolicy, ResourceOwner, CallerArn, ResourceHandlingOption; pagination (every result is
in the first page).
"""

from __future__ import annotations

from typing import Any

from annex_emulator import iam_principals
from annex_emulator.iam_evaluation import Decision, Request, evaluate, statements


def _context(response: Any) -> dict[str, list[str]]:
    return {
        entry["ContextKeyName"]: [str(v) for v in entry.get("ContextKeyValues") or []]
        for entry in response._get_param("ContextEntries", [])
    }


def _condition_keys(documents: list[Any]) -> set[str]:
    keys: set[str] = set()
    for document in documents:
        for statement in statements(document):
            for block in (statement.get("Condition") or {}).values():
                keys.update(block)
    return keys


def _detail(decision: Decision) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if decision.allowed_by_boundary is not None:
        detail["PermissionsBoundaryDecisionDetail"] = {
            "AllowedByPermissionsBoundary": decision.allowed_by_boundary
        }
    if decision.allowed_by_organizations is not None:
        detail["OrganizationsDecisionDetail"] = {
            "AllowedByOrganizations": decision.allowed_by_organizations
        }
    return detail


def simulate_principal_policy(self: Any) -> Any:
    """IamResponse.simulate_principal_policy (added: moto has no such handler)."""
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import NotFoundException

    source = self._get_param("PolicySourceArn")
    actions = self._get_param("ActionNames", [])
    resources = self._get_param("ResourceArns", []) or ["*"]
    try:
        principal = iam_principals.of_arn(self.current_account, source)
    except LookupError:
        raise NotFoundException(f"The user or role {source} cannot be found.") from None
    context = _context(self)
    documents = [*principal.policies.identity]
    if principal.policies.boundary is not None:
        documents.append(principal.policies.boundary)
    documents += principal.policies.scps or []
    missing = sorted(
        k for k in _condition_keys(documents) if k.lower() not in {c.lower() for c in context}
    )
    results = []
    for action in actions:
        request = principal.request(Request(action, tuple(resources), context), self.region)
        evaluation = evaluate(principal.policies, request)
        first = evaluation.decisions[0]
        result: dict[str, Any] = {
            "EvalActionName": action,
            "EvalResourceName": first.resource if len(resources) == 1 else "*",
            "EvalDecision": evaluation.decision,
            "MatchedStatements": [],
            "MissingContextValues": missing,
            **_detail(first),
        }
        if resources != ["*"]:
            result["ResourceSpecificResults"] = [
                {
                    "EvalResourceName": one.resource,
                    "EvalResourceDecision": one.decision,
                    "MatchedStatements": [],
                    "MissingContextValues": missing,
                    **_detail(one),
                }
                for one in evaluation.decisions
            ]
        results.append(result)
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})
