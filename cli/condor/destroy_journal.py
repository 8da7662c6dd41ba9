"""destroy's journal: which PEM belonged to the key pair being deleted, across an interrupted run.

`~/.condor/.annex-cdk-destroy.<region>.json` holds the key pair's name and the SHA-256 of its
PEM (never the key). A re-run after the key-pair stack is gone reads it to remove that PEM and
nothing else. It is annex-cdk's own file: written only as a regular file, never through a link,
and checked (with what it names) before destroy changes anything on AWS.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from annex_cdk.condor.files import check_private, write_private
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.errors import LocalFilesError
from annex_cdk.text import printable

_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


def path(paths: LocalPaths, region: str) -> Path:
    return paths.condor_dir / f".annex-cdk-destroy.{region}.json"


def check(paths: LocalPaths, region: str) -> None:
    """Raise LocalFilesError unless the journal can be written and, if present, read."""
    if not paths.condor_dir.is_dir():
        return
    check_private(path(paths, region))
    read(paths, region)


def write(paths: LocalPaths, region: str, key_name: str, digest: str) -> None:
    if not paths.condor_dir.is_dir():
        return
    body = json.dumps({"key_name": key_name, "pem_sha256": digest}).encode()
    write_private(path(paths, region), body)


def read(paths: LocalPaths, region: str) -> tuple[str, str] | None:
    """The key pair's name and its PEM's digest, or None when there is no journal.

    A journal that names a key no PEM of ours could have (a path, a bad digest) is refused,
    naming the journal: only that file is wrong, not the key name the user passed.
    """
    journal = path(paths, region)
    try:
        data = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise _broken(journal, f"cannot be read ({printable(str(err))})") from None
    if not isinstance(data, dict):
        raise _broken(journal, "is not a JSON object")
    key_name, digest = data.get("key_name"), data.get("pem_sha256")
    if not isinstance(key_name, str) or not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise _broken(journal, "does not hold a key_name and a pem_sha256")
    try:
        paths.pem(region, key_name)
    except LocalFilesError:
        raise _broken(
            journal, f"names the key pair {printable(key_name)!r}, not a PEM's name"
        ) from None
    return key_name, digest


def remove(paths: LocalPaths, region: str) -> None:
    path(paths, region).unlink(missing_ok=True)


def _broken(journal: Path, what: str) -> LocalFilesError:
    return LocalFilesError(
        f"destroy's journal {journal} {what}",
        hint=f"remove {journal} (destroy then keeps any PEM it cannot prove is the deleted key's)",
    )
