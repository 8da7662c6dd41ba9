"""EC2, as the use cases need it: key pairs, a security group's rules, AMIs, annex instances.

The AMIs HTCondorAnnex-Image built: deleting the stack deletes Image Builder's image resource
but not the AMI it distributed ("Deleting an image does not delete the underlying resources",
DeleteImage), and a rebuild leaves the previous AMI behind too. Every AMI the stack builds
carries the tag names.TAG_IMAGE_STACK, so destroy finds all of them, and only them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from annex_cdk.aws.service import Service, not_found_raises
from annex_stacks import names

#: One ingress rule: protocol, from port, to port, and source (a CIDR or a group id).
Rule = tuple[str, int, int, str]

_LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


@dataclass(frozen=True)
class Image:
    image_id: str
    state: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    snapshots: tuple[str, ...] = ()

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
        )


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
