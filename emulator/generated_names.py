"""Names CloudFormation generates for resources the template leaves unnamed, within each
type's name length limit.

CloudFormation names an unnamed resource `<stack name>-<logical id>-<random>` and shortens the
stack name and logical id so that the name fits the type's limit. moto shortens only a few
types, so a stack with a long name (a StackSet's stacks are `StackSet-<name>-<uuid>`) got a
Lambda function name of 100 characters and more, which Lambda's own 64 forbids (and references
to it then failed the registry schema's length checks).
"""

from __future__ import annotations

from annex_emulator.patches import ORIGINALS

#: Each type's longest name (its registry schema's maxLength for the name property).
NAME_LIMITS = {
    "AWS::Lambda::Function": 64,
    "AWS::IAM::Role": 64,
    "AWS::IAM::InstanceProfile": 128,
    "AWS::IAM::ManagedPolicy": 128,
    "AWS::Events::Rule": 64,
    "AWS::SQS::Queue": 80,
}


def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
    name = str(ORIGINALS["parsing.generate_resource_name"](resource_type, stack_name, logical_id))
    limit = NAME_LIMITS.get(resource_type)
    if limit is None or len(name) <= limit:
        return name
    suffix = name.rsplit("-", 1)[-1]
    prefix = f"{stack_name}-{logical_id}"[: limit - len(suffix) - 1].rstrip("-")
    return f"{prefix}-{suffix}"
