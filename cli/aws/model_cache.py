"""botocore's data files (API models, endpoints), as parsed, kept under the user's cache.

Every run that makes AWS clients parsed their JSON again (gzip, then about 8 MB of objects for
the services a setup calls): a tenth of a second of CPU per run. What a file parses to is
written once, in marshal's format, and read back in about a third of the time. An entry is
named by the file's path, size and modification time and by the Python that wrote it, so an
upgraded botocore (or Python) is parsed afresh; it is trusted on the cache's terms
(`annex_cdk.local_cache`: 0700 directories, 0600 files of this user's); anything unreadable is
parsed from the JSON as before. Nothing secret is kept: these are botocore's public files.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from annex_cdk.local_cache import cache_root, read_trusted_bytes, write_private_bytes


def _entry(path: str, stat: os.stat_result) -> Path:
    name = (
        f"{sys.implementation.cache_tag}:{marshal.version}:{path}:{stat.st_size}:{stat.st_mtime_ns}"
    )
    return cache_root() / "botocore" / (hashlib.sha256(name.encode()).hexdigest() + ".marshal")


def load(path: str, stat: os.stat_result) -> Any:
    """What `path` parses to, if kept; None otherwise."""
    data = read_trusted_bytes(_entry(path, stat), what=None)  # an untrusted one only costs time
    if data is None:
        return None
    try:
        return marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None  # cut short or damaged: parsed from the JSON, and kept anew


def keep(path: str, stat: os.stat_result, parsed: Any) -> None:
    """Keep what `path` parsed to for later runs (failing silently: it only costs time)."""
    try:
        data = marshal.dumps(parsed)
    except ValueError:
        return  # not marshal's kind of object (botocore's files are plain JSON)
    write_private_bytes(_entry(path, stat), data)
