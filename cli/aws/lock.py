"""One setup or destroy at a time per account and region: a lock held in SSM Parameter Store.

A parameter created with Overwrite=False is an atomic test-and-set that every machine sees,
which a local lock file would not be (CI runners, several submit hosts).
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any

from annex_cdk.aws.parallel import InBackground
from annex_cdk.errors import LockedError
from annex_cdk.text import printable
from annex_stacks import names

#: A lock older than this is left over from a crashed run and may be taken over.
STALE_AFTER_S = 3 * 3600


class Held:
    """The lock this run holds: released when `held` ends, or from `release_soon` on in the
    background, while the run goes on with what needs no lock (its local files)."""

    def __init__(self, ssm: Any, token: str) -> None:
        self._ssm, self._token = ssm, token
        self._releasing: InBackground[bool] | None = None

    def release_soon(self) -> None:
        if self._releasing is None:
            self._releasing = InBackground(partial(release, self._ssm, self._token), name="unlock")

    def _end(self) -> None:
        if self._releasing is None:
            release(self._ssm, self._token)
        else:
            self._releasing.result()


@contextmanager
def held(ssm: Any, purpose: str, *, now: float | None = None) -> Iterator[Held]:
    token = uuid.uuid4().hex
    owner = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "purpose": purpose,
        "since": time.time() if now is None else now,
        "token": token,
    }
    _acquire(ssm, owner)
    lock = Held(ssm, token)
    try:
        yield lock
    finally:
        lock._end()


def _acquire(ssm: Any, owner: dict[str, Any]) -> None:
    if _create(ssm, owner):
        return
    holder = holder_of(ssm)
    if holder and not _may_take_over(holder, owner["since"]):
        raise LockedError(
            f"another annex-cdk {describe(holder)}",
            hint="wait for it to finish; if it is gone, `annex-cdk unlock` removes the lock "
            "(a lock from a crashed run on another host expires after 3 hours)",
        )
    # The holder is gone (stale, dead on this host, or unreadable): remove exactly its lock,
    # then take the lock with the same test-and-set as anyone else, so that two runs taking
    # over at once cannot both win.
    if holder is None:  # a value that is not ours: nothing to compare a token with
        with suppress(ssm.exceptions.ParameterNotFound):
            ssm.delete_parameter(Name=names.LOCK_PARAMETER)
        taken = True
    else:
        taken = release(ssm, holder.get("token"))
    if taken and _create(ssm, owner):
        return
    raise LockedError(
        "another annex-cdk run took the lock over at the same time",
        hint="wait for it to finish, then re-run",
    )


def _create(ssm: Any, owner: dict[str, Any]) -> bool:
    try:
        ssm.put_parameter(
            Name=names.LOCK_PARAMETER,
            Value=json.dumps(owner, sort_keys=True),
            Type="String",
            Overwrite=False,
            Description="annex-cdk: a setup or destroy is running in this account and region",
        )
    except ssm.exceptions.ParameterAlreadyExists:
        return False
    return True


def since_of(holder: dict[str, Any]) -> float | None:
    """When the holder took the lock (epoch seconds), or None if the lock does not say so in
    a form annex-cdk writes (a string, a bool, infinity, before 1970 or past year 9999)."""
    since = holder.get("since")
    if isinstance(since, bool) or not isinstance(since, int | float):
        return None
    if not math.isfinite(since) or not 0 <= since < _YEAR_10000:
        return None
    return float(since)


#: 10000-01-01T00:00:00Z: the first time strftime cannot show as a four-digit year.
_YEAR_10000 = 253402300800


def _may_take_over(holder: dict[str, Any], now: float) -> bool:
    """A lock whose holder provably cannot finish: older than STALE_AFTER_S, or dead here.
    A lock without a time annex-cdk could have written is not a run of ours: taken over."""
    since = since_of(holder)
    if since is None or now - since >= STALE_AFTER_S:
        return True
    return holder.get("host") == socket.gethostname() and not pid_alive(holder.get("pid"))


def pid_alive(pid: Any) -> bool:
    """Whether a process with this id runs on this host (unknown ids count as alive)."""
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def describe(holder: dict[str, Any]) -> str:
    """`setup is running in this account and region (host h, pid 1, since 12:00:00)`.

    Whatever the lock holds is shown with its control characters escaped: anyone who can
    write the parameter chooses these strings."""
    since = since_of(holder)
    shown = "an unknown time" if since is None else time.strftime("%H:%M:%S", time.localtime(since))
    purpose, host, pid = (
        printable(str(holder.get(k, default)))
        for k, default in (("purpose", "run"), ("host", "?"), ("pid", "?"))
    )
    return (
        f"{purpose} is running in this account and region (host {host}, pid {pid}, since {shown})"
    )


def holder_of(ssm: Any) -> dict[str, Any] | None:
    """The lock's holder as recorded, or None (no lock, or a value that is not ours)."""
    try:
        raw = ssm.get_parameter(Name=names.LOCK_PARAMETER)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    try:
        holder = json.loads(raw)
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def release(ssm: Any, token: Any) -> bool:
    """Remove the lock if `token` still holds it; whether it did.

    Only the holder's token releases: a takeover by someone else must survive our exit.
    """
    holder = holder_of(ssm)
    if not holder or holder.get("token") != token:
        return False
    with suppress(ssm.exceptions.ParameterNotFound):
        ssm.delete_parameter(Name=names.LOCK_PARAMETER)
    return True
