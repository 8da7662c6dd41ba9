"""condor_annex lease functions: when an annex's lease runs out, tear the annex down.

One file serves both functions (handlers odi_handler and sfr_handler) because each is inlined
alone as index.py: it may import only the standard library and boto3.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import boto3

log = logging.getLogger("annex.lease")
log.setLevel(logging.INFO)

_GONE_STATES = ("shutting-down", "terminated")
# TerminateInstances and CancelSpotFleetRequests cap how many IDs one call may carry.
_BATCH = 100


class LeaseEventError(ValueError):
    """The rule's constant input is not what condor_annex writes."""


class LeaseError(RuntimeError):
    """AWS refused part of the teardown; raising makes EventBridge retry in five minutes."""


def parse_event(event: Any) -> tuple[str, str, int]:
    if not isinstance(event, dict):
        raise LeaseEventError("event must be a JSON object")
    annex_id, bucket, expiry = (
        event.get(k) for k in ("AnnexID", "S3BucketName", "LeaseExpiration")
    )
    if not isinstance(annex_id, str) or not annex_id:
        raise LeaseEventError("AnnexID must be a non-empty string")
    # condor_annex's own check for the bucket re-tested AnnexID, so a missing bucket slipped by.
    if not isinstance(bucket, str) or not bucket:
        raise LeaseEventError("S3BucketName must be a non-empty string")
    if not isinstance(expiry, int) or isinstance(expiry, bool):
        raise LeaseEventError("LeaseExpiration must be an integer (Unix seconds)")
    return annex_id, bucket, expiry


def owns(annex_id: str, token: str | None) -> bool:
    # condor_annex's tokens are <annexID>_<uuid>. It matched on the bare prefix, so the lease of
    # annex "foo" also killed annex "foo2"; requiring the "_" separator stops that.
    return isinstance(token, str) and (token == annex_id or token.startswith(annex_id + "_"))


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), _BATCH):
        yield ids[i : i + _BATCH]


def _start(event: Any, s3: Any, now: float) -> dict[str, Any]:
    annex_id, bucket, expiry = parse_event(event)
    result: dict[str, Any] = {"AnnexID": annex_id, "LeaseExpiration": expiry}
    if now <= expiry:
        log.info("annex %s: lease runs until %d, nothing to do", annex_id, expiry)
        return {**result, "expired": False}
    key: str | None = f"config-{annex_id}.tar.gz"
    log.info("annex %s: lease expired at %d", annex_id, expiry)
    try:
        s3.delete_object(Bucket=bucket, Key=key)
        log.info("annex %s: deleted s3://%s/%s", annex_id, bucket, key)
    except s3.exceptions.NoSuchBucket:
        # Without the bucket there is no config to delete; carry on so the instances still go.
        log.warning("annex %s: bucket %s does not exist", annex_id, bucket)
        key = None
    return {**result, "expired": True, "deletedObject": key and f"s3://{bucket}/{key}"}


def _finish(annex_id: str, events: Any, result: dict[str, Any]) -> dict[str, Any]:
    try:
        out = events.remove_targets(Rule=annex_id, Ids=[annex_id])
        if out.get("FailedEntryCount"):
            raise LeaseError(f"RemoveTargets failed for rule {annex_id}: {out['FailedEntries']}")
        events.delete_rule(Name=annex_id)
        log.info("annex %s: removed target and deleted rule", annex_id)
    except events.exceptions.ResourceNotFoundException:
        log.info("annex %s: rule already gone", annex_id)
    return {**result, "deletedRule": annex_id}


def expire_odi_lease(event: Any, *, s3: Any, ec2: Any, events: Any, now: float) -> dict[str, Any]:
    result = _start(event, s3, now)
    if not result["expired"]:
        return result
    annex_id = result["AnnexID"]
    ids: list[str] = []
    flt = [{"Name": "client-token", "Values": [annex_id + "*"]}]
    for page in ec2.get_paginator("describe_instances").paginate(Filters=flt):
        for res in page["Reservations"]:
            ids += [
                i["InstanceId"]
                for i in res["Instances"]
                if owns(annex_id, i.get("ClientToken"))
                and i.get("State", {}).get("Name") not in _GONE_STATES
            ]
    for batch in _chunks(ids):
        ec2.terminate_instances(InstanceIds=batch)
    log.info("annex %s: terminated %d instance(s): %s", annex_id, len(ids), ids)
    return _finish(annex_id, events, {**result, "terminatedInstances": ids})


def expire_sfr_lease(event: Any, *, s3: Any, ec2: Any, events: Any, now: float) -> dict[str, Any]:
    result = _start(event, s3, now)
    if not result["expired"]:
        return result
    annex_id = result["AnnexID"]
    ids: list[str] = []
    for page in ec2.get_paginator("describe_spot_fleet_requests").paginate():
        ids += [
            r["SpotFleetRequestId"]
            for r in page["SpotFleetRequestConfigs"]
            if owns(annex_id, r.get("SpotFleetRequestConfig", {}).get("ClientToken"))
            and not r.get("SpotFleetRequestState", "").startswith("cancelled")
        ]
    for batch in _chunks(ids):
        out = ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=batch, TerminateInstances=True)
        if out.get("UnsuccessfulFleetRequests"):
            raise LeaseError(f"CancelSpotFleetRequests failed: {out['UnsuccessfulFleetRequests']}")
    log.info("annex %s: cancelled %d spot fleet request(s): %s", annex_id, len(ids), ids)
    return _finish(annex_id, events, {**result, "cancelledSpotFleetRequests": ids})


def _clients() -> dict[str, Any]:
    return {n: boto3.client(n) for n in ("s3", "ec2", "events")}


def odi_handler(event: Any, context: Any) -> dict[str, Any]:
    return expire_odi_lease(event, **_clients(), now=time.time())


def sfr_handler(event: Any, context: Any) -> dict[str, Any]:
    return expire_sfr_lease(event, **_clients(), now=time.time())
