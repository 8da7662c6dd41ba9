"""A stack's drift, as CloudFormation's drift detection sees the resources annex-cdk creates.

Each resource of a type checked here is DELETED when its physical resource is gone and
MODIFIED when a checked property differs from the template (a security group's inbound rules:
the collector's CIDR and port, the property an administrator is most tempted to edit by hand).
Resources of other types are NOT_CHECKED, as AWS reports types its drift detection does not
support, and do not make the stack drift. The stack is DRIFTED if any checked resource is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.awslambda.models import lambda_backends
from moto.cloudformation import parsing
from moto.cloudformation.models import Stack
from moto.ec2.models import ec2_backends
from moto.iam.models import iam_backends
from moto.s3.models import s3_backends

from annex_emulator.stack_operation import is_resource, physical_id


def _bucket(account: str, region: str, name: str) -> bool:
    return name in s3_backends[account]["aws"].buckets


def _role(account: str, region: str, name: str) -> bool:
    try:
        iam_backends[account]["global"].get_role(name)
    except Exception:
        return False
    return True


def _function(account: str, region: str, name: str) -> bool:
    try:
        lambda_backends[account][region].get_function(name)
    except Exception:
        return False
    return True


def _key_pair(account: str, region: str, name: str) -> bool:
    return name in ec2_backends[account][region].key_pairs


def _security_group(account: str, region: str, group_id: str) -> bool:
    return ec2_backends[account][region].get_security_group_from_id(group_id) is not None


#: Resource type -> does its physical resource still exist (account, Region, physical id).
_EXISTS: dict[str, Callable[[str, str, str], bool]] = {
    "AWS::S3::Bucket": _bucket,
    "AWS::IAM::Role": _role,
    "AWS::Lambda::Function": _function,
    "AWS::EC2::KeyPair": _key_pair,
    "AWS::EC2::SecurityGroup": _security_group,
}


def _ingress(rules: list[dict[str, Any]]) -> set[tuple[str, str, int | None, int | None]]:
    found = set()
    for rule in rules or []:
        protocol = str(rule.get("IpProtocol", ""))
        ports = (None, None) if protocol == "-1" else (rule.get("FromPort"), rule.get("ToPort"))
        found.add(
            (
                str(rule.get("CidrIp") or rule.get("CidrIpv6") or ""),
                protocol,
                None if ports[0] is None else int(ports[0]),
                None if ports[1] is None else int(ports[1]),
            )
        )
    return found


def _live_ingress(group: Any) -> set[tuple[str, str, int | None, int | None]]:
    return {
        (
            str(rule.ip_range.get("CidrIp") or rule.ip_range.get("CidrIpv6") or ""),
            str(rule.ip_protocol),
            rule.from_port,
            rule.to_port,
        )
        for rule in group.ingress_rules
        if rule.ip_range
    }


def resource_drift(stack: Stack, logical_id: str, resource: Any) -> str:
    """IN_SYNC, MODIFIED, DELETED or NOT_CHECKED for one resource of the stack."""
    resource_map = stack.resource_map
    resource_type = resource_map._resource_json_map[logical_id]["Type"]
    exists = _EXISTS.get(resource_type)
    if exists is None:
        return "NOT_CHECKED"
    physical = physical_id(resource)
    if not exists(stack.account_id, stack.region_name, physical):
        return "DELETED"
    if resource_type == "AWS::EC2::SecurityGroup":
        properties = resource_map._resource_json_map[logical_id].get("Properties", {})
        if "SecurityGroupIngress" in properties:
            wanted = _ingress(parsing.clean_json(properties["SecurityGroupIngress"], resource_map))
            group = ec2_backends[stack.account_id][stack.region_name].get_security_group_from_id(
                physical
            )
            if wanted != _live_ingress(group):
                return "MODIFIED"
    return "IN_SYNC"


def stack_drift(stack: Stack) -> str:
    """DRIFTED or IN_SYNC: the stack's drift status."""
    parsed = stack.resource_map._parsed_resources
    for logical_id in stack.resource_map.resources:
        resource = parsed.get(logical_id)
        if is_resource(resource) and resource_drift(stack, logical_id, resource) in (
            "MODIFIED",
            "DELETED",
        ):
            return "DRIFTED"
    return "IN_SYNC"
