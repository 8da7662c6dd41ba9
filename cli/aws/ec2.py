"""EC2, as the use cases need it: key pairs, a security group's rules, AMIs, annex instances,
and the region's posture as condor_annex meets it (its default VPC, the account's
instance-metadata defaults), with the two changes setup makes to it (CreateDefaultVpc, an AMI's
ImdsSupport v2.0).

The AMIs HTCondorAnnex-Image built: deleting the stack deletes Image Builder's image resource
but not the AMI it distributed ("Deleting an image does not delete the underlying resources",
DeleteImage), and a rebuild leaves the previous AMI behind too. Every AMI the stack builds
carries the tag names.TAG_IMAGE_STACK, so destroy finds all of them, and only them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from annex_cdk.aws.parallel import at_once
from annex_cdk.aws.service import Service, not_found_raises
from annex_stacks import names

#: One ingress rule: protocol, from port, to port, and source (a CIDR or a group id).
Rule = tuple[str, int, int, str]

_LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
#: How EC2 and IAM refuse a caller a call.
_DENIED = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"})
#: What EC2's ImdsSupport says of an AMI whose software speaks IMDSv2 (and cannot be undone).
IMDS_V2 = "v2.0"


@dataclass(frozen=True)
class Image:
    image_id: str
    state: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    snapshots: tuple[str, ...] = ()
    #: "v2.0" when registered IMDSv2-only: instances get HttpTokens=required by default.
    imds_support: str | None = None

    @classmethod
    def from_api(cls, image: Mapping[str, Any]) -> Image:
        return cls(
            image_id=str(image["ImageId"]),
            state=image.get("State"),
            tags={t["Key"]: t["Value"] for t in image.get("Tags", [])},
            snapshots=tuple(
                m["Ebs"]["SnapshotId"]
                for m in image.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("SnapshotId")
            ),
            imds_support=image.get("ImdsSupport"),
        )


@dataclass(frozen=True)
class RegionPosture:
    """What a region of the account looks like to condor_annex."""

    region: str
    #: The default VPC's id, or None when the region has none (landing zones delete it).
    default_vpc: str | None
    #: Its default subnets (one per Availability Zone when EC2 made it).
    default_subnets: int = 0
    #: GetInstanceMetadataDefaults' AccountLevel: only what the account has set; None where
    #: the caller may not read it (annex-cdk policy leaves it out: IAM's size limit).
    imds_defaults: Mapping[str, Any] | None = field(default_factory=dict)

    @property
    def imds_required(self) -> bool:
        """Instances launched without MetadataOptions are IMDSv2-only here."""
        return (self.imds_defaults or {}).get("HttpTokens") == "required"

    @property
    def imds_enforced(self) -> bool:
        return (self.imds_defaults or {}).get("HttpTokensEnforced") == "enabled"


def ingress_rules(permissions: list[Mapping[str, Any]]) -> set[Rule]:
    """EC2's IpPermissions, one rule per source."""
    rules = set()
    for p in permissions:
        ports = (p["IpProtocol"], p.get("FromPort", -1), p.get("ToPort", -1))
        for r in p.get("IpRanges", []):
            rules.add((*ports, r["CidrIp"]))
        for r in p.get("Ipv6Ranges", []):
            rules.add((*ports, r["CidrIpv6"]))
        for g in p.get("UserIdGroupPairs", []):
            rules.add((*ports, g["GroupId"]))
    return rules


class Ec2(Service):
    name = "ec2"

    def key_pair_exists(self, name: str) -> bool:
        found = self._client.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}])
        return bool(found["KeyPairs"])

    @not_found_raises
    def ingress_rules(self, group_id: str) -> set[Rule]:
        [group] = self._client.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        return ingress_rules(group.get("IpPermissions", []))

    def image(self, image_id: str) -> Image | None:
        """The AMI, or None when the region has none of that id."""
        try:
            images = self._client.describe_images(ImageIds=[image_id])["Images"]
        except self._client.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code", "").startswith("InvalidAMIID"):
                return None
            raise
        return Image.from_api(images[0]) if images else None

    def built_images(self) -> list[Image]:
        """This account's AMIs that HTCondorAnnex-Image built (any state)."""
        found = self._client.describe_images(
            Owners=["self"],
            Filters=[{"Name": f"tag:{names.TAG_IMAGE_STACK}", "Values": [names.IMAGE_STACK]}],
        )
        return [Image.from_api(image) for image in found["Images"]]

    def deregister_with_snapshots(self, image: Image) -> list[str]:
        """Deregister the AMI and, in the same call, its EBS snapshots (EC2 keeps one another
        AMI still uses): authorized on the tagged image alone, so the policy holds no
        ec2:DeleteSnapshot on anyone's snapshots. Returns what was removed."""
        self._client.deregister_image(ImageId=image.image_id, DeleteAssociatedSnapshots=True)
        return [image.image_id, *image.snapshots]

    def annex_instances(self) -> list[str]:
        """Instances condor_annex launched (its htcondor:AnnexName tag), not terminated."""
        paginator = self._client.get_paginator("describe_instances")
        ids: list[str] = []
        for page in paginator.paginate(
            Filters=[
                {"Name": "tag-key", "Values": [names.TAG_ANNEX_NAME]},
                {"Name": "instance-state-name", "Values": _LIVE_INSTANCE_STATES},
            ]
        ):
            for reservation in page["Reservations"]:
                ids.extend(i["InstanceId"] for i in reservation["Instances"])
        return ids

    def default_vpc(self) -> tuple[str | None, int]:
        """(the default VPC's id or None, how many default subnets it has)."""
        is_default = [{"Name": "is-default", "Values": ["true"]}]
        vpcs = self._client.describe_vpcs(Filters=is_default)["Vpcs"]
        if not vpcs:
            return None, 0
        vpc_id = str(vpcs[0]["VpcId"])
        subnets = self._client.describe_subnets(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "default-for-az", "Values": ["true"]},
            ]
        )["Subnets"]
        return vpc_id, len(subnets)

    def posture(self) -> RegionPosture:
        """The default VPC (and its subnets) and the instance-metadata defaults, read at once."""
        (vpc, subnets), imds = at_once(self.default_vpc, self.imds_defaults, name="posture")
        return RegionPosture(self.region, vpc, subnets, imds)

    def imds_defaults(self) -> dict[str, Any] | None:
        """The account's instance-metadata defaults here (empty: none set; None: the caller
        may not read them)."""
        try:
            level = self._client.get_instance_metadata_defaults().get("AccountLevel") or {}
        except self._client.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") in _DENIED:
                return None
            raise
        return {k: v for k, v in level.items() if k != "ManagedExceptionMessage"}

    def create_default_vpc(self) -> str:
        """EC2's CreateDefaultVpc (a /16 with a default subnet per zone); the existing one's id
        if another run made it meanwhile. Never deletes anything."""
        try:
            return str(self._client.create_default_vpc()["Vpc"]["VpcId"])
        except self._client.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") != "DefaultVpcAlreadyExists":
                raise
        vpc, _ = self.default_vpc()
        if vpc is None:
            raise RuntimeError("EC2 says a default VPC exists, but lists none")
        return vpc

    def declare_imds_v2(self, image: Image) -> bool:
        """Register the AMI as IMDSv2-only (ImdsSupport v2.0, which EC2 cannot undo); False
        when it already is."""
        if image.imds_support == IMDS_V2:
            return False
        self._client.modify_image_attribute(ImageId=image.image_id, ImdsSupport={"Value": IMDS_V2})
        return True
