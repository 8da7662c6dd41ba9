"""A Python Lambda function whose code is inline in the template, with its own log group."""

from __future__ import annotations

from typing import ClassVar

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct


class InlinePythonFunction(Construct):
    """Inline code needs no asset, so the stacks deploy without `cdk bootstrap`."""

    # The newest Python runtime that aws-cdk-lib offers (cdk-nag L1 flags older ones).
    RUNTIME: ClassVar[lambda_.Runtime] = lambda_.Runtime.PYTHON_3_14
    ARCHITECTURE: ClassVar[lambda_.Architecture] = lambda_.Architecture.ARM_64
    MEMORY_MB: ClassVar[int] = 128

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: str,
        handler: str,
        role: iam.IRole,
        timeout: Duration,
        log_group_name: str,
        retention: logs.RetentionDays,
        description: str,
        function_name: str | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # An explicit log group (not `log_retention=`, which would add an asset-backed custom
        # resource) that the function logs to and that is removed with the stack.
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            log_group_name=log_group_name,
            retention=retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.function = lambda_.Function(
            self,
            "Function",
            code=lambda_.Code.from_inline(code),
            handler=handler,
            runtime=self.RUNTIME,
            architecture=self.ARCHITECTURE,
            memory_size=self.MEMORY_MB,
            timeout=timeout,
            role=role,
            function_name=function_name,
            description=description,
            log_group=self.log_group,
            environment=environment,
        )

    def depend_only_on_policy(self, policy: iam.Policy) -> None:
        """Start the function after its role's policy, and list nothing else in DependsOn.

        The Role GetAtt and the LoggingConfig Ref already order the role and the log group;
        naming them again is what cfn-lint W3005 warns about. Call once the policy is complete.
        """
        cfn = self.function.node.default_child
        policy_id = Stack.of(self).get_logical_id(policy.node.default_child)  # type: ignore[arg-type]  # the policy's default child is its CfnPolicy; CDK types it IConstruct | None
        cfn.add_override("DependsOn", [policy_id])  # type: ignore[union-attr]  # the function's default child is its CfnFunction; CDK types it IConstruct | None
