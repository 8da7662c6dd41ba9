"""Which networks the templates about to be deployed open the security group to: read from
the templates themselves (pure dict logic), not from the settings they were made from, so a
template that changed on the way (an edited cache entry, say) is judged by what it says."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

_GROUP = "AWS::EC2::SecurityGroup"
_INGRESS = "AWS::EC2::SecurityGroupIngress"


def _rules(resource: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    props = resource.get("Properties") or {}
    if resource.get("Type") == _GROUP:
        yield from (r for r in props.get("SecurityGroupIngress") or [] if isinstance(r, Mapping))
    elif resource.get("Type") == _INGRESS:
        yield props


def ingress_cidrs(templates: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every literal CIDR (IPv4 and IPv6) a security group ingress rule in ``templates`` allows."""
    found: list[str] = []
    for template in templates.values():
        for resource in (template.get("Resources") or {}).values():
            for rule in _rules(resource):
                for key in ("CidrIp", "CidrIpv6"):
                    if isinstance(value := rule.get(key), str) and value not in found:
                        found.append(value)
    return found
