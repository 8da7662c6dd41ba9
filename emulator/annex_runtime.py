"""condor_annex's run-time EC2 calls, as EC2 answers them (moto 5.2.5 does not).

- DescribeInstances' `client-token` filter: moto raises NotImplementedError. The lease functions
  (and condor_annex's odi-lease.js before them) find an annex's instances with
  `client-token = <annexID>*`; EC2 filter values take `*` and `?` wildcards.
- RequestSpotFleet's ClientToken: moto drops it, so DescribeSpotFleetRequests never shows it
  and a lease function could never find its annex's fleet. EC2 keeps it in the request's config.
- DeleteSecurityGroup of a group that instances still use: moto deletes it; EC2 refuses with
  DependencyViolation, so replacing condor_annex's group under running annex instances fails
  (CloudFormation's cleanup then fails too) instead of silently succeeding.
- DeregisterImage's DeleteAssociatedSnapshots: moto ignores it and keeps the snapshots. EC2
  deletes the AMI's snapshots with it, except one another AMI still uses ("If a snapshot is
  associated with multiple AMIs, it is not deleted", EC2 API reference, DeregisterImage).
  destroy removes a built image this way, so its policy needs no ec2:DeleteSnapshot.
- Launch times on the emulator's clock (`annex_emulator.clock`), as the functions it runs and
  its Date header already are: an instance launched after the clock moved forward reports the
  moved time, so a test can place its annexes at a chosen hour of a UTC day.
"""

from __future__ import annotations

import datetime
import fnmatch
from typing import Any

from annex_emulator import clock, patches

CLIENT_TOKEN_FILTER = "client-token"


def passes_filter_dict(instance: Any, filter_dict: dict[str, Any]) -> bool:
    wanted = filter_dict.get(CLIENT_TOKEN_FILTER)
    if wanted is not None:
        token = getattr(instance, "client_token", None) or ""
        if not any(fnmatch.fnmatchcase(token, pattern) for pattern in wanted):
            return False
        filter_dict = {k: v for k, v in filter_dict.items() if k != CLIENT_TOKEN_FILTER}
    return bool(patches.ORIGINALS["utils.passes_filter_dict"](instance, filter_dict))


def request_spot_fleet(self: Any) -> Any:
    result = patches.ORIGINALS["SpotFleets.request_spot_fleet"](self)
    token = self._get_param("SpotFleetRequestConfig", {}).get("ClientToken")
    if token:
        fleet_id = result.result["SpotFleetRequestId"]
        self.ec2_backend.spot_fleet_requests[fleet_id].client_token = token
    return result


def spot_fleet_request_config(self: Any) -> dict[str, Any]:
    config = dict(patches.ORIGINALS["SpotFleetRequest.spot_fleet_request_config"](self))
    token = getattr(self, "client_token", None)
    if token:
        config["ClientToken"] = token
    return config


def instance_utcnow() -> datetime.datetime:
    """moto's `utcnow` (naive UTC) in its instances module, read from the emulator's clock."""
    return datetime.datetime.fromtimestamp(clock.now(), datetime.UTC).replace(tzinfo=None)


def delete_security_group(self: Any, name: str | None = None, group_id: str | None = None) -> None:
    from moto.ec2.exceptions import DependencyViolationError

    group = self.get_security_group_by_name_or_id(group_id or name)
    if group is not None:
        for instance in self.all_instances():
            in_use = any(g.id == group.id for g in instance.security_groups)
            if in_use and instance.state != "terminated":
                raise DependencyViolationError(f"resource {group.id} has a dependent object")
    patches.ORIGINALS["EC2Backend.delete_security_group"](self, name=name, group_id=group_id)


def deregister_image(self: Any) -> Any:
    wanted = str(self._get_param("DeleteAssociatedSnapshots", False)).lower() == "true"
    backend = self.ec2_backend
    image = backend.amis.get(self._get_param("ImageId"))
    snapshot = getattr(image, "ebs_snapshot", None) if wanted else None
    shared = snapshot is not None and any(
        other is not image and getattr(other, "ebs_snapshot", None) is snapshot
        for other in backend.amis.values()
    )
    result = patches.ORIGINALS["EC2Response.deregister_image"](self)
    if snapshot is not None and not shared:
        backend.delete_snapshot(snapshot.id)  # no longer in use: its AMI is gone
    return result


def install() -> None:
    from moto.ec2 import utils
    from moto.ec2.models import EC2Backend, instances
    from moto.ec2.models.spot_requests import SpotFleetRequest
    from moto.ec2.responses import EC2Response
    from moto.ec2.responses.spot_fleets import SpotFleets

    patches.patch(utils, "passes_filter_dict", passes_filter_dict)
    patches.patch(instances, "utcnow", instance_utcnow)
    patches.patch(SpotFleets, "request_spot_fleet", request_spot_fleet)
    patches.patch(EC2Backend, "delete_security_group", delete_security_group)
    patches.patch(EC2Response, "deregister_image", deregister_image)
    patches.patch_property(SpotFleetRequest, "spot_fleet_request_config", spot_fleet_request_config)
