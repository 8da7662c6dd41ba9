"""One botocore data loader per kind for the whole emulator process.

moto makes botocore sessions of its own while it is imported and taught (each service's
regions, EC2's availability zones, request parsing), and every session parsed botocore's data
files again with a loader of its own: EC2's 4.5 MB API model and the endpoint data four times
over, about a fifth of the emulator's start-up CPU. And the first request to each service made
moto load that service's model with a new loader of moto's own, which lists every service
botocore knows (a walk of some 400 directories) before it reads one: about a second of CPU for
the services a setup calls. The files do not change while the emulator runs.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.loaders
import botocore.session


class _Paths(list[str]):
    """A loader's search paths that a path already there is not appended to again: each boto3
    Session appends boto3's data directory to its loader's, now shared."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> Any:
    loader = _create_loader(search_path_string)
    loader._search_paths = _Paths(loader.search_paths)
    return loader


_create_loader = botocore.loaders.create_loader


def share_one_loader() -> None:
    """From now on, every new botocore session of this process uses the one loader (and its
    caches) for its data path, and moto's models come from one loader of moto's. Idempotent."""
    from moto.core import utils as moto_utils

    botocore.session.create_loader = _shared_loader  # the name botocore.session calls
    moto_utils.create_loader = _shared_moto_loader  # type: ignore[attr-defined]  # moto.core.utils' own import of moto's loader factory, which it does not export


@functools.cache
def _shared_moto_loader() -> Any:
    from moto.core.loaders import create_loader

    return create_loader()
