"""StackSets, their stack instances and their operations, as CloudFormation records them.

One `StackSet` lives in its administrator account and Region (a regional resource); its
instances are (account, Region) pairs, each with the stack it created there (named
`StackSet-<name>-<uuid>`, as AWS names them); its operations keep their per-instance results.
The records hang on moto's CloudFormation backend of the administrator's account and Region
(`stack_sets_of`), so the emulator's reset forgets them with everything else.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from moto.cloudformation.models import CloudFormationBackend, cloudformation_backends
from moto.core.utils import utcnow

#: Operation states in which another operation of the same StackSet must wait or be refused.
ACTIVE = frozenset({"QUEUED", "RUNNING", "STOPPING"})


@dataclass
class Instance:
    account: str
    region: str
    ou: str | None
    overrides: dict[str, str] = field(default_factory=dict)
    stack_id: str | None = None
    #: CURRENT, OUTDATED or INOPERABLE (API_StackInstance).
    status: str = "OUTDATED"
    #: PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, INOPERABLE.
    detailed: str = "PENDING"
    reason: str | None = None
    last_operation: str | None = None
    drift: str = "NOT_CHECKED"
    drift_checked: datetime | None = None

    def to_dict(self, stack_set: StackSet) -> dict[str, Any]:
        found: dict[str, Any] = {
            "StackSetId": stack_set.id,
            "Region": self.region,
            "Account": self.account,
            "Status": self.status,
            "StackInstanceStatus": {"DetailedStatus": self.detailed},
            "ParameterOverrides": [
                {"ParameterKey": k, "ParameterValue": v} for k, v in self.overrides.items()
            ],
            "DriftStatus": self.drift,
        }
        optional = {
            "StackId": self.stack_id,
            "StatusReason": self.reason,
            "OrganizationalUnitId": self.ou,
            "LastOperationId": self.last_operation,
            "LastDriftCheckTimestamp": self.drift_checked,
        }
        found.update({k: v for k, v in optional.items() if v is not None})
        return found


@dataclass
class Result:
    """One account and Region of an operation (ListStackSetOperationResults)."""

    account: str
    region: str
    ou: str | None
    status: str = "PENDING"
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "Account": self.account,
            "Region": self.region,
            "Status": self.status,
            "AccountGateResult": {
                "Status": "SKIPPED",
                "StatusReason": "No account gate function in the target account",
            },
        }
        if self.reason:
            found["StatusReason"] = self.reason
        if self.ou:
            found["OrganizationalUnitId"] = self.ou
        return found


@dataclass
class Operation:
    id: str
    #: CREATE, UPDATE, DELETE or DETECT_DRIFT.
    action: str
    results: list[Result]
    preferences: dict[str, Any] = field(default_factory=dict)
    retain_stacks: bool = False
    #: ParameterOverrides as given (UsePreviousValue keeps an instance's value), or None to
    #: leave every instance's overrides as they are.
    overrides: list[dict[str, Any]] | None = None
    status: str = "QUEUED"
    reason: str | None = None
    created: datetime = field(default_factory=utcnow)
    ended: datetime | None = None
    stop_requested: bool = False

    def to_dict(self, stack_set: StackSet, *, summary: bool = False) -> dict[str, Any]:
        found: dict[str, Any] = {
            "OperationId": self.id,
            "Action": self.action,
            "Status": self.status,
            "CreationTimestamp": self.created,
        }
        if self.ended is not None:
            found["EndTimestamp"] = self.ended
        if self.reason:
            found["StatusReason"] = self.reason
        if summary:
            found["OperationPreferences"] = self.preferences
            return found
        found.update(
            {
                "StackSetId": stack_set.id,
                "OperationPreferences": self.preferences,
                "RetainStacks": self.retain_stacks,
                "AdministrationRoleARN": stack_set.admin_role_arn,
                "ExecutionRoleName": stack_set.execution_role_name,
            }
        )
        if self.action == "DETECT_DRIFT":
            found["StackSetDriftDetectionDetails"] = stack_set.drift_details()
        return found


@dataclass
class StackSet:
    name: str
    account: str
    region: str
    template: str
    parameters: dict[str, str]
    capabilities: list[str]
    permission_model: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    auto_deployment: dict[str, Any] | None = None
    managed_execution: bool = False
    admin_role_arn: str | None = None
    execution_role_name: str | None = None
    status: str = "ACTIVE"
    id: str = ""
    instances: dict[tuple[str, str], Instance] = field(default_factory=dict)
    operations: list[Operation] = field(default_factory=list)
    #: The OUs deployed to, each with the Regions deployed there (automatic deployment uses them).
    targets: dict[str, list[str]] = field(default_factory=dict)
    drift_status: str = "NOT_CHECKED"
    drift_detection_status: str | None = None
    drift_checked: datetime | None = None
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = f"{self.name}:{uuid.uuid4()}"

    @property
    def arn(self) -> str:
        return f"arn:aws:cloudformation:{self.region}:{self.account}:stackset/{self.id}"

    def stack_name(self) -> str:
        return f"StackSet-{self.name}-{uuid.uuid4()}"

    def operation(self, operation_id: str) -> Operation | None:
        return next((o for o in self.operations if o.id == operation_id), None)

    def busy(self) -> bool:
        return any(o.status in ACTIVE for o in self.operations)

    def drift_details(self) -> dict[str, Any]:
        instances = list(self.instances.values())
        found: dict[str, Any] = {
            "DriftStatus": self.drift_status,
            "TotalStackInstancesCount": len(instances),
            "DriftedStackInstancesCount": sum(i.drift == "DRIFTED" for i in instances),
            "InSyncStackInstancesCount": sum(i.drift == "IN_SYNC" for i in instances),
            "InProgressStackInstancesCount": 0,
            "FailedStackInstancesCount": sum(i.drift == "UNKNOWN" for i in instances),
        }
        if self.drift_detection_status:
            found["DriftDetectionStatus"] = self.drift_detection_status
        if self.drift_checked:
            found["LastDriftCheckTimestamp"] = self.drift_checked
        return found

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "StackSetName": self.name,
            "StackSetId": self.id,
            "StackSetARN": self.arn,
            "Status": self.status,
            "TemplateBody": self.template,
            # Maps: moto's serializer turns these two into AWS's lists itself.
            "Parameters": dict(self.parameters),
            "Capabilities": self.capabilities,
            "Tags": dict(self.tags),
            "PermissionModel": self.permission_model,
            "ManagedExecution": {"Active": self.managed_execution},
            "StackSetDriftDetectionDetails": self.drift_details(),
            "Regions": sorted({i.region for i in self.instances.values()}),
        }
        if self.description is not None:
            found["Description"] = self.description
        if self.permission_model == "SERVICE_MANAGED":
            found["AutoDeployment"] = self.auto_deployment or {"Enabled": False}
            found["OrganizationalUnitIds"] = list(self.targets)
        else:
            found["AdministrationRoleARN"] = self.admin_role_arn
            found["ExecutionRoleName"] = self.execution_role_name
        return found

    def summary(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "StackSetName": self.name,
            "StackSetId": self.id,
            "Status": self.status,
            "PermissionModel": self.permission_model,
            "DriftStatus": self.drift_status,
            "ManagedExecution": {"Active": self.managed_execution},
        }
        if self.description is not None:
            found["Description"] = self.description
        if self.permission_model == "SERVICE_MANAGED":
            found["AutoDeployment"] = self.auto_deployment or {"Enabled": False}
        if self.drift_checked:
            found["LastDriftCheckTimestamp"] = self.drift_checked
        return found


def stack_sets_of(backend: CloudFormationBackend) -> dict[str, StackSet]:
    """The StackSets of one administrator account and Region, by id (deleted ones included)."""
    found = backend.__dict__.get("annex_stack_sets")
    if found is None:
        found = backend.__dict__.setdefault("annex_stack_sets", {})
    return found  # type: ignore[no-any-return]  # moto's backend lookups are unannotated


def all_stack_sets() -> list[StackSet]:
    """Every StackSet of every account and Region the emulator has seen (never creates one)."""
    found: list[StackSet] = []
    for account in list(cloudformation_backends.keys()):
        regions = cloudformation_backends[account]
        for region in list(regions.keys()):
            found.extend(stack_sets_of(regions[region]).values())
    return found
