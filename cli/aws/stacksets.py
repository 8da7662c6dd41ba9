"""CloudFormation StackSets, service-managed, as `annex-cdk org` needs them: one StackSet per
stack, its instances in the organization's accounts and Regions, its operations and drift.

Every method answers with plain values or dataclasses; every call carries CallAs (SELF from the
management account, DELEGATED_ADMIN from a delegated administrator).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from annex_cdk.aws.engine import CAPABILITIES
from annex_cdk.aws.service import Service, error_code
from annex_cdk.errors import AnnexError, UsageError

#: Operation states after which nothing changes any more.
ENDED = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
_POLL_FIRST = 0.1
_POLL_MAX = 5.0
#: A StackSet operation across an organization takes minutes on AWS; an hour is a hang.
WAIT_S = 3600.0


#: CloudFormation's answers (ValidationError, by their words) to a caller that may not manage
#: the organization's StackSets as it calls: the user's line and hint for each.
_REFUSALS = (
    (
        "must be the management account or delegated admin account",
        "CloudFormation refuses this account the organization's StackSets: it is not the "
        "management account, and did not call as a delegated administrator",
        "add --delegated-admin in the account registered as the StackSets' delegated "
        "administrator, or run from the management account",
    ),
    (
        "is not a delegated administrator",
        "--delegated-admin: this account is not the organization's delegated administrator "
        "for CloudFormation StackSets",
        "the management account registers it (aws organizations "
        "register-delegated-administrator --service-principal "
        "member.org.stacksets.cloudformation.amazonaws.com), or run without "
        "--delegated-admin from the management account",
    ),
    (
        "must enable organizations access",
        "StackSets' trusted access with Organizations is off, and only the management "
        "account may turn it on",
        "run `annex-cdk org deploy` once from the management account (it activates it), or "
        "`aws cloudformation activate-organizations-access` there",
    ),
)


class _Refusals:
    """The CloudFormation client, whose refusals of the caller's standing in the organization
    become one line saying what to do, whichever call meets them first."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if not callable(call):
            return call

        @functools.wraps(call)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return call(*args, **kwargs)
            except Exception as err:
                if error_code(err) == "ValidationError":
                    for words, message, hint in _REFUSALS:
                        if words in str(err):
                            raise UsageError(message, hint=hint) from None
                raise

        return checked


@dataclass(frozen=True)
class Preferences:
    """OperationPreferences as the user sets them (None: CloudFormation's default)."""

    parallel_regions: bool = True
    failure_tolerance: str | None = None
    max_concurrent: str | None = None
    region_order: tuple[str, ...] = ()

    def as_api(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "RegionConcurrencyType": "PARALLEL" if self.parallel_regions else "SEQUENTIAL"
        }
        if self.region_order:
            found["RegionOrder"] = list(self.region_order)
        for value, count, percent in (
            (self.failure_tolerance, "FailureToleranceCount", "FailureTolerancePercentage"),
            (self.max_concurrent, "MaxConcurrentCount", "MaxConcurrentPercentage"),
        ):
            if value is not None:
                found[percent if value.endswith("%") else count] = int(value.rstrip("%"))
        return found


@dataclass(frozen=True)
class StackSetInfo:
    name: str
    status: str
    template: str
    parameters: dict[str, str]
    tags: dict[str, str]
    auto_deployment: dict[str, Any]
    drift_status: str | None


@dataclass(frozen=True)
class InstanceInfo:
    account: str
    region: str
    ou: str | None
    #: CURRENT, OUTDATED or INOPERABLE.
    status: str
    #: PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED or INOPERABLE.
    detailed: str | None
    reason: str | None
    drift: str | None
    stack_id: str | None


@dataclass(frozen=True)
class OperationResult:
    account: str
    region: str
    status: str
    reason: str | None


@dataclass(frozen=True)
class Operation:
    id: str
    status: str
    reason: str | None
    results: tuple[OperationResult, ...]

    @property
    def ok(self) -> bool:
        return self.status == "SUCCEEDED"


def _pairs(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


class StackSets(Service):
    name = "cloudformation"

    def __init__(self, target: Any, *, delegated_admin: bool = False) -> None:
        super().__init__(target)
        self.call_as = "DELEGATED_ADMIN" if delegated_admin else "SELF"
        self._client = _Refusals(self._client)

    # --- trusted access ----------------------------------------------------------------------
    def ensure_organizations_access(self) -> bool:
        """Activate StackSets' trusted access with Organizations; True if it was off."""
        status = self._client.describe_organizations_access(CallAs=self.call_as)["Status"]
        if status == "ENABLED":
            return False
        self._client.activate_organizations_access()
        return True

    # --- StackSets ---------------------------------------------------------------------------
    def describe(self, name: str) -> StackSetInfo | None:
        try:
            found = self._client.describe_stack_set(StackSetName=name, CallAs=self.call_as)
        except Exception as err:
            if error_code(err) == "StackSetNotFoundException":
                return None
            raise
        stack_set = found["StackSet"]
        if stack_set.get("Status") == "DELETED":
            return None
        return StackSetInfo(
            name=name,
            status=stack_set["Status"],
            template=stack_set.get("TemplateBody", ""),
            parameters={
                p["ParameterKey"]: p.get("ParameterValue", "")
                for p in stack_set.get("Parameters", [])
            },
            tags={t["Key"]: t["Value"] for t in stack_set.get("Tags", [])},
            auto_deployment=dict(stack_set.get("AutoDeployment") or {}),
            drift_status=stack_set.get("StackSetDriftDetectionDetails", {}).get("DriftStatus")
            or stack_set.get("DriftStatus"),
        )

    def create(
        self,
        name: str,
        *,
        template: str,
        description: str,
        parameters: Mapping[str, str],
        tags: Mapping[str, str],
        retain_on_removal: bool,
    ) -> None:
        self._client.create_stack_set(
            StackSetName=name,
            Description=description,
            TemplateBody=template,
            Parameters=_pairs(parameters),
            Capabilities=list(CAPABILITIES),
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            PermissionModel="SERVICE_MANAGED",
            AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": retain_on_removal},
            # Operations on one StackSet queue instead of being refused while one runs.
            ManagedExecution={"Active": True},
            CallAs=self.call_as,
        )

    def update(
        self,
        name: str,
        *,
        template: str,
        description: str,
        parameters: Mapping[str, str],
        tags: Mapping[str, str],
        retain_on_removal: bool,
        preferences: Preferences,
    ) -> str:
        """Update the StackSet and every instance it has; the operation's id."""
        return str(
            self._client.update_stack_set(
                StackSetName=name,
                Description=description,
                TemplateBody=template,
                Parameters=_pairs(parameters),
                Capabilities=list(CAPABILITIES),
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                AutoDeployment={
                    "Enabled": True,
                    "RetainStacksOnAccountRemoval": retain_on_removal,
                },
                OperationPreferences=preferences.as_api(),
                CallAs=self.call_as,
            )["OperationId"]
        )

    def delete(self, name: str) -> None:
        self._client.delete_stack_set(StackSetName=name, CallAs=self.call_as)

    # --- instances ---------------------------------------------------------------------------
    def create_instances(
        self,
        name: str,
        *,
        ous: Sequence[str],
        regions: Sequence[str],
        preferences: Preferences,
        accounts: Sequence[str] = (),
        only_accounts: bool = False,
        overrides: Mapping[str, str] | None = None,
    ) -> str:
        """Instances in the OUs' accounts and `regions`: all of them but `accounts`, or with
        `only_accounts` those accounts only."""
        targets: dict[str, Any] = {"OrganizationalUnitIds": list(ous)}
        if accounts:
            targets["Accounts"] = list(accounts)
            targets["AccountFilterType"] = "INTERSECTION" if only_accounts else "DIFFERENCE"
        kwargs: dict[str, Any] = {}
        if overrides:
            kwargs["ParameterOverrides"] = _pairs(overrides)
        return str(
            self._client.create_stack_instances(
                StackSetName=name,
                DeploymentTargets=targets,
                Regions=list(regions),
                OperationPreferences=preferences.as_api(),
                CallAs=self.call_as,
                **kwargs,
            )["OperationId"]
        )

    def override(
        self,
        name: str,
        *,
        ous: Sequence[str],
        account: str,
        regions: Sequence[str],
        overrides: Mapping[str, str],
        preferences: Preferences,
    ) -> str:
        """Set one account's parameter overrides in `regions` (its existing instances); none
        sets the account back to the StackSet's own values (CloudFormation's reading of an
        empty list)."""
        return str(
            self._client.update_stack_instances(
                StackSetName=name,
                DeploymentTargets={
                    "OrganizationalUnitIds": list(ous),
                    "Accounts": [account],
                    "AccountFilterType": "INTERSECTION",
                },
                Regions=list(regions),
                ParameterOverrides=_pairs(overrides),
                OperationPreferences=preferences.as_api(),
                CallAs=self.call_as,
            )["OperationId"]
        )

    def delete_instances(
        self, name: str, *, ous: Sequence[str], regions: Sequence[str], preferences: Preferences
    ) -> str:
        return str(
            self._client.delete_stack_instances(
                StackSetName=name,
                DeploymentTargets={"OrganizationalUnitIds": list(ous)},
                Regions=list(regions),
                RetainStacks=False,
                OperationPreferences=preferences.as_api(),
                CallAs=self.call_as,
            )["OperationId"]
        )

    def instances(self, name: str) -> list[InstanceInfo]:
        return [
            InstanceInfo(
                account=summary["Account"],
                region=summary["Region"],
                ou=summary.get("OrganizationalUnitId"),
                status=summary.get("Status", ""),
                detailed=summary.get("StackInstanceStatus", {}).get("DetailedStatus"),
                reason=summary.get("StatusReason"),
                drift=summary.get("DriftStatus"),
                stack_id=summary.get("StackId"),
            )
            for summary in self._pages(
                "list_stack_instances", "Summaries", StackSetName=name, CallAs=self.call_as
            )
        ]

    def overrides(self, name: str, account: str, region: str) -> dict[str, str]:
        found = self._client.describe_stack_instance(
            StackSetName=name,
            StackInstanceAccount=account,
            StackInstanceRegion=region,
            CallAs=self.call_as,
        )["StackInstance"]
        return {
            p["ParameterKey"]: p.get("ParameterValue", "")
            for p in found.get("ParameterOverrides", [])
        }

    # --- drift and operations ----------------------------------------------------------------
    def detect_drift(self, name: str, preferences: Preferences) -> str:
        return str(
            self._client.detect_stack_set_drift(
                StackSetName=name,
                OperationPreferences=preferences.as_api(),
                CallAs=self.call_as,
            )["OperationId"]
        )

    def wait(
        self,
        name: str,
        operation_id: str,
        *,
        progress: Callable[[str, str, int, int], None] | None = None,
        timeout: float = WAIT_S,
    ) -> Operation:
        """Poll the operation to its end; `progress(stack set, status, done, total)` on each
        change of what is done."""
        deadline = time.monotonic() + timeout
        delay = _POLL_FIRST
        seen: tuple[str, int] | None = None
        while True:
            status = self._client.describe_stack_set_operation(
                StackSetName=name, OperationId=operation_id, CallAs=self.call_as
            )["StackSetOperation"]
            results = self._results(name, operation_id)
            done = sum(r.status not in ("PENDING", "RUNNING") for r in results)
            if progress is not None and seen != (status["Status"], done):
                seen = (status["Status"], done)
                progress(name, status["Status"], done, len(results))
            if status["Status"] in ENDED:
                return Operation(
                    operation_id, status["Status"], status.get("StatusReason"), tuple(results)
                )
            if time.monotonic() > deadline:
                raise AnnexError(
                    f"StackSet {name}: operation {operation_id} still {status['Status']} "
                    f"after {timeout:.0f} s",
                    hint="see `annex-cdk org status`; the operation goes on in CloudFormation",
                )
            time.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX)

    def _results(self, name: str, operation_id: str) -> list[OperationResult]:
        return [
            OperationResult(r["Account"], r["Region"], r["Status"], r.get("StatusReason"))
            for r in self._pages(
                "list_stack_set_operation_results",
                "Summaries",
                StackSetName=name,
                OperationId=operation_id,
                CallAs=self.call_as,
            )
        ]


def template_equal(deployed: str, wanted: str) -> bool:
    """Whether two template bodies are the same template (JSON, whatever the key order)."""
    try:
        return bool(json.loads(deployed) == json.loads(wanted))
    except ValueError:
        return deployed == wanted
