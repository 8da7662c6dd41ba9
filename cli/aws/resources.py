"""Whether the resources a stack claims still exist: CloudFormation does not notice deletions.

A bucket, security group or Lambda function deleted by hand (console, CLI) stays
CREATE_COMPLETE in its stack. These checks ask each service about each physical id that
DescribeStackResources lists. Types without a check here are taken as present.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from annex_cdk.aws.cfn import CloudFormation, StackResource
from annex_cdk.aws.parallel import settle
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
#: The services the probes call (their clients can be made ahead of the reads), the client
#: that takes longest to make first (EC2's API model is the largest by far).
PROBED_SERVICES = ("ec2", "iam", "lambda", "logs", "s3")


#: A probed resource as a stack lists it: (logical id, type, physical id).
Listed = tuple[str, str, str]


def gone_resources_of(target: AwsTarget, stacks: Iterable[str]) -> dict[str, list[Gone]]:
    """Each stack's resources whose service says they do not exist (in template order), by
    the stack as given (a name or a stack id). Every stack's DescribeStackResources at once,
    then every resource's read at once: two rounds of calls however many stacks and resources.
    An error other than not-found is raised, the first in the stacks' and templates' order."""
    return listed_and_gone(target, stacks, {})[1]


def listed_and_gone(
    target: AwsTarget, stacks: Iterable[str], expected: Mapping[str, Sequence[Listed]]
) -> tuple[dict[str, list[Listed]], dict[str, list[Gone]]]:
    """Each stack's probed resources as listed now, and those gone (as `gone_resources_of`).

    `expected`: what a stack listed before (a record of an earlier run). Its resources are
    read in the same round as the listings; a stack that lists exactly those needs no second
    round. A stack that lists others has them read in a second round, as if nothing were
    expected. The errors come in the stacks' and templates' order either way."""
    stacks = list(dict.fromkeys(stacks))
    cfn = CloudFormation(target)
    guessed = [(stack, listed) for stack in stacks for listed in expected.get(stack, ())]
    calls: list[Callable[[], Any]] = [partial(cfn.stack_resources, stack) for stack in stacks]
    calls += [partial(_missing, target, _resource(listed)) for _, listed in guessed]
    answers = settle(calls)
    now = {
        stack: [_listed(r) for r in answer.get() if _probed(r)]
        for stack, answer in zip(stacks, answers, strict=False)
    }
    read = dict(zip(guessed, answers[len(stacks) :], strict=True))
    again = [
        (s, listed) for s in stacks if now[s] != list(expected.get(s, ())) for listed in now[s]
    ]
    read.update(
        zip(again, settle(partial(_missing, target, _resource(x)) for _, x in again), strict=True)
    )
    gone: dict[str, list[Gone]] = {stack: [] for stack in stacks}
    for stack in stacks:
        for listed in now[stack]:
            if read[(stack, listed)].get():
                gone[stack].append(Gone(stack, *listed))
    return now, gone


def _probed(resource: StackResource) -> bool:
    return bool(
        _PROBES.get(resource.resource_type)
        and resource.physical_id
        and not resource.status.startswith("DELETE")
    )


def _listed(resource: StackResource) -> Listed:
    return (resource.logical_id, resource.resource_type, resource.physical_id or "")


def _resource(listed: Listed) -> StackResource:
    logical_id, resource_type, physical_id = listed
    return StackResource(logical_id, physical_id, resource_type, "")


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
