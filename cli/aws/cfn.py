"""CloudFormation, as the use cases need it, beside the deploy engine: a stack's resources,
its outputs and template, drift detection, and a read-only change set."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from annex_cdk.aws.change_set import ChangeSetReading, read_change_set
from annex_cdk.aws.engine import CAPABILITIES, Engine, Progress
from annex_cdk.aws.service import Service

_DRIFT_WAIT_S = 60.0
#: The waits between polls of a drift detection: the first poll is at once (a small stack's
#: verdict can be ready), then a short backoff capped at a second, so that a verdict is never
#: waited for long past its coming.
_DRIFT_FIRST_DELAY_S = 0.25
_DRIFT_BACKOFF = 1.5
_DRIFT_MAX_DELAY_S = 1.0


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    physical_id: str | None
    resource_type: str
    status: str


@dataclass(frozen=True)
class Drift:
    """CloudFormation's drift verdict on a stack: `status` None or IN_SYNC is no drift;
    `resources` the (logical id, MODIFIED/DELETED) of each drifted resource."""

    status: str | None
    resources: tuple[tuple[str, str], ...] = ()

    @property
    def drifted(self) -> bool:
        return self.status not in (None, "IN_SYNC")


class DriftUnavailable(Exception):
    """The endpoint does not do drift detection (an emulator's HTML error page, say)."""


class CloudFormation(Service):
    name = "cloudformation"

    def engine(self, *, progress: Progress | None = None, stack_sets: bool = False) -> Engine:
        """The deploy engine on this client (it reads and converges stacks); with
        `stack_sets`, a stack missing under its own name is looked for among a StackSet's."""
        if progress is None:
            return Engine(self._client, stack_sets=stack_sets)
        return Engine(self._client, progress=progress, stack_sets=stack_sets)

    def stack_resources(self, stack: str) -> list[StackResource]:
        """DescribeStackResources of a stack, by name or id, in template order."""
        listed = self._client.describe_stack_resources(StackName=stack)["StackResources"]
        return [
            StackResource(
                r["LogicalResourceId"],
                r.get("PhysicalResourceId"),
                r.get("ResourceType", ""),
                r.get("ResourceStatus", ""),
            )
            for r in listed
        ]

    def physical_id(self, stack: str, logical_id: str) -> str:
        detail = self._client.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)
        return str(detail["StackResourceDetail"]["PhysicalResourceId"])

    def outputs(self, stack: str) -> dict[str, str]:
        [found] = self._client.describe_stacks(StackName=stack)["Stacks"]
        return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}

    def outputs_if_deployed(self, stack: str) -> dict[str, str] | None:
        """The stack's outputs; None when there is no such stack (CloudFormation answers
        ValidationError "does not exist")."""
        try:
            return self.outputs(stack)
        except self._client.exceptions.ClientError as err:
            if "does not exist" in str(err):
                return None
            raise

    def template(self, stack: str) -> dict[str, Any]:
        body = self._client.get_template(StackName=stack)["TemplateBody"]
        return dict(body if isinstance(body, dict) else json.loads(body))

    def drift(self, stack: str) -> Drift:
        """Detect the stack's drift and wait (up to a minute) for the verdict."""
        try:
            detection = self._client.detect_stack_drift(StackName=stack)["StackDriftDetectionId"]
            status = self._wait_drift(detection)
        except Exception as err:  # e.g. an HTML error page (ResponseParserError) from an emulator
            raise DriftUnavailable(str(err)) from None
        verdict = status.get("StackDriftStatus")
        if verdict in (None, "IN_SYNC"):
            return Drift(verdict)
        drifted = self._client.describe_stack_resource_drifts(
            StackName=stack, StackResourceDriftStatusFilters=["MODIFIED", "DELETED"]
        )["StackResourceDrifts"]
        return Drift(
            verdict,
            tuple((d["LogicalResourceId"], d["StackResourceDriftStatus"]) for d in drifted),
        )

    def _wait_drift(self, detection: str) -> dict[str, Any]:
        deadline = time.monotonic() + _DRIFT_WAIT_S
        delay = _DRIFT_FIRST_DELAY_S
        while True:
            status = self._client.describe_stack_drift_detection_status(
                StackDriftDetectionId=detection
            )
            if status["DetectionStatus"] != "DETECTION_IN_PROGRESS" or time.monotonic() > deadline:
                return dict(status)
            time.sleep(delay)
            delay = min(delay * _DRIFT_BACKOFF, _DRIFT_MAX_DELAY_S)

    def read_change_set(self, stack: str, template: Mapping[str, Any]) -> ChangeSetReading:
        """What CloudFormation says an update to `template` would do (read only)."""
        return read_change_set(self._client, stack, template, capabilities=CAPABILITIES)
