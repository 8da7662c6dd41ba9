"""Amazon's public AMIs in every EC2 backend, loaded when first looked at.

moto fills every EC2 backend it creates with Amazon's public AMIs (about 1,300 per region), each
with an EBS snapshot made through the backend. That costs a quarter of a second per account and
region, and the emulator pays it far more often than anything looks at an image: a reset
(POST /moto-api/reset) re-creates every backend of every account and region touched since the
server started, and most requests that create an EC2 backend (a security group, a key pair)
never read an image. So the catalogue is loaded, whole and exactly as moto loads it, the first
time the backend's images or snapshots are read; until then nothing can tell it apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from annex_emulator import patches

#: Set on a backend whose catalogue is not loaded yet; "loading" while it is being loaded.
_PENDING = "_annex_amis_pending"
#: Where the two dicts live (the class's properties stand for them).
_STORE = {"amis": "_annex_amis", "snapshots": "_annex_snapshots"}
#: One load at a time: a concurrent reader waits for the whole catalogue, never half of it;
#: re-entrant, as the load itself reads `amis` and `snapshots`.
_LOCK = threading.RLock()


def defer_load(self: Any) -> None:
    """In place of AmiBackend._load_amis, called by EC2Backend.__init__."""
    vars(self)[_PENDING] = True


def _ensure_loaded(self: Any) -> None:
    if _PENDING not in vars(self):
        return
    with _LOCK:
        # Another thread may have loaded it meanwhile; "loading" is this thread's own load.
        if vars(self).get(_PENDING) is True:
            vars(self)[_PENDING] = "loading"
            try:
                patches.ORIGINALS["EC2Backend._load_amis"](self)
            finally:
                vars(self).pop(_PENDING, None)


def _stored(name: str) -> property:
    key = _STORE[name]

    def get(self: Any) -> Any:
        _ensure_loaded(self)
        return vars(self)[key]

    def set_(self: Any, value: Any) -> None:
        vars(self)[key] = value

    return property(get, set_)


def install(patch: Callable[[Any, str, Any], None]) -> None:
    from moto.ec2.models import EC2Backend

    patch(EC2Backend, "_load_amis", defer_load)
    for name in _STORE:
        patches.add(EC2Backend, name, _stored(name))
