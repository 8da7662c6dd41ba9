"""HTCondorAnnex-CondorUser: condor_annex's own IAM user, holding only the run-time policy.

HTCondor's guide has condor_annex run on an AdministratorAccess user's key. condor_annex reads
only key files (or FROM INSTANCE), so off EC2 it needs some IAM user's key: this stack makes one
that holds exactly what condor_annex calls after setup (`annex-cdk policy --runtime`), as a
customer managed policy (a user's inline policies hold 2,048 characters in all). The access key
is no part of the template: setup creates it through IAM and writes it to key files.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from annex_stacks import nag, names
from annex_stacks.policy import runtime_actions, template_document
from annex_stacks.settings import AnnexSettings
from annex_stacks.submit_host_stack import acknowledgements, fn_sub_document


class CondorUserStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AnnexSettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # The same builder as `annex-cdk policy --runtime`, so that the two cannot differ.
        document = template_document(
            bucket_expression=settings.bucket_expression,
            key_pair_name=settings.key_pair_name,
            actions=runtime_actions(),
        )
        policy = iam.CfnManagedPolicy(
            self,
            names.LID_CONDOR_USER_POLICY,
            description="condor_annex at run time: annexes, leases, its uploads (annex-cdk)",
            policy_document=fn_sub_document(document),
        )
        user = iam.CfnUser(self, names.LID_CONDOR_USER, managed_policy_arns=[policy.ref])
        nag.acknowledge(policy, acknowledgements(document))
        CfnOutput(self, names.OUT_CONDOR_USER, value=user.ref)
