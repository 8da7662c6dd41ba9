"""moto's service packages, listed once.

For every request, moto's server asks whether the Host header names one of its service packages
(`moto.backends.list_of_moto_modules`), which lists moto's package directory and stats each of
its entries, about 150, every time, and twice for a request to the emulator's own address (the
second time after it has read the service from the request). The directory does not change
while the server runs, so it is listed once: a tenth of the emulator's CPU in a profile of the
end-to-end tests went there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from annex_emulator import patches


@cache
def list_of_moto_modules() -> tuple[str, ...]:
    return tuple(patches.ORIGINALS["backends.list_of_moto_modules"]())


def install(patch: Callable[[Any, str, Any], None]) -> None:
    from moto import backends

    list_of_moto_modules.cache_clear()
    patch(backends, "list_of_moto_modules", list_of_moto_modules)
