"""condor_annex lease functions: when an annex's lease runs out, tear the annex down.

One file serves both functions (handlers odi_handler and sfr_handler) because each is inlined
alone as index.py: it may import only the standard library and boto3.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("annex.lease")
log.setLevel(logging.INFO)

_GONE_STATES = ("shutting-down", "terminated")
#: The stack tells each lease function its setup's bucket (annex_stacks.names.LEASE_BUCKET_ENV).
BUCKET_ENV = "ANNEX_CONFIG_BUCKET"
# TerminateInstances and CancelSpotFleetRequests cap how many IDs one call may carry.
_BATCH = 100


class LeaseEventError(ValueError):
    """The rule's constant input is not what condor_annex writes."""


class LeaseError(RuntimeError):
    """AWS refused part of the teardown; raising makes EventBridge retry in five minutes."""


def parse_event(event: Any) -> tuple[str, str | None, int]:
    """AnnexID, the bucket the input names (None when it names none), LeaseExpiration."""
    if not isinstance(event, dict):
        raise LeaseEventError("event must be a JSON object")
    annex_id, bucket, expiry = (
        event.get(k) for k in ("AnnexID", "S3BucketName", "LeaseExpiration")
    )
    if not isinstance(annex_id, str) or not annex_id:
        raise LeaseEventError("AnnexID must be a non-empty string")
    if not isinstance(expiry, int) or isinstance(expiry, bool):
        raise LeaseEventError("LeaseExpiration must be an integer (Unix seconds)")
    # `condor_annex -annex-name N -duration H` rewrites the target without an upload location,
    # so its input carries "S3BucketName": "" (PutTargets.cpp builds it from the command's
    # UploadTo, which annex-update.cpp never sets). An expired lease must end all the same.
    return annex_id, bucket if isinstance(bucket, str) and bucket else None, expiry


def owns(annex_id: str, token: str | None) -> bool:
    # condor_annex's tokens are <annexID>_<uuid>. It matched on the bare prefix, so the lease of
    # annex "foo" also killed annex "foo2"; requiring the "_" separator stops that.
    return isinstance(token, str) and (token == annex_id or token.startswith(annex_id + "_"))


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), _BATCH):
        yield ids[i : i + _BATCH]


def _delete_config(s3: Any, bucket: str, key: str, *, own: bool) -> bool:
    try:
        s3.delete_object(Bucket=bucket, Key=key)
    except s3.exceptions.NoSuchBucket:
        # Without the bucket there is no config to delete; carry on so the instances still go.
        log.warning("bucket %s does not exist", bucket)
        return False
    except s3.exceptions.ClientError as err:
        if own:
            raise  # e.g. throttling: fail, and EventBridge retries in five minutes
        # A bucket outside this setup (condor_annex's -aws-s3-config-path): the role may not
        # reach it, and that must not keep the instances running.
        log.warning("could not delete s3://%s/%s: %s", bucket, key, err)
        return False
    log.info("deleted s3://%s/%s", bucket, key)
    return True


def _start(event: Any, s3: Any, now: float, own_bucket: str | None) -> dict[str, Any]:
    annex_id, named_bucket, expiry = parse_event(event)
    result: dict[str, Any] = {"AnnexID": annex_id, "LeaseExpiration": expiry}
    if now <= expiry:
        log.info("annex %s: lease runs until %d, nothing to do", annex_id, expiry)
        return {**result, "expired": False}
    log.info("annex %s: lease expired at %d", annex_id, expiry)
    buckets = {b: b == own_bucket for b in (own_bucket, named_bucket) if b}
    if not buckets:
        log.warning("annex %s: no bucket configured or named; no config to delete", annex_id)
    deleted = delete_annex_config(annex_id, s3, buckets)
    return {**result, "expired": True, "deletedObjects": deleted}


def remove_rule(annex_id: str, events: Any) -> None:
    """Remove the annex's lease rule and its target, where they exist."""
    try:
        out = events.remove_targets(Rule=annex_id, Ids=[annex_id])
        if out.get("FailedEntryCount"):
            raise LeaseError(f"RemoveTargets failed for rule {annex_id}: {out['FailedEntries']}")
        events.delete_rule(Name=annex_id)
        log.info("annex %s: removed target and deleted rule", annex_id)
    except events.exceptions.ResourceNotFoundException:
        log.info("annex %s: rule already gone", annex_id)


def _finish(annex_id: str, events: Any, result: dict[str, Any]) -> dict[str, Any]:
    remove_rule(annex_id, events)
    return {**result, "deletedRule": annex_id}


def annex_instances(annex_id: str, ec2: Any) -> list[str]:
    """The annex's live on-demand instances: those whose client token it owns."""
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
    return ids


def terminate_instances(ids: list[str], ec2: Any) -> None:
    for batch in _chunks(ids):
        ec2.terminate_instances(InstanceIds=batch)


def annex_fleets(annex_id: str, ec2: Any) -> list[str]:
    """The annex's spot fleet requests that are not cancelled yet."""
    ids: list[str] = []
    for page in ec2.get_paginator("describe_spot_fleet_requests").paginate():
        ids += [
            r["SpotFleetRequestId"]
            for r in page["SpotFleetRequestConfigs"]
            if owns(annex_id, r.get("SpotFleetRequestConfig", {}).get("ClientToken"))
            and not r.get("SpotFleetRequestState", "").startswith("cancelled")
        ]
    return ids


def cancel_fleets(ids: list[str], ec2: Any) -> None:
    """Cancel the fleets and terminate their instances."""
    for batch in _chunks(ids):
        out = ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=batch, TerminateInstances=True)
        if out.get("UnsuccessfulFleetRequests"):
            raise LeaseError(f"CancelSpotFleetRequests failed: {out['UnsuccessfulFleetRequests']}")


def delete_annex_config(annex_id: str, s3: Any, buckets: dict[str, bool]) -> list[str]:
    """Delete config-<annex>.tar.gz from each bucket (True: this setup's own bucket)."""
    key = config_key(annex_id)
    return [f"s3://{b}/{key}" for b, own in buckets.items() if _delete_config(s3, b, key, own=own)]


def config_key(annex_id: str) -> str:
    return f"config-{annex_id}.tar.gz"


def expire_odi_lease(
    event: Any, *, s3: Any, ec2: Any, events: Any, now: float, bucket: str | None = None
) -> dict[str, Any]:
    """`bucket` is this setup's configuration bucket, whatever the event names."""
    result = _start(event, s3, now, bucket)
    if not result["expired"]:
        return result
    annex_id = result["AnnexID"]
    ids = annex_instances(annex_id, ec2)
    terminate_instances(ids, ec2)
    log.info("annex %s: terminated %d instance(s): %s", annex_id, len(ids), ids)
    return _finish(annex_id, events, {**result, "terminatedInstances": ids})


def expire_sfr_lease(
    event: Any, *, s3: Any, ec2: Any, events: Any, now: float, bucket: str | None = None
) -> dict[str, Any]:
    """`bucket` is this setup's configuration bucket, whatever the event names."""
    result = _start(event, s3, now, bucket)
    if not result["expired"]:
        return result
    annex_id = result["AnnexID"]
    ids = annex_fleets(annex_id, ec2)
    cancel_fleets(ids, ec2)
    log.info("annex %s: cancelled %d spot fleet request(s): %s", annex_id, len(ids), ids)
    return _finish(annex_id, events, {**result, "cancelledSpotFleetRequests": ids})


def _clients() -> dict[str, Any]:
    # Imported by the handlers alone: annex-cdk imports this module for its logic (the
    # guardrail's reads) and talks to AWS through botocore; boto3 would cost it ~0.1 s a run.
    import boto3

    return {n: boto3.client(n) for n in ("s3", "ec2", "events")}


def odi_handler(event: Any, context: Any) -> dict[str, Any]:
    return expire_odi_lease(
        event, **_clients(), now=time.time(), bucket=os.environ.get(BUCKET_ENV) or None
    )


def sfr_handler(event: Any, context: Any) -> dict[str, Any]:
    return expire_sfr_lease(
        event, **_clients(), now=time.time(), bucket=os.environ.get(BUCKET_ENV) or None
    )
