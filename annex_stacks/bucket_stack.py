"""HTCondorAnnex-ConfigurationBucket: where condor_annex uploads each annex's config tarball."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Fn, RemovalPolicy, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from annex_stacks import nag, names
from annex_stacks.settings import AnnexSettings


class ConfigurationBucketStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: AnnexSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        bucket = s3.Bucket(
            self,
            names.LID_BUCKET,
            # A kept (adopted) bucket has a generated name: naming it now would replace it.
            bucket_name=None if settings.bucket_name else Fn.sub(names.BUCKET_NAME_PATTERN),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            # Without auto_delete_objects (an asset-backed custom resource): the CLI empties
            # the bucket before it deletes the stack.
            removal_policy=RemovalPolicy.RETAIN
            if settings.retain_bucket
            else RemovalPolicy.DESTROY,
        )
        # condor_annex's logical ID, so an account it set up keeps its bucket on update.
        bucket.node.default_child.override_logical_id(names.LID_BUCKET)  # type: ignore[union-attr]  # the bucket's default child is its CfnBucket; CDK types it IConstruct | None
        nag.acknowledge(
            bucket,
            {
                "AwsSolutions-S1": (
                    "The bucket only holds short-lived per-annex config tarballs that the lease "
                    "functions delete; access logging would need a second bucket with its own "
                    "lifecycle. Object-level access can be audited with CloudTrail data events."
                ),
            },
        )
        CfnOutput(self, names.OUT_BUCKET, value=bucket.bucket_name)
