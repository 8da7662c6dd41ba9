"""Files annex-cdk keeps for itself under the user's cache directory, and when to trust them.

What is deployed (or skipped) follows from these files, so they are not trusted blindly: their
directories are created 0700 (whatever the umask), files are written 0600 and atomically, and a
directory or file another user owns or can write is ignored.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from annex_cdk import console

_PRIVATE = 0o700
#: Under cache_root(): the synthesis cache (ops.synth_cache) and the records of the last setups
#: (ops.deployed_record).
SYNTH_DIR = "synth"
DEPLOYED_DIR = "deployed"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "annex-cdk"


def holds_json(directory: str) -> bool:
    """Whether the cache's `directory` holds any entry (trusted or not)."""
    try:
        return any((cache_root() / directory).glob("*.json"))
    except OSError:
        return True  # unreadable: assume something is kept (a guess, not a verdict)


def untrusted(path: Path) -> str | None:
    """Why ``path`` (a cache directory or file) must not be trusted, or None."""
    st = os.stat(path, follow_symlinks=False)
    if st.st_uid != os.geteuid():
        return f"{path} is owned by uid {st.st_uid}, not by you"
    if st.st_mode & 0o022:
        return f"{path} is writable by others (mode {st.st_mode & 0o7777:04o})"
    return None


def private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents 0700, whatever the umask."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        os.mkdir(path, _PRIVATE)
        os.chmod(path, _PRIVATE)  # mkdir's mode went through the umask


def read_trusted_json(entry: Path, *, what: str | None) -> Any:
    """The JSON in ``entry`` (under cache_root()), or None when it is missing, damaged or not
    to be trusted (then a warning names why, for `what` it is; None: no warning, for a guess
    that the run's own reading will warn about, or a cache of botocore's public files)."""
    data = read_trusted_bytes(entry, what=what)
    try:
        return None if data is None else json.loads(data)
    except ValueError:
        return None


def read_trusted_bytes(entry: Path, *, what: str | None) -> bytes | None:
    """``entry``'s bytes, on read_trusted_json's terms."""
    try:
        for path in (entry.parent.parent, entry.parent, entry):
            if reason := untrusted(path):
                if what is not None:
                    console.warn(f"ignoring {what}: {reason}")
                return None
        return entry.read_bytes()
    except OSError:
        return None


def write_private_json(entry: Path, data: Any) -> None:
    """Write ``data`` to ``entry`` atomically, 0600 in 0700 directories; a cache that cannot
    be written only costs time, so failing to write is silent."""
    write_private_bytes(entry, json.dumps(data).encode())


def write_private_bytes(entry: Path, data: bytes) -> None:
    """``data`` into ``entry``, on write_private_json's terms."""
    try:
        private_dirs(entry.parent)
        if any(untrusted(p) for p in (entry.parent.parent, entry.parent)):
            return  # not a place to keep what later decides a deployment
        # NamedTemporaryFile creates the file 0600.
        with tempfile.NamedTemporaryFile(dir=entry.parent, delete=False, suffix=".tmp") as tmp:
            tmp.write(data)
        os.replace(tmp.name, entry)
    except OSError:
        pass
