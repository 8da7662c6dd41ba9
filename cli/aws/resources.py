"""Whether the resources a stack claims still exist: CloudFormation does not notice deletions.

A bucket, security group or Lambda function deleted by hand (console, CLI) stays
CREATE_COMPLETE in its stack. These checks ask each service about each physical id that
DescribeStackResources lists. Types without a check here are taken as present.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from annex_cdk.aws.cfn import CloudFormation, StackResource
from annex_cdk.aws.parallel import gather
from annex_cdk.aws.service import is_not_found
from annex_cdk.aws.session import AwsTarget

#: How each type is named in a finding.
NOUNS = {
    "AWS::S3::Bucket": "the configuration bucket",
    "AWS::EC2::KeyPair": "the key pair",
    "AWS::EC2::SecurityGroup": "the security group",
    "AWS::Lambda::Function": "the Lambda function",
    "AWS::IAM::Role": "the IAM role",
    "AWS::IAM::InstanceProfile": "the instance profile",
    "AWS::Logs::LogGroup": "the log group",
}


@dataclass(frozen=True)
class Gone:
    """A resource its stack lists as created that its service no longer knows."""

    stack: str
    logical_id: str
    resource_type: str
    physical_id: str

    @property
    def what(self) -> str:
        noun = NOUNS.get(self.resource_type, self.resource_type)
        return f"{noun} {self.physical_id}"


def _log_group(target: AwsTarget, name: str) -> None:
    logs = target.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    if not any(g.get("logGroupName") == name for g in groups):
        raise _NotFound()


class _NotFound(Exception):
    response = {"Error": {"Code": "NotFound"}}  # noqa: RUF012 - read-only, as botocore's


_PROBES: dict[str, Callable[[AwsTarget, str], Any]] = {
    "AWS::S3::Bucket": lambda t, pid: t.client("s3").head_bucket(Bucket=pid),
    "AWS::EC2::KeyPair": lambda t, pid: t.client("ec2").describe_key_pairs(KeyNames=[pid]),
    "AWS::EC2::SecurityGroup": lambda t, pid: t.client("ec2").describe_security_groups(
        GroupIds=[pid]
    ),
    "AWS::Lambda::Function": lambda t, pid: t.client("lambda").get_function(FunctionName=pid),
    "AWS::IAM::Role": lambda t, pid: t.client("iam").get_role(RoleName=pid),
    "AWS::IAM::InstanceProfile": lambda t, pid: t.client("iam").get_instance_profile(
        InstanceProfileName=pid
    ),
    "AWS::Logs::LogGroup": _log_group,
}
#: The services the probes call (their clients can be made ahead of the reads).
PROBED_SERVICES = ("s3", "ec2", "lambda", "iam", "logs")


def gone_resources_of(target: AwsTarget, stacks: Iterable[str]) -> dict[str, list[Gone]]:
    """Each stack's resources whose service says they do not exist (in template order), by
    the stack as given (a name or a stack id). Every stack's DescribeStackResources at once,
    then every resource's read at once: two rounds of calls however many stacks and resources.
    An error other than not-found is raised, the first in the stacks' and templates' order."""
    stacks = list(dict.fromkeys(stacks))
    cfn = CloudFormation(target)
    listed = gather(partial(cfn.stack_resources, stack) for stack in stacks)
    probed = [
        (stack, resource)
        for stack, resources in zip(stacks, listed, strict=True)
        for resource in resources
        if _PROBES.get(resource.resource_type)
        and resource.physical_id
        and not resource.status.startswith("DELETE")
    ]
    missing = gather(partial(_missing, target, resource) for _, resource in probed)
    gone: dict[str, list[Gone]] = {stack: [] for stack in stacks}
    for (stack, r), is_missing in zip(probed, missing, strict=True):
        if is_missing:
            gone[stack].append(Gone(stack, r.logical_id, r.resource_type, r.physical_id or ""))
    return gone


def _missing(target: AwsTarget, resource: StackResource) -> bool:
    """Whether the resource's service says it does not exist."""
    try:
        _PROBES[resource.resource_type](target, resource.physical_id or "")
    except Exception as err:
        if not is_not_found(err):
            raise
        return True
    return False


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker, so CloudFormation can delete the bucket.

    All pages are listed first: deleting while paging moves the listing's markers under it,
    and past 1,000 versions some were skipped, so the bucket was not empty the first time.
    """
    paginator = s3.get_paginator("list_object_versions")
    keys: list[dict[str, str]] = []
    try:
        for page in paginator.paginate(Bucket=bucket):
            keys.extend(
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            )
        for start in range(0, len(keys), 1000):
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": keys[start : start + 1000], "Quiet": True}
            )
    except s3.exceptions.NoSuchBucket:
        return 0
    return len(keys)
