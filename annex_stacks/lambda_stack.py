"""HTCondorAnnex-LambdaFunctions: the lease functions and the connectivity check."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from annex_stacks import handlers, nag, names
from annex_stacks.components.inline_function import InlinePythonFunction
from annex_stacks.instance_profile_stack import (
    bucket_name,
    config_object_arn,
    config_object_resource,
)
from annex_stacks.settings import AnnexSettings

_LEASE_TIMEOUT = Duration.seconds(60)
# condor_annex asks the function for a 5 s socket timeout; leave room for start-up.
_CHECK_TIMEOUT = Duration.seconds(15)

_DESCRIBE_REASON = (
    "ec2:DescribeInstances and ec2:DescribeSpotFleetRequests support no resource-level "
    "permissions; the lease functions need them to find an expired annex's instances and fleets."
)


class LambdaFunctionsStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: AnnexSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retention = logs.RetentionDays.ONE_MONTH
        lease_code = handlers.source(handlers.LEASE_FILE)
        lease_role = self._lease_role(settings)
        cc_role = self._execution_role(names.LID_CC_ROLE, "check-connectivity function")

        functions = {}
        for lid, handler, kind in (
            (names.LID_ODI_FUNCTION, handlers.ODI_HANDLER, "on-demand instances"),
            (names.LID_SFR_FUNCTION, handlers.SFR_HANDLER, "spot fleet requests"),
        ):
            fn = InlinePythonFunction(
                self,
                f"{lid}Construct",
                code=lease_code,
                handler=handler,
                role=lease_role,
                timeout=_LEASE_TIMEOUT,
                log_group_name=names.LAMBDA_LOG_GROUP_PREFIX + lid,
                retention=retention,
                description=f"HTCondor annex lease: cleans up an expired annex's {kind}",
                # condor_annex's -duration input names no bucket; the function knows its own.
                environment={names.LEASE_BUCKET_ENV: bucket_name(settings)},
            )
            self._keep_logical_id(fn, lid)
            functions[lid] = fn
        cc = InlinePythonFunction(
            self,
            f"{names.LID_CC_FUNCTION}Construct",
            code=handlers.source(handlers.CHECK_CONNECTIVITY_FILE),
            handler=handlers.CHECK_CONNECTIVITY_HANDLER,
            role=cc_role,
            timeout=_CHECK_TIMEOUT,
            log_group_name=names.LAMBDA_LOG_GROUP_PREFIX + names.LID_CC_FUNCTION,
            retention=retention,
            description="HTCondor annex: checks that the collector is reachable from AWS",
            function_name=names.CHECK_CONNECTIVITY_FUNCTION,
        )
        self._keep_logical_id(cc, names.LID_CC_FUNCTION)

        odi, sfr = functions[names.LID_ODI_FUNCTION], functions[names.LID_SFR_FUNCTION]
        self._grant_logs(lease_role, odi, sfr)
        self._grant_logs(cc_role, cc)
        for fn, role in ((odi, lease_role), (sfr, lease_role), (cc, cc_role)):
            fn.depend_only_on_policy(role.node.find_child("DefaultPolicy"))  # type: ignore[arg-type]  # the role's DefaultPolicy child is an iam.Policy; find_child types it IConstruct
        # condor_annex names each lease rule after its annex at run time, so the permission
        # must admit any rule of this account's default event bus in this region.
        for lid, fn in ((names.LID_ODI_PERMISSION, odi), (names.LID_SFR_PERMISSION, sfr)):
            lambda_.CfnPermission(
                self,
                lid,
                action="lambda:InvokeFunction",
                function_name=fn.function.function_arn,
                principal="events.amazonaws.com",
                source_account=self.account,
                source_arn=Fn.sub(
                    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*"
                ),
            )

        CfnOutput(self, names.OUT_ODI_LEASE, value=odi.function.function_arn)
        CfnOutput(self, names.OUT_SFR_LEASE, value=sfr.function.function_arn)
        CfnOutput(self, names.OUT_CHECK_CONNECTIVITY, value=cc.function.function_arn)

    @staticmethod
    def _keep_logical_id(fn: InlinePythonFunction, logical_id: str) -> None:
        # condor_annex's logical IDs: an account it set up gets its functions updated in place.
        fn.function.node.default_child.override_logical_id(logical_id)  # type: ignore[union-attr]  # the function's default child is its CfnFunction; CDK types it IConstruct | None

    def _execution_role(self, logical_id: str, what: str) -> iam.Role:
        role = iam.Role(
            self,
            logical_id,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"HTCondor annex {what}",
        )
        role.node.default_child.override_logical_id(logical_id)  # type: ignore[union-attr]  # the role's default child is its CfnRole; CDK types it IConstruct | None
        return role

    def _lease_role(self, settings: AnnexSettings) -> iam.Role:
        role = self._execution_role(names.LID_LEASE_ROLE, "lease functions")
        scoped = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:%s"
        statements = [
            iam.PolicyStatement(
                sid="DeleteExpiredAnnexConfig",
                actions=["s3:DeleteObject"],
                resources=[config_object_resource(settings)],
            ),
            iam.PolicyStatement(
                sid="FindAnnexInstancesAndFleets",
                actions=["ec2:DescribeInstances", "ec2:DescribeSpotFleetRequests"],
                resources=["*"],
            ),
            # Only instances that condor_annex tagged as part of an annex can be terminated.
            iam.PolicyStatement(
                sid="TerminateAnnexInstances",
                actions=["ec2:TerminateInstances"],
                resources=[Fn.sub(scoped % ("ec2", "instance/*"))],
                conditions={"StringLike": {f"ec2:ResourceTag/{names.TAG_ANNEX_NAME}": "*"}},
            ),
            iam.PolicyStatement(
                sid="CancelAnnexSpotFleets",
                actions=["ec2:CancelSpotFleetRequests"],
                resources=[Fn.sub(scoped % ("ec2", "spot-fleet-request/*"))],
            ),
            # The rule that invoked the function deletes itself; rules are named after annexes.
            iam.PolicyStatement(
                sid="RemoveLeaseRule",
                actions=["events:RemoveTargets", "events:DeleteRule"],
                resources=[Fn.sub(scoped % ("events", "rule/*"))],
            ),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)
        nag.acknowledge(
            role,
            {
                "AwsSolutions-IAM5[Resource::*]": _DESCRIBE_REASON,
                f"AwsSolutions-IAM5[Resource::{nag.finding_resource(config_object_arn(settings))}]": (
                    "condor_annex names each tarball config-<annex>.tar.gz at run time; the grant "
                    "is limited to deleting that pattern in the annex bucket."
                ),
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]": (
                    "Annex instances are launched at run time; termination is limited to "
                    f"instances carrying condor_annex's {names.TAG_ANNEX_NAME} tag."
                ),
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:spot-fleet-request/*]": (
                    "Spot fleet requests are made at run time by condor_annex and carry no "
                    "annex tag; the function only cancels those whose client token names the "
                    "expired annex."
                ),
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:rule/*]": (
                    "condor_annex names each lease rule after its annex at run time; only "
                    "RemoveTargets and DeleteRule on this account's default bus in this region."
                ),
            },
        )
        return role

    @staticmethod
    def _grant_logs(role: iam.Role, *functions: InlinePythonFunction) -> None:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{fn.log_group.log_group_arn}" for fn in functions],
            )
        )
