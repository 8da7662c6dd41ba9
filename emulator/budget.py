"""AWS::Budgets::Budget as a CloudFormation resource: moto has the Budgets API, not the resource.

The budget and its NotificationsWithSubscribers go into moto's Budgets backend, so
DescribeBudget and DescribeNotificationsForBudget answer for it. Ref is the budget's name
(CloudFormation makes one when the template gives none). Every update replaces the budget under
its name; deleting the stack deletes it.
"""

from __future__ import annotations

from typing import Any

from moto.budgets.models import budgets_backends
from moto.core.common_models import CloudFormationModel

from annex_emulator.own_resource import OwnResource


def _backend(account_id: str) -> Any:
    return budgets_backends[account_id]["aws"]


def _limit(limit: dict[str, Any] | None) -> dict[str, Any] | None:
    # The API carries amounts as strings; a template may give a number.
    return None if limit is None else {**limit, "Amount": str(limit["Amount"])}


class BudgetResource(OwnResource, CloudFormationModel):
    TYPE = "AWS::Budgets::Budget"
    PHYSICAL_ID = "name"

    def __init__(self, account_id: str, name: str) -> None:
        self.account_id = account_id
        self.name = name

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> BudgetResource:
        props = cloudformation_json.get("Properties") or {}
        budget = dict(props["Budget"])
        budget.setdefault("BudgetName", resource_name)
        if "BudgetLimit" in budget:
            budget["BudgetLimit"] = _limit(budget["BudgetLimit"])
        notifications = [
            {
                "Notification": {
                    **n["Notification"],
                    "Threshold": float(n["Notification"]["Threshold"]),
                },
                "Subscribers": n["Subscribers"],
            }
            for n in props.get("NotificationsWithSubscribers") or []
        ]
        _backend(account_id).create_budget(account_id, budget, notifications)
        return cls(account_id, budget["BudgetName"])

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: BudgetResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> BudgetResource:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        props = cloudformation_json.get("Properties") or {}
        name = (props.get("Budget") or {}).get("BudgetName") or resource_name
        _backend(account_id).delete_budget(account_id, name)

    def delete(self, account_id: str, region_name: str) -> None:
        _backend(account_id).delete_budget(account_id, self.name)
