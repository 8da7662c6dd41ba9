"""HTCondorAnnex-SecurityGroup: what may reach annex instances (default VPC, as condor_annex)."""

from __future__ import annotations

import ipaddress
from typing import Any

from aws_cdk import Annotations, Aws, CfnCondition, CfnOutput, CfnParameter, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from annex_stacks import nag, names
from annex_stacks.settings import AnnexSettings

NO_CIDR_WARNING = (
    "No allowed CIDR is configured: annex instances will be unreachable from your collector. "
    f"Set the '{names.CTX_ALLOWED_CIDRS}' context in cdk.json (or annex-cdk --allow-from CIDR)."
)


def _ports(settings: AnnexSettings) -> list[tuple[int, str]]:
    # Not settings.collector_port: that is the submit host's collector, which the instances
    # call out to; the instances themselves accept HTCondor on their shared port.
    ports = [(names.INSTANCE_SHARED_PORT, "HTCondor")]
    if settings.ssh:
        ports.append((names.SSH_PORT, "SSH"))
    return ports


#: What a CIDR slot parameter accepts: empty (unused) or a CIDR of its family.
_SLOT_PATTERN = {
    4: r"^$|^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$",
    6: r"^$|^[0-9a-fA-F:]+/\d{1,3}$",
}


def parameter_rules(stack: Stack, settings: AnnexSettings) -> list[Any]:
    """The ingress of a StackSet's template: names.CIDR_SLOTS parameters per IP version, each
    a rule per port when it is not empty (a condition per slot; CloudFormation has no loop
    without a transform, and StackSets take no transforms)."""
    rules: list[Any] = []
    for version in (4, 6):
        for slot in range(1, names.CIDR_SLOTS + 1):
            parameter = CfnParameter(
                stack,
                names.cidr_parameter(version, slot),
                type="String",
                default="",
                allowed_pattern=_SLOT_PATTERN[version],
                description=f"IPv{version} CIDR that may reach annex instances (empty: none)",
            )
            used = CfnCondition(
                stack,
                f"{names.cidr_parameter(version, slot)}Used",
                expression=Fn.condition_not(Fn.condition_equals(parameter.value_as_string, "")),
            )
            for port, what in _ports(settings):
                rule = {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "CidrIp" if version == 4 else "CidrIpv6": parameter.value_as_string,
                    "Description": Fn.join("", [f"{what} from ", parameter.value_as_string]),
                }
                rules.append(Fn.condition_if(used.logical_id, rule, Aws.NO_VALUE))
    return rules


def ingress_rules(settings: AnnexSettings) -> list[ec2.CfnSecurityGroup.IngressProperty]:
    ports = _ports(settings)
    rules = []
    for cidr in settings.allowed_cidrs:
        v6 = ipaddress.ip_network(cidr).version == 6
        for port, what in ports:
            rules.append(
                ec2.CfnSecurityGroup.IngressProperty(
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    cidr_ip=None if v6 else cidr,
                    cidr_ipv6=cidr if v6 else None,
                    description=f"{what} from {cidr}",
                )
            )
    return rules


class SecurityGroupStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: AnnexSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # An L1 group with no VpcId lands in the region's default VPC, as condor_annex's does;
        # the L2 would need a VPC lookup, i.e. credentials at synth time.
        group = ec2.CfnSecurityGroup(
            self,
            names.LID_SECURITY_GROUP,
            # Adopting condor_annex's group keeps its description: only the rules change, in
            # place, so running annex instances keep their group.
            group_description=settings.group_description or names.GROUP_DESCRIPTION,
            security_group_ingress=(
                parameter_rules(self, settings)
                if settings.cidr_parameters
                else ingress_rules(settings) or None
            ),
        )
        if not settings.allowed_cidrs and not settings.cidr_parameters:
            Annotations.of(self).add_warning_v2("annex:no-allowed-cidrs", NO_CIDR_WARNING)
        if settings.world_open:
            # cfn-lint's own acknowledgement mechanism: the world-open rule is the user's choice.
            group.cfn_options.metadata = {"cfn-lint": {"config": {"ignore_checks": ["W2508"]}}}
            nag.acknowledge(
                group,
                {
                    "AwsSolutions-EC23": (
                        "The settings explicitly ask for 0.0.0.0/0 or ::/0 (allowed_cidrs); "
                        "the user has chosen to open HTCondor's shared port to the world."
                    )
                },
            )
        CfnOutput(self, names.OUT_SECURITY_GROUP, value=group.attr_group_id)
