"""Security-group rules as CloudFormation sees them, and syncing them onto EC2's group in place:
revoke what a template dropped, authorize what it added, re-describe the rest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from moto.ec2.models.security_groups import SecurityGroup, SecurityGroupRule

from annex_emulator.resource_properties import (
    EmulatorResourceError,
    stash_properties,
    template_tags,
)
from annex_emulator.stack_operation import stack_tags

_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp"}
_PROTOCOLS.update({"-1": "-1", "all": "-1", "icmpv6": "icmpv6", "58": "icmpv6"})


@dataclass(frozen=True)
class Rule:
    """One security-group permission; `key` identifies it, the description is mutable."""

    protocol: str
    from_port: int | None
    to_port: int | None
    target_kind: str  # CidrIp | CidrIpv6 | GroupId | GroupName | PrefixListId
    target: str
    description: str | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.protocol, self.from_port, self.to_port, self.target_kind, self.target)


def _protocol(value: Any) -> str:
    text = str(value).lower()
    return _PROTOCOLS.get(text, text)


def rule_from_template(rule: dict[str, Any], egress: bool) -> Rule:
    protocol = _protocol(rule["IpProtocol"])
    if protocol == "-1":
        from_port = to_port = None
    elif protocol in ("tcp", "udp") and ("FromPort" not in rule or "ToPort" not in rule):
        raise EmulatorResourceError(
            "InvalidParameterValue",
            "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.",
        )
    else:
        from_port, to_port = int(rule.get("FromPort", -1)), int(rule.get("ToPort", -1))
    peer = "Destination" if egress else "Source"
    targets = [
        (kind, rule[prop])
        for kind, prop in (
            ("CidrIp", "CidrIp"),
            ("CidrIpv6", "CidrIpv6"),
            ("GroupId", f"{peer}SecurityGroupId"),
            ("GroupName", "SourceSecurityGroupName"),
            ("PrefixListId", f"{peer}PrefixListId"),
        )
        if rule.get(prop)
    ]
    if len(targets) != 1:
        raise EmulatorResourceError(
            "InvalidParameterValue",
            "A security group rule needs exactly one of CidrIp, CidrIpv6, a security group "
            "or a prefix list.",
        )
    kind, target = targets[0]
    return Rule(protocol, from_port, to_port, kind, str(target), rule.get("Description"))


def rule_from_backend(rule: SecurityGroupRule) -> Rule:
    protocol = _protocol(rule.ip_protocol)
    ports = (None, None) if protocol == "-1" else (rule.from_port, rule.to_port)
    if rule.ip_range.get("CidrIp"):
        kind, target, description = "CidrIp", rule.ip_range["CidrIp"], rule.ip_range
    elif rule.ip_range.get("CidrIpv6"):
        kind, target, description = "CidrIpv6", rule.ip_range["CidrIpv6"], rule.ip_range
    elif rule.source_group:
        group = rule.source_group
        kind = "GroupId" if group.get("GroupId") else "GroupName"
        target, description = group.get("GroupId") or group.get("GroupName", ""), group
    else:
        kind, target, description = "PrefixListId", rule.prefix_list_id or "", {}
    return Rule(protocol, *ports, kind, str(target), description.get("Description"))


def _default_egress(ec2: Any, group: SecurityGroup) -> list[Rule]:
    """What EC2 puts on a new VPC group, and what CloudFormation restores without egress rules."""
    rules = [Rule("-1", None, None, "CidrIp", "0.0.0.0/0")]
    vpc = ec2.vpcs.get(group.vpc_id) if group.vpc_id else None
    if vpc is not None and vpc.get_cidr_block_association_set(ipv6=True):
        rules.append(Rule("-1", None, None, "CidrIpv6", "::/0"))
    return rules


def _unique(rules: list[Rule]) -> dict[tuple[Any, ...], Rule]:
    by_key: dict[tuple[Any, ...], Rule] = {}
    for rule in rules:
        if rule.key in by_key:
            raise EmulatorResourceError(
                "InvalidPermission.Duplicate",
                "the specified rule is specified more than once in the same request",
            )
        by_key[rule.key] = rule
    return by_key


def _backend_rules(group: SecurityGroup, egress: bool) -> dict[tuple[Any, ...], SecurityGroupRule]:
    return {
        rule_from_backend(r).key: r for r in (group.egress_rules if egress else group.ingress_rules)
    }


def authorize(ec2: Any, group: SecurityGroup, rule: Rule, egress: bool) -> SecurityGroupRule:
    peer: dict[str, Any] = {rule.target_kind: rule.target}
    if rule.description is not None:
        peer["Description"] = rule.description
    authorize = (
        ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    )
    added: list[SecurityGroupRule]
    added, _ = authorize(
        group.id,
        rule.protocol,
        rule.from_port,
        rule.to_port,
        [peer] if rule.target_kind.startswith("Cidr") else [],
        source_groups=[peer] if rule.target_kind.startswith("Group") else [],
        prefix_list_ids=[peer] if rule.target_kind == "PrefixListId" else [],
    )
    return added[0]


def revoke(ec2: Any, group: SecurityGroup, rule_ids: list[str], egress: bool) -> None:
    if rule_ids:
        revoke = ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
        revoke(group.id, None, None, None, [], security_rule_ids=rule_ids)


def describe(existing: SecurityGroupRule, rule: Rule) -> None:
    """Rule descriptions change in place (EC2's UpdateSecurityGroupRuleDescriptions*)."""
    holder = existing.source_group if rule.target_kind.startswith("Group") else existing.ip_range
    if rule.description is None:
        holder.pop("Description", None)
    else:
        holder["Description"] = rule.description


def _sync_rules(
    ec2: Any, group: SecurityGroup, wanted: list[Rule], before: list[Rule], egress: bool
) -> None:
    """Apply the difference between the previous and the new inline rules, as CloudFormation
    does: revoke what the template dropped, authorize what it added, re-describe the rest.
    Rules the template never listed (standalone SecurityGroupIngress resources) stay."""
    desired = _unique(wanted)
    current = _backend_rules(group, egress)
    dropped = {r.key for r in before} - set(desired)
    revoke(ec2, group, [current[k].id for k in dropped if k in current], egress)
    for key, rule in desired.items():
        if key in current:
            describe(current[key], rule)
        else:
            authorize(ec2, group, rule, egress)


def by_group_id(ec2: Any, group: SecurityGroup, rule: Rule) -> Rule:
    """EC2 stores a rule naming a source group by its id; compare it that way too."""
    if rule.target_kind != "GroupName":
        return rule
    peer = ec2.get_security_group_by_name_or_id(rule.target, group.vpc_id)
    if peer is None:
        raise EmulatorResourceError(
            "InvalidGroup.NotFound", f"The security group '{rule.target}' does not exist"
        )
    return dataclasses.replace(rule, target_kind="GroupId", target=peer.id)


def _inline_rules(
    ec2: Any, group: SecurityGroup, properties: dict[str, Any]
) -> tuple[list[Rule], list[Rule]]:
    """A template's inline (ingress, egress); without egress rules EC2's default egress stays."""
    ingress = [
        by_group_id(ec2, group, rule_from_template(r, egress=False))
        for r in properties.get("SecurityGroupIngress") or []
    ]
    if properties.get("SecurityGroupEgress"):
        egress = [rule_from_template(r, egress=True) for r in properties["SecurityGroupEgress"]]
    else:
        egress = _default_egress(ec2, group)
    return ingress, egress


def sync_security_group(
    ec2: Any, group: SecurityGroup, properties: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    ingress, egress = _inline_rules(ec2, group, properties)
    if previous is None:  # a new group holds just EC2's default egress
        before_in: list[Rule] = []
        before_out = [rule_from_backend(r) for r in group.egress_rules]
    else:
        before_in, before_out = _inline_rules(ec2, group, previous)
    _sync_rules(ec2, group, ingress, before_in, egress=False)
    _sync_rules(ec2, group, egress, before_out, egress=True)
    wanted = template_tags(properties)
    stale = set(template_tags(previous or {})) - set(wanted)
    if stale:
        ec2.delete_tags([group.id], dict.fromkeys(stale))
    tags = {**stack_tags(), **wanted} if previous is None else wanted
    if tags:
        ec2.create_tags([group.id], tags)
    stash_properties(group, properties)
