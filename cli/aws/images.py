"""The AMIs HTCondorAnnex-Image built: finding them, and deregistering them with their snapshots.

Deleting the stack deletes Image Builder's image resource but not the AMI it distributed
("Deleting an image does not delete the underlying resources", DeleteImage), and a rebuild
leaves the previous AMI behind too. Every AMI the stack builds carries the tag
names.TAG_IMAGE_STACK, so destroy finds all of them, and only them.
"""

from __future__ import annotations

from typing import Any

from annex_stacks import names


def built_images(ec2: Any) -> list[dict[str, Any]]:
    """This account's AMIs that HTCondorAnnex-Image built (any state)."""
    found = ec2.describe_images(
        Owners=["self"],
        Filters=[{"Name": f"tag:{names.TAG_IMAGE_STACK}", "Values": [names.IMAGE_STACK]}],
    )
    return list(found["Images"])


def describe_image(ec2: Any, image_id: str) -> dict[str, Any] | None:
    """The AMI, or None when the region has none of that id."""
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except ec2.exceptions.ClientError as err:
        if err.response.get("Error", {}).get("Code", "").startswith("InvalidAMIID"):
            return None
        raise
    return images[0] if images else None


def image_tags(image: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in image.get("Tags", [])}


def deregister_with_snapshots(ec2: Any, image: dict[str, Any]) -> list[str]:
    """Deregister the AMI, then delete its EBS snapshots; returns what was removed."""
    snapshots = [
        m["Ebs"]["SnapshotId"]
        for m in image.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("SnapshotId")
    ]
    ec2.deregister_image(ImageId=image["ImageId"])
    for snapshot in snapshots:
        ec2.delete_snapshot(SnapshotId=snapshot)
    return [image["ImageId"], *snapshots]
