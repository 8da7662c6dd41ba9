"""HTCondorAnnex-Guardrail: the spend guardrail, checked every five minutes.

EventBridge Scheduler invokes the guardrail function (lambda_src/guardrail.py, deployed after
lease.py in one inline index.py) with the caps as its environment. The function's role can do
what the function does and no more: read what runs; terminate only instances that carry
condor_annex's annex tag; end the lease rules and tarballs as the lease functions do; rewrite
only this stack's Deny policy; read only the heartbeat parameter; keep its state in one object
of the configuration bucket; put metrics in its own namespace.

The Deny policy starts disarmed; setup attaches it to the identities condor_annex runs as that
it can name (cli/ops/guardrail.py), and its ARN is an output for the user to attach it
elsewhere. An optional monthly AWS Budget on annex spend is the slow backstop.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from annex_lambda_src.guardrail import DENY_DISARMED
from annex_stacks import handlers, nag, names
from annex_stacks.components.inline_function import InlinePythonFunction
from annex_stacks.instance_profile_stack import (
    bucket_name,
    config_object_arn,
    config_object_resource,
)
from annex_stacks.settings import AnnexSettings

_TIMEOUT = Duration.seconds(120)
_SCOPED = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:%s"
#: The budget's month is this many days of --max-dollars.
BUDGET_DAYS = 31


def caps_json(settings: AnnexSettings) -> str:
    return json.dumps(
        {name: getattr(settings, name) for name in names.GUARDRAIL_CAP_FIELDS}, sort_keys=True
    )


class GuardrailStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AnnexSettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        deny = self._deny_policy()
        role = self._function_role(settings, deny)
        fn = InlinePythonFunction(
            self,
            f"{names.LID_GUARDRAIL_FUNCTION}Construct",
            code=handlers.bundle(handlers.GUARDRAIL_FILES),
            handler=handlers.GUARDRAIL_HANDLER,
            role=role,
            timeout=_TIMEOUT,
            log_group_name=names.LAMBDA_LOG_GROUP_PREFIX + names.LID_GUARDRAIL_FUNCTION,
            retention=logs.RetentionDays.ONE_MONTH,
            description="HTCondor annex spend guardrail: caps, Deny on launches, drain",
            function_name=names.GUARDRAIL_FUNCTION,
            environment={
                names.LEASE_BUCKET_ENV: bucket_name(settings),
                names.GUARDRAIL_CAPS_ENV: caps_json(settings),
                names.GUARDRAIL_DENY_POLICY_ENV: deny.managed_policy_arn,
                **(
                    {
                        names.GUARDRAIL_HEARTBEAT_PARAMETER_ENV: names.GUARDRAIL_HEARTBEAT_PARAMETER,
                        names.GUARDRAIL_HEARTBEAT_MINUTES_ENV: str(settings.heartbeat_minutes),
                    }
                    if settings.heartbeat_minutes is not None
                    else {}
                ),
            },
        )
        fn.function.node.default_child.override_logical_id(names.LID_GUARDRAIL_FUNCTION)  # type: ignore[union-attr]  # its default child is the CfnFunction; CDK types it IConstruct | None
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[fn.log_group.log_group_arn],
            )
        )
        fn.depend_only_on_policy(role.node.find_child("DefaultPolicy"))  # type: ignore[arg-type]  # the role's DefaultPolicy child is an iam.Policy; find_child types it IConstruct
        self._schedule(fn)
        if settings.budget_email is not None and settings.max_dollars is not None:
            self._budget(settings.budget_email, settings.max_dollars)
        CfnOutput(self, names.OUT_GUARDRAIL_FUNCTION, value=fn.function.function_arn)
        CfnOutput(self, names.OUT_GUARDRAIL_DENY_POLICY, value=deny.managed_policy_arn)

    def _deny_policy(self) -> iam.ManagedPolicy:
        policy = iam.ManagedPolicy(
            self,
            names.LID_GUARDRAIL_DENY,
            managed_policy_name=names.GUARDRAIL_DENY_POLICY,
            description="Denies annex launches while a spend cap is breached (the guardrail "
            "function rewrites it); attach it to the identities condor_annex runs as",
            document=iam.PolicyDocument.from_json(DENY_DISARMED),
        )
        policy.node.default_child.override_logical_id(names.LID_GUARDRAIL_DENY)  # type: ignore[union-attr]  # its default child is the L1 resource; CDK types it IConstruct | None
        return policy

    def _function_role(self, settings: AnnexSettings, deny: iam.ManagedPolicy) -> iam.Role:
        role = iam.Role(
            self,
            names.LID_GUARDRAIL_ROLE,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="HTCondor annex spend guardrail function",
        )
        role.node.default_child.override_logical_id(names.LID_GUARDRAIL_ROLE)  # type: ignore[union-attr]  # its default child is the L1 resource; CDK types it IConstruct | None
        bucket = settings.bucket_expression
        state = f"arn:aws:s3:::{bucket}/{names.GUARDRAIL_STATE_KEY}"
        heartbeat = _SCOPED % ("ssm", "parameter" + names.GUARDRAIL_HEARTBEAT_PARAMETER)
        statements = [
            iam.PolicyStatement(
                sid="SeeWhatRuns",
                actions=[
                    "ec2:DescribeInstances",
                    "ec2:DescribeSpotFleetRequests",
                    "ec2:DescribeInstanceTypes",
                    "pricing:GetProducts",
                ],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="TerminateAnnexInstances",
                actions=["ec2:TerminateInstances"],
                resources=[Fn.sub(_SCOPED % ("ec2", "instance/*"))],
                conditions={"StringLike": {f"ec2:ResourceTag/{names.TAG_ANNEX_NAME}": "*"}},
            ),
            iam.PolicyStatement(
                sid="CancelAnnexSpotFleets",
                actions=["ec2:CancelSpotFleetRequests"],
                resources=[Fn.sub(_SCOPED % ("ec2", "spot-fleet-request/*"))],
            ),
            iam.PolicyStatement(
                sid="EndLeaseRules",
                actions=["events:ListTargetsByRule", "events:RemoveTargets", "events:DeleteRule"],
                resources=[Fn.sub(_SCOPED % ("events", "rule/*"))],
            ),
            iam.PolicyStatement(
                sid="DeleteAnnexConfig",
                actions=["s3:DeleteObject"],
                resources=[config_object_resource(settings)],
            ),
            iam.PolicyStatement(
                sid="KeepState",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[Fn.sub(state) if "${" in state else state],
            ),
            # Without ListBucket a missing state object reads as AccessDenied, not NoSuchKey.
            iam.PolicyStatement(
                sid="SeeWhetherStateExists",
                actions=["s3:ListBucket"],
                resources=[
                    Fn.sub(f"arn:aws:s3:::{bucket}") if "${" in bucket else f"arn:aws:s3:::{bucket}"
                ],
                conditions={"StringEquals": {"s3:prefix": names.GUARDRAIL_STATE_KEY}},
            ),
            iam.PolicyStatement(
                sid="ArmAndLiftTheDeny",
                actions=[
                    "iam:GetPolicy",
                    "iam:GetPolicyVersion",
                    "iam:ListPolicyVersions",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicyVersion",
                ],
                resources=[deny.managed_policy_arn],
            ),
            iam.PolicyStatement(
                sid="ReadHeartbeat",
                actions=["ssm:GetParameter"],
                resources=[Fn.sub(heartbeat)],
            ),
            iam.PolicyStatement(
                sid="CountActions",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={
                    "StringEquals": {"cloudwatch:namespace": names.GUARDRAIL_METRIC_NAMESPACE}
                },
            ),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)
        nag.acknowledge(
            role,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "DescribeInstances, DescribeSpotFleetRequests, DescribeInstanceTypes, "
                    "pricing:GetProducts and PutMetricData support no resource-level "
                    "permissions; PutMetricData is limited to the guardrail's namespace."
                ),
                f"AwsSolutions-IAM5[Resource::{nag.finding_resource(config_object_arn(settings))}]": (
                    "condor_annex names each tarball config-<annex>.tar.gz at run time; only "
                    "deleting that pattern in the annex bucket, as the lease functions do."
                ),
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]": (
                    "Annex instances are launched at run time; termination is limited to "
                    f"instances carrying condor_annex's {names.TAG_ANNEX_NAME} tag."
                ),
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:spot-fleet-request/*]": (
                    "Spot fleet requests are made at run time by condor_annex and carry no annex "
                    "tag; the function cancels only those whose client token names an annex "
                    "with tagged instances."
                ),
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:rule/*]": (
                    "condor_annex names each lease rule after its annex at run time."
                ),
            },
        )
        return role

    def _schedule(self, fn: InlinePythonFunction) -> None:
        invoker = iam.Role(
            self,
            names.LID_GUARDRAIL_SCHEDULER_ROLE,
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            ),
            description="EventBridge Scheduler invokes the spend guardrail",
        )
        invoker.node.default_child.override_logical_id(names.LID_GUARDRAIL_SCHEDULER_ROLE)  # type: ignore[union-attr]  # its default child is the L1 resource; CDK types it IConstruct | None
        invoker.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[fn.function.function_arn]
            )
        )
        schedule = scheduler.CfnSchedule(
            self,
            names.LID_GUARDRAIL_SCHEDULE,
            schedule_expression=names.GUARDRAIL_SCHEDULE,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            description="HTCondor annex spend guardrail",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=fn.function.function_arn,
                role_arn=invoker.role_arn,
                input=json.dumps({"source": "schedule"}),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=0, maximum_event_age_in_seconds=300
                ),
            ),
        )
        # After the role's policy, so that the first run may invoke the function (the role itself
        # is ordered by the GetAtt of its ARN already).
        schedule.node.add_dependency(invoker.node.find_child("DefaultPolicy"))

    def _budget(self, email: str, max_dollars: float) -> None:
        subscribers = [
            budgets.CfnBudget.SubscriberProperty(subscription_type="EMAIL", address=email)
        ]
        notifications = [
            budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    notification_type=kind,
                    comparison_operator="GREATER_THAN",
                    threshold=threshold,
                    threshold_type="PERCENTAGE",
                ),
                subscribers=subscribers,
            )
            for kind, threshold in (("ACTUAL", 80), ("FORECASTED", 100))
        ]
        budgets.CfnBudget(
            self,
            names.LID_GUARDRAIL_BUDGET,
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=names.GUARDRAIL_BUDGET,
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(
                    amount=round(max_dollars * BUDGET_DAYS, 2), unit="USD"
                ),
                # Spend of resources that carry condor_annex's annex tag (once it is activated
                # as a cost allocation tag in the Billing console): not "tag absent".
                filter_expression=budgets.CfnBudget.ExpressionProperty(
                    not_=budgets.CfnBudget.ExpressionProperty(
                        tags=budgets.CfnBudget.TagValuesProperty(
                            key=names.TAG_ANNEX_NAME, match_options=["ABSENT"]
                        )
                    )
                ),
            ),
            notifications_with_subscribers=notifications,
        )
