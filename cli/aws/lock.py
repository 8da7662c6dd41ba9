"""One setup or destroy at a time per account and region: a lock held in SSM Parameter Store.

A parameter created with Overwrite=False is an atomic test-and-set that every machine sees,
which a local lock file would not be (CI runners, several submit hosts).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from annex_cdk.errors import LockedError
from annex_stacks import names

#: A lock older than this is left over from a crashed run and may be taken over.
STALE_AFTER_S = 3 * 3600


@contextmanager
def held(ssm: Any, purpose: str, *, now: float | None = None) -> Iterator[None]:
    owner = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "purpose": purpose,
        "since": time.time() if now is None else now,
        "token": uuid.uuid4().hex,
    }
    _acquire(ssm, owner)
    try:
        yield
    finally:
        _release(ssm, owner)


def _acquire(ssm: Any, owner: dict[str, Any]) -> None:
    value = json.dumps(owner, sort_keys=True)
    try:
        ssm.put_parameter(
            Name=names.LOCK_PARAMETER,
            Value=value,
            Type="String",
            Overwrite=False,
            Description="annex-cdk: a setup or destroy is running in this account and region",
        )
        return
    except ssm.exceptions.ParameterAlreadyExists:
        pass
    holder = _holder(ssm)
    if holder and owner["since"] - float(holder.get("since", 0)) < STALE_AFTER_S:
        raise LockedError(
            f"another annex-cdk {holder.get('purpose', 'run')} is running in this account and "
            f"region (host {holder.get('host')}, pid {holder.get('pid')}, "
            f"since {time.strftime('%H:%M:%S', time.localtime(float(holder.get('since', 0))))})",
            hint="wait for it to finish; a lock from a crashed run expires after 3 hours, or "
            f"delete the SSM parameter {names.LOCK_PARAMETER}",
        )
    # Stale (or unreadable) lock from a run that died: take it over.
    ssm.put_parameter(Name=names.LOCK_PARAMETER, Value=value, Type="String", Overwrite=True)


def _holder(ssm: Any) -> dict[str, Any] | None:
    try:
        raw = ssm.get_parameter(Name=names.LOCK_PARAMETER)["Parameter"]["Value"]
        return json.loads(raw)
    except Exception:
        return None


def _release(ssm: Any, owner: dict[str, Any]) -> None:
    holder = _holder(ssm)
    # Only our own lock: a stale-lock takeover by someone else must survive our exit.
    if holder and holder.get("token") == owner["token"]:
        with suppress(ssm.exceptions.ParameterNotFound):
            ssm.delete_parameter(Name=names.LOCK_PARAMETER)
