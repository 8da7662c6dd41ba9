"""EventBridge Scheduler: AWS::Scheduler::Schedule as a CloudFormation resource (moto has the
API but no resource), and schedules that fire on the emulator's clock.

A `rate(N unit)` schedule first fires one period after it is created, then every period, as
Scheduler's rate schedules do. Firing happens when a test advances the clock
(`annex_emulator.clock`): every ENABLED schedule fires once for each due time in between, in
time order. Scheduler invokes a Lambda target as the target's RoleArn: the emulator checks, as
AWS would at run time, that the role exists, trusts scheduler.amazonaws.com and is allowed
lambda:InvokeFunction on the target (annex_emulator.iam_evaluation); otherwise the firing fails
and says why. The function then runs as deployed (`annex_emulator.lambda_runtime`) with the
target's Input as its event.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar
from urllib.parse import unquote

from moto.core.common_models import CloudFormationModel
from moto.scheduler.models import scheduler_backends

from annex_emulator import clock, lambda_runtime
from annex_emulator.iam_evaluation import ALLOWED, Request, decide
from annex_emulator.iam_principals import policy_documents
from annex_emulator.own_resource import OwnResource

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_SCHEDULER = "scheduler.amazonaws.com"


def period_seconds(expression: str) -> int | None:
    """The period of a rate expression; None for at() and cron() (the emulator does not fire
    those)."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_S[match.group(2).rstrip("s")]


class ScheduleResource(OwnResource, CloudFormationModel):
    """AWS::Scheduler::Schedule: Ref is the name, Arn the schedule's ARN."""

    TYPE = "AWS::Scheduler::Schedule"
    NAME_PROPERTY = "Name"
    PHYSICAL_ID = "name"
    GET_ATT: ClassVar[dict[str, str]] = {"Arn": "arn"}

    def __init__(self, account_id: str, region_name: str, group: str, name: str, arn: str) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.group = group
        self.name = name
        self.arn = arn

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ScheduleResource:
        props = cloudformation_json.get("Properties") or {}
        backend = scheduler_backends[account_id][region_name]
        name = props.get("Name") or resource_name
        schedule = backend.create_schedule(
            description=props.get("Description"),
            end_date=props.get("EndDate"),
            flexible_time_window=props["FlexibleTimeWindow"],
            group_name=props.get("GroupName") or "default",
            kms_key_arn=props.get("KmsKeyArn"),
            name=name,
            schedule_expression=props["ScheduleExpression"],
            schedule_expression_timezone=props.get("ScheduleExpressionTimezone"),
            start_date=props.get("StartDate"),
            state=props.get("State"),
            target=dict(props["Target"]),
            action_after_completion=None,
        )
        period = period_seconds(props["ScheduleExpression"])
        schedule.annex_next_fire = clock.now() + period if period else None
        return cls(account_id, region_name, schedule.group_name, name, schedule.arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: ScheduleResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> ScheduleResource:
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
        backend = scheduler_backends[account_id][region_name]
        backend.delete_schedule(
            props.get("GroupName") or "default", props.get("Name") or resource_name
        )

    def delete(self, account_id: str, region_name: str) -> None:
        scheduler_backends[account_id][region_name].delete_schedule(self.group, self.name)


def _role_may_invoke(
    account_id: str, role_arn: str, function_arn: str, schedule_arn: str
) -> str | None:
    """Why Scheduler could not invoke `function_arn` as `role_arn`, or None if it could."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id]["aws"]
    role = next((r for r in iam.roles.values() if r.arn == role_arn), None)
    if role is None:
        return f"role {role_arn} does not exist"
    trust = json.loads(unquote(role.assume_role_policy_document))
    trusted = decide(
        [_as_identity_policy(trust, _SCHEDULER)],
        # Scheduler assumes the role with the schedule as the source (confused-deputy keys).
        Request(
            action="sts:AssumeRole",
            resources=(role_arn,),
            context={"aws:SourceAccount": [account_id], "aws:SourceArn": [schedule_arn]},
        ),
    )[0]
    if trusted != ALLOWED:
        return f"role {role_arn} does not trust {_SCHEDULER}"
    documents = policy_documents([*role.policies.values(), *role.managed_policies.values()])
    request = Request(action="lambda:InvokeFunction", resources=(function_arn,))
    if decide(documents, request)[0] != ALLOWED:
        return f"role {role_arn} is not allowed lambda:InvokeFunction on {function_arn}"
    return None


def _as_identity_policy(trust: dict[str, Any], service: str) -> dict[str, Any]:
    """The trust policy's statements that name `service` as principal, as an identity policy."""
    statements = []
    for s in trust.get("Statement", []):
        principals = (s.get("Principal") or {}).get("Service", [])
        principals = [principals] if isinstance(principals, str) else principals
        if service in principals:
            statements.append({k: v for k, v in s.items() if k != "Principal"} | {"Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


def _fire(account_id: str, region: str, schedule: Any, at: float) -> dict[str, Any]:
    from moto.awslambda.utils import get_backend as lambda_backend

    target = schedule.target
    fired: dict[str, Any] = {"schedule": schedule.arn, "target": target["Arn"], "at": at}
    if ":lambda:" not in target["Arn"]:
        return {**fired, "ok": False, "error": "the emulator fires Lambda targets only"}
    why = _role_may_invoke(account_id, target.get("RoleArn", ""), target["Arn"], schedule.arn)
    if why:
        return {**fired, "ok": False, "error": why}
    function = lambda_backend(account_id, region).get_function(target["Arn"])
    payload, errored, logs = lambda_runtime.run_function(function, target.get("Input"), at=at)
    result = json.loads(payload) if payload else None
    return {**fired, "ok": not errored, "result": result, "log": logs[-4000:]}


def fire_due(before: float, after: float) -> list[dict[str, Any]]:
    """Fire every enabled schedule due in (before, after], earliest first."""
    due: list[tuple[float, str, str, Any]] = []
    for account_id, regions in scheduler_backends.items():
        for region, backend in regions.items():
            for group in backend.schedule_groups.values():
                for schedule in group.schedules.values():
                    period = period_seconds(schedule.schedule_expression)
                    if period is None or schedule.state != "ENABLED":
                        continue
                    nxt = getattr(schedule, "annex_next_fire", None)
                    if nxt is None:  # made through the API: first due a period after creation
                        nxt = schedule.creation_date + clock.offset() + period
                    while nxt <= after:
                        if nxt > before:
                            due.append((nxt, account_id, region, schedule))
                        nxt += period
                    schedule.annex_next_fire = nxt
    due.sort(key=lambda d: d[0])
    return [_fire(account_id, region, schedule, at) for at, account_id, region, schedule in due]
