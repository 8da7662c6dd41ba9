"""`annex-cdk credentials`: condor_annex's two key files, made as the first-time guide says.

condor_annex reads an access key id and a secret key from two files (default
``~/.condor/publicKeyFile`` and ``~/.condor/privateKeyFile``) and trims whitespace; its
-check-setup insists that the secret file is owned by the user with no group/other bits
(reference §2 step 3, §6). The files can't carry a session token, so temporary credentials are
refused; on EC2 the instance profile (``FROM INSTANCE``) is the alternative.

The secret is held in a `Secret`, which never shows itself in a repr, a message or a traceback.
"""

from __future__ import annotations

import hmac
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

from annex_cdk.condor.files import (
    SECRET_MODE,
    atomic_write,
    ensure_private_dir,
    write_secret_new,
)
from annex_cdk.errors import CredentialsError, LocalFilesError, UsageError
from annex_cdk.text import BOM, BOM_HINT, bom_problem
from annex_stacks import names

# AWS: key ids are word characters; "ASIA..." ids are temporary (STS) and need a session token.
_KEY_ID_RE = re.compile(r"[A-Za-z0-9_]+\Z")
_TEMPORARY_PREFIX = names.TEMPORARY_KEY_PREFIX
_LONG_TERM_PREFIX = names.LONG_TERM_KEY_PREFIX
# A secret access key is printable ASCII without whitespace (40 base64-ish chars in practice).
_SECRET_RE = re.compile(r"[\x21-\x7e]+\Z")
# The header of the access-key CSV file the IAM console offers for download.
_CSV_HEADER = "access key id,secret access key"
#: Enough for any real key file; a bigger file is not a key file.
_MAX_KEY_FILE = 4096


class Secret:
    """A secret string that does not print itself: repr/str show stars, pickling is refused."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __len__(self) -> int:
        return len(self._value)

    def matches(self, other: str) -> bool:
        """Constant-time comparison (the other side may be a file an attacker can time)."""
        return hmac.compare_digest(self._value.encode(), other.encode())


def mask(key_id: str) -> str:
    """An access key id shown by its first and last four characters, e.g. AKIA...WXYZ."""
    return key_id if len(key_id) <= 8 else f"{key_id[:4]}...{key_id[-4:]}"


@dataclass(frozen=True)
class KeyPair:
    """A long-term access key: the id (public enough to show masked) and its secret."""

    access_key_id: str
    secret: Secret = field(repr=False)
    source: str


def validate_pair(access_key_id: str, secret: Secret, *, source: str) -> KeyPair:
    """Refuse what condor_annex could not use, without ever quoting the secret."""
    if not access_key_id:
        raise CredentialsError(f"no access key id in {source}")
    if access_key_id.startswith(BOM):
        raise CredentialsError(bom_problem(source), hint=BOM_HINT)
    if not _KEY_ID_RE.match(access_key_id):
        raise CredentialsError(
            f"the access key id from {source} is not an AWS access key id "
            "(letters, digits and '_' only)",
            hint="give the access key id first and the secret access key second",
        )
    if access_key_id.startswith(_TEMPORARY_PREFIX):
        raise CredentialsError(
            f"the access key {mask(access_key_id)} from {source} is temporary (ASIA...): it "
            "works only with a session token, which condor_annex's key files cannot hold",
            hint="use a long-term IAM user access key (AKIA...), or --from-instance on EC2",
        )
    value = secret.reveal()
    if not value:
        raise CredentialsError(f"no secret access key in {source}")
    if not _SECRET_RE.match(value):
        raise CredentialsError(
            f"the secret access key from {source} contains whitespace or non-ASCII characters"
        )
    return KeyPair(access_key_id, secret, source)


def from_text(text: str, *, source: str = "standard input") -> KeyPair:
    """Two lines: the access key id, then the secret (or the IAM console's CSV download)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].lower().replace('"', "").startswith(_CSV_HEADER):
        # accessKeys.csv from the IAM console: a header, then "id,secret".
        if len(lines) != 2 or lines[1].count(",") != 1:
            raise CredentialsError(f"{source}: expected the IAM console's two-line CSV")
        key_id, secret = (part.strip().strip('"') for part in lines[1].split(","))
        return validate_pair(key_id, Secret(secret), source=source)
    if len(lines) != 2:
        raise UsageError(
            f"{source} must hold two lines, the access key id and then the secret access key "
            f"(got {len(lines)} non-empty line(s))",
            hint='e.g. printf \'%s\\n%s\\n\' "$ID" "$SECRET" | annex-cdk credentials --from-stdin',
        )
    key_id, secret = lines
    if secret.startswith((_LONG_TERM_PREFIX, _TEMPORARY_PREFIX)) and not key_id.startswith(
        (_LONG_TERM_PREFIX, _TEMPORARY_PREFIX)
    ):
        raise UsageError(
            f"the lines on {source} look swapped: the access key id (AKIA...) comes first"
        )
    return validate_pair(key_id, Secret(secret), source=source)


# --- Writing the two files --------------------------------------------------------------------

FileAction = Literal["created", "filled", "unchanged"]


@dataclass(frozen=True)
class _Plan:
    path: Path
    action: FileAction
    mode: int  # the mode the file will have
    narrowed_from: int | None = None  # an existing mode annex-cdk takes group/other bits off


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    action: FileAction
    mode: int
    narrowed_from: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "action": self.action,
            "mode": f"{self.mode:04o}",
            "narrowed_from": f"{self.narrowed_from:04o}" if self.narrowed_from else None,
        }


def _refuse(message: str, hint: str | None = None) -> NoReturn:
    raise LocalFilesError(message, hint=hint)


def _plan(path: Path, value: str, *, what: str, secret: bool) -> _Plan:
    """What writing ``value`` into ``path`` means; raise if annex-cdk must not do it."""
    try:
        st = os.stat(path)  # follows symlinks, as condor_annex does when it reads the file
    except FileNotFoundError:
        if path.is_symlink():
            _refuse(f"{path} is a dangling symlink; refusing to write the {what} through it")
        return _Plan(path, "created", SECRET_MODE)
    except OSError as err:
        _refuse(f"cannot check {path}: {err.strerror}")
    if not stat.S_ISREG(st.st_mode):
        _refuse(f"{path} is not a regular file")
    if st.st_uid != os.geteuid():
        # condor_annex refuses a secret key file that someone else owns; so do we, for both.
        _refuse(f"{path} is owned by uid {st.st_uid}, not by you; refusing to use it")
    mode = stat.S_IMODE(st.st_mode)
    if not mode & stat.S_IRUSR:
        # Before opening it: root would read it anyway, an ordinary user would get EACCES.
        _refuse(f"{path} is not readable by you (mode {mode:04o}); refusing to change that")
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_KEY_FILE + 1)
    except OSError as err:
        _refuse(f"cannot read {path}: {err.strerror}")
    if len(data) > _MAX_KEY_FILE:
        _refuse(f"{path} is too big to be a key file; refusing to overwrite it")
    # Only group/other bits are ever taken away; nothing is ever added.
    target = mode & 0o600
    narrowed = mode if target != mode else None
    current = data.decode("utf-8", "replace").strip()
    if not current:
        # The guide has the user `touch` both files first: filling an empty file is expected.
        return _Plan(path, "filled", target, narrowed)
    same = Secret(value).matches(current) if secret else current == value
    if not same:
        shown = "" if secret else f" ({mask(current)}, not {mask(value)})"
        _refuse(
            f"{path} already holds a different {what}{shown}; refusing to overwrite it",
            hint=f"remove {path} first if it is no longer needed, or write elsewhere with "
            f"--{'secret' if secret else 'access'}-key-file",
        )
    return _Plan(path, "unchanged", target, narrowed)


def _apply(plan: _Plan, value: str) -> FileOutcome:
    data = f"{value}\n".encode()
    try:
        if plan.action == "created":
            ensure_private_dir(plan.path.parent)
            write_secret_new(plan.path, data)
        elif plan.action == "filled":
            # force_mode: the final mode is the planned one (never wider than the old one).
            atomic_write(plan.path, data, mode=plan.mode, backup=False, force_mode=True)
        elif plan.narrowed_from is not None:
            os.chmod(plan.path, plan.mode)
    except OSError as err:
        raise LocalFilesError(f"cannot change the mode of {plan.path}: {err.strerror}") from None
    return FileOutcome(plan.path, plan.action, plan.mode, plan.narrowed_from)


@dataclass(frozen=True)
class CredentialsReport:
    source: str
    access_key_id: str | None  # masked
    access_key_file: FileOutcome | None
    secret_key_file: FileOutcome | None
    directory: Path | None
    directory_created: bool
    directory_mode: int | None
    config_values: dict[str, str]
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        files = (self.access_key_file, self.secret_key_file)
        return any(f and (f.action != "unchanged" or f.narrowed_from) for f in files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "access_key_id": self.access_key_id,
            "access_key_file": self.access_key_file.as_dict() if self.access_key_file else None,
            "secret_key_file": self.secret_key_file.as_dict() if self.secret_key_file else None,
            "directory": str(self.directory) if self.directory else None,
            "directory_created": self.directory_created,
            "directory_mode": f"{self.directory_mode:04o}" if self.directory_mode else None,
            "config_values": dict(self.config_values),
            "warnings": list(self.warnings),
            "changed": self.changed,
        }


def write_key_files(
    pair: KeyPair, access_key_file: Path, secret_key_file: Path
) -> CredentialsReport:
    """Write both files (0600, directory 0700 if created), or neither if either is refused."""
    if access_key_file.absolute() == secret_key_file.absolute():
        raise UsageError("the access key file and the secret key file must be different files")
    plans = (
        (_plan(access_key_file, pair.access_key_id, what="access key id", secret=False), False),
        (_plan(secret_key_file, pair.secret.reveal(), what="secret access key", secret=True), True),
    )
    directory = secret_key_file.parent
    existed = directory.is_dir()
    public, private = (
        _apply(plan, pair.secret.reveal() if secret else pair.access_key_id)
        for plan, secret in plans
    )
    dir_mode = stat.S_IMODE(os.stat(directory).st_mode)
    warnings = []
    if dir_mode & (stat.S_IWGRP | stat.S_IWOTH):
        warnings.append(
            f"{directory} is writable by others (mode {dir_mode:04o}), who could replace the "
            f"key files; consider chmod 700 {directory}"
        )
    return CredentialsReport(
        source=pair.source,
        access_key_id=mask(pair.access_key_id),
        access_key_file=public,
        secret_key_file=private,
        directory=directory,
        directory_created=not existed,
        directory_mode=dir_mode,
        config_values={
            names.KEY_ACCESS_KEY_FILE: str(access_key_file.absolute()),
            names.KEY_SECRET_KEY_FILE: str(secret_key_file.absolute()),
        },
        warnings=tuple(warnings),
    )


def from_instance_report(access_key_file: Path, secret_key_file: Path) -> CredentialsReport:
    """--from-instance: nothing to write; setup --from-instance puts FROM INSTANCE in the config."""
    warnings = []
    present = [p for p in (access_key_file, secret_key_file) if p.exists()]
    if present:
        verb = "exists" if len(present) == 1 else "exist"
        warnings.append(
            f"{' and '.join(map(str, present))} {verb}: condor_annex ignores key files with "
            "FROM INSTANCE, but annex-cdk setup without --from-instance would use them"
        )
    return CredentialsReport(
        source="instance",
        access_key_id=None,
        access_key_file=None,
        secret_key_file=None,
        directory=None,
        directory_created=False,
        directory_mode=None,
        config_values={
            names.KEY_ACCESS_KEY_FILE: names.FROM_INSTANCE,
            names.KEY_SECRET_KEY_FILE: names.FROM_INSTANCE,
        },
        warnings=tuple(warnings),
    )
