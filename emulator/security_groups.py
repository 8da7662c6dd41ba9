"""AWS::EC2::SecurityGroup (updated in place), -Ingress and -Egress (one rule each)."""

from __future__ import annotations

from typing import Any, ClassVar

from moto.core.common_models import CloudFormationModel
from moto.ec2.models import ec2_backends
from moto.ec2.models.security_groups import SecurityGroup

from annex_emulator.own_resource import OwnResource
from annex_emulator.resource_properties import (
    EmulatorResourceError,
    previous_properties,
    refuse_custom_named_replacement,
    stash_properties,
)
from annex_emulator.security_group_rules import (
    Rule,
    authorize,
    by_group_id,
    describe,
    revoke,
    rule_from_backend,
    rule_from_template,
    sync_security_group,
)


class SecurityGroupResource(SecurityGroup):
    """AWS::EC2::SecurityGroup that updates in place as on AWS.

    moto replaces the group on any change (new GroupId), ignores SecurityGroupEgress, CidrIpv6
    and rule descriptions. AWS replaces only on GroupName/GroupDescription/VpcId changes and
    otherwise revokes/authorizes the rule difference on the same group.
    """

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SecurityGroup:
        properties = cloudformation_json.get("Properties") or {}
        ec2 = ec2_backends[account_id][region_name]
        group = ec2.create_security_group(
            name=resource_name,
            description=properties.get("GroupDescription"),
            vpc_id=properties.get("VpcId"),
        )
        try:
            sync_security_group(ec2, group, properties, previous=None)
        except Exception:
            ec2.delete_security_group(group_id=group.id)
            raise
        return group

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: SecurityGroup,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> SecurityGroup:
        properties = cloudformation_json.get("Properties") or {}
        previous = previous_properties(original_resource)
        if any(
            properties.get(k) != previous.get(k) for k in ("GroupName", "GroupDescription", "VpcId")
        ):
            refuse_custom_named_replacement("GroupName", properties, previous)
            # New group first; the engine deletes the old one once the update succeeded.
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        ec2 = ec2_backends[account_id][region_name]
        sync_security_group(ec2, original_resource, properties, previous)
        return original_resource


class SecurityGroupIngressResource(OwnResource, CloudFormationModel):
    """AWS::EC2::SecurityGroupIngress (and, subclassed, -Egress): one rule, its id the physical id.

    moto's SecurityGroupIngress can only be created (an update silently did nothing, a delete
    left the rule behind) and moto has no SecurityGroupEgress at all. On AWS a Description change
    is in place and any other change replaces the rule.
    """

    TYPE = "AWS::EC2::SecurityGroupIngress"
    PHYSICAL_ID = "rule_id"
    GET_ATT: ClassVar[dict[str, str]] = {"Id": "rule_id"}
    egress = False

    def __init__(self, account_id: str, region_name: str, group_id: str, rule_id: str) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.group_id = group_id
        self.rule_id = rule_id

    @classmethod
    def _group_and_rule(cls, ec2: Any, properties: dict[str, Any]) -> tuple[SecurityGroup, Rule]:
        group_ref = properties.get("GroupId") or properties.get("GroupName")
        group = ec2.get_security_group_by_name_or_id(group_ref) if group_ref else None
        if group is None:
            raise EmulatorResourceError(
                "InvalidGroup.NotFound", f"The security group '{group_ref}' does not exist"
            )
        return group, by_group_id(ec2, group, rule_from_template(properties, cls.egress))

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SecurityGroupIngressResource:
        properties = cloudformation_json.get("Properties") or {}
        ec2 = ec2_backends[account_id][region_name]
        group, rule = cls._group_and_rule(ec2, properties)
        added = authorize(ec2, group, rule, cls.egress)
        resource = cls(account_id, region_name, group.id, added.id)
        stash_properties(resource, properties)
        return resource

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: SecurityGroupIngressResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> SecurityGroupIngressResource:
        properties = cloudformation_json.get("Properties") or {}
        ec2 = ec2_backends[account_id][region_name]
        group, rule = cls._group_and_rule(ec2, properties)
        existing = group.get_rule(original_resource.rule_id)
        if (
            group.id == original_resource.group_id
            and existing is not None
            and rule_from_backend(existing).key == rule.key
        ):
            describe(existing, rule)
            stash_properties(original_resource, properties)
            return original_resource
        # Replacement; the engine revokes the old rule once the update succeeded.
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
        return None  # only reached if delete() cannot run; the rule id is all we would know

    def delete(self, account_id: str, region_name: str) -> None:
        ec2 = ec2_backends[account_id][region_name]
        group = ec2.get_security_group_from_id(self.group_id)
        if group is not None and group.get_rule(self.rule_id) is not None:
            revoke(ec2, group, [self.rule_id], self.egress)


class SecurityGroupEgressResource(SecurityGroupIngressResource):
    """AWS::EC2::SecurityGroupEgress: as SecurityGroupIngressResource, outbound."""

    TYPE = "AWS::EC2::SecurityGroupEgress"
    egress = True
