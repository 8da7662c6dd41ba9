"""Safe writes of local files: private directories, atomic replacement with backups, secrets.

Every failure is a LocalFilesError (exit code 5) whose message is one line.
Symlinks are followed (as condor_annex does), so a user's symlinked dotfile keeps its link and
the file it points to is what gets replaced; but only a link that nobody else could have put
there (trusted_link): one owned by us or root, in a directory only its owner can write. Files
that are annex-cdk's own (write_private) are never written through a link. All checks use the real uid's os.access() view,
so a process running as root passes every permission check (root bypasses file modes); only
structural problems (a file where a directory should be, a read-only mount) are caught then.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from annex_cdk.errors import LocalFilesError
from annex_stacks import names

PRIVATE_DIR_MODE = 0o700
SECRET_MODE = 0o600
#: A config file annex-cdk creates gets the mode condor_annex (user_config) and condor_install
#: (the personal HTCondor's local config file) give theirs; an existing file keeps its own.
CONFIG_FILE_MODE = 0o644
_CHUNK = 1 << 16
#: Backups annex-cdk keeps per file: enough to undo the last few runs, never a pile.
KEEP_BACKUPS = 5
# Undecodable bytes survive a decode/encode round trip, so foreign bytes are kept exactly.
_ENCODING = "utf-8"
_KEEP_BYTES = "surrogateescape"


def decode_exact(data: bytes) -> str:
    """A file's bytes as text that encode_exact turns back into exactly those bytes."""
    return data.decode(_ENCODING, _KEEP_BYTES)


def encode_exact(text: str) -> bytes:
    """The bytes of text from decode_exact (non-UTF-8 bytes included), as they were."""
    return text.encode(_ENCODING, _KEEP_BYTES)


def trusted_link(path: Path) -> None:
    """Refuse ``path`` or its directory being a symlink that someone else could have made.

    A link is followed only if it is owned by us (or root) and sits in a directory that
    neither its group nor others can write: elsewhere another user can plant or swap it and
    make us write their choice of file (the kernel's protected_symlinks covers only sticky
    directories, and not root's writes into a user's directory).
    """
    for link in (path, path.parent):
        try:
            link_st = os.lstat(link)
        except OSError:
            continue
        if not stat.S_ISLNK(link_st.st_mode):
            continue
        try:
            dir_st = os.stat(link.parent)
        except OSError:
            continue
        if link_st.st_uid not in (os.geteuid(), 0):
            raise LocalFilesError(
                f"{link} is a symbolic link owned by someone else (uid {link_st.st_uid}); "
                "refusing to write through it",
                hint=f"replace the link {link} with a file of your own",
            )
        if dir_st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise LocalFilesError(
                f"{link} is a symbolic link in {link.parent}, which others can write; "
                "refusing to write through it",
                hint=f"chmod go-w {link.parent}, or replace the link with a file",
            )


def read_optional(path: Path) -> bytes | None:
    """The bytes of ``path``, or None if there is no such file."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LocalFilesError(f"cannot read {path}: {exc.strerror or exc}") from exc


def ensure_private_dir(path: Path | str) -> bool:
    """Create ``path`` with mode 0700 if missing; True if created. Its parent must exist:
    annex-cdk makes ~/.condor, never a home or a tree on the way to it.

    An existing directory is left exactly as it is: changing the mode of a directory the user
    made is not our call, in either direction.
    """
    path = Path(path)
    if path.is_dir():
        return False
    if path.exists() or path.is_symlink():
        if path.is_dir():  # made meanwhile (setups of several regions at once)
            return False
        raise LocalFilesError(f"{path} exists but is not a directory")
    if not path.parent.is_dir():
        raise LocalFilesError(
            f"cannot create directory {path}: {path.parent} does not exist",
            hint=f"create {path.parent} first, or check HOME",
        )
    try:
        os.mkdir(path, PRIVATE_DIR_MODE)
    except FileExistsError:
        if path.is_dir():  # lost a race with another creator: theirs is as good as ours
            return False
        raise LocalFilesError(f"{path} exists but is not a directory") from None
    except OSError as exc:
        raise LocalFilesError(f"cannot create directory {path}: {exc.strerror}") from exc
    # mkdir's mode is filtered by the umask; set it exactly.
    os.chmod(path, PRIVATE_DIR_MODE)
    return True


@contextlib.contextmanager
def directory_locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (flock on the directory itself, so no lock file
    is left behind) while a read-modify-write of a file in it runs.

    Two annex-cdk runs (say setups of two regions) each edit their own block of the same file;
    without the lock, the later write would drop the other's block. A missing directory is
    created 0700 first (annex-cdk's files in it are private).
    """
    ensure_private_dir(directory)
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise LocalFilesError(f"cannot open directory {directory}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(directory: Path) -> None:
    """Make a rename or create in ``directory`` durable (best effort where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view[:_CHUNK])
        view = view[written:]
    os.fsync(fd)


def _create_exclusive(path: Path, mode: int) -> int:
    """Open a new file for writing, failing if anything (even a dangling symlink) is there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode & 0o600)
    try:
        # The umask filtered os.open's mode; set the final mode before any byte is written.
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.annex-cdk-tmp-{secrets.token_hex(6)}")


def _backup_path(target: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = target.with_name(target.name + names.BACKUP_SUFFIX.format(timestamp=stamp))
    n = 1
    while candidate.exists() or candidate.is_symlink():  # never overwrite an older backup
        candidate = target.with_name(
            target.name + names.BACKUP_SUFFIX.format(timestamp=f"{stamp}-{n}")
        )
        n += 1
    return candidate


def prune_backups(target: Path, keep: int = KEEP_BACKUPS) -> list[Path]:
    """Delete all but the newest ``keep`` of annex-cdk's backups of ``target``; return them.

    Only files named as annex-cdk names its backups (``<name>.annex-cdk-<stamp>.bak``) and
    that are regular files are considered.
    """
    pattern = target.name + names.BACKUP_SUFFIX.format(timestamp="*")
    found = []
    for path in target.parent.glob(pattern):
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((st.st_mtime_ns, path.name, path))
    found.sort()
    removed = []
    for _, _, path in found[: max(0, len(found) - keep)]:
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def _read_no_follow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def _copy_backup(target: Path, st: os.stat_result) -> Path:
    """Copy ``target`` to a new backup file with the same mode (a secret stays private)."""
    backup = _backup_path(target)
    data = _read_no_follow(target)  # the file stat() saw, not a link swapped in since
    fd = _create_exclusive(backup, stat.S_IMODE(st.st_mode))
    try:
        _write_all(fd, data)
    except BaseException:
        os.close(fd)
        backup.unlink(missing_ok=True)
        raise
    os.close(fd)
    return backup


def atomic_write(
    path: Path | str,
    data: bytes,
    *,
    mode: int,
    backup: bool = True,
    force_mode: bool = False,
) -> Path | None:
    """Replace ``path`` with ``data`` atomically; return the backup's path, if one was made.

    A new file gets ``mode``. An existing file keeps its mode (and, best effort, its owner)
    unless ``force_mode`` is set, as for secrets. With ``backup``, the previous file is first
    copied to ``<name>.annex-cdk-<UTC timestamp>.bak`` with the previous file's mode; existing
    backups are never overwritten, and only the newest KEEP_BACKUPS are kept. The parent
    directory must exist. A symlink is followed only if trusted_link allows it.
    """
    trusted_link(Path(path))
    target = Path(os.path.realpath(path))
    if not target.parent.is_dir():
        raise LocalFilesError(f"cannot write {path}: {target.parent} is not a directory")
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise LocalFilesError(f"cannot write {path}: {exc.strerror}") from exc
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise LocalFilesError(f"cannot write {path}: it is not a regular file")
    final_mode = mode if (st is None or force_mode) else stat.S_IMODE(st.st_mode)

    backup_path: Path | None = None
    tmp = _temp_name(target)
    try:
        if st is not None and backup:
            backup_path = _copy_backup(target, st)
        fd = _create_exclusive(tmp, final_mode)
        try:
            if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                # Keep the owner when we can (e.g. root editing a user's file); the file's
                # content is what matters, so not being allowed to is no reason to fail.
                with contextlib.suppress(OSError):
                    os.fchown(fd, st.st_uid, st.st_gid)
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LocalFilesError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    if backup_path is not None:
        prune_backups(target)
    return backup_path


def write_private(path: Path, data: bytes) -> None:
    """Create or replace annex-cdk's own file ``path`` (0600) atomically, never through a link.

    For files only annex-cdk reads (destroy's journal): a symlink or anything but a regular
    file at ``path`` is refused, whoever made it.
    """
    check_private(path)
    tmp = _temp_name(path)
    try:
        fd = _create_exclusive(tmp, SECRET_MODE)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)  # replaces a name, never what a link there points to
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LocalFilesError(f"cannot write {path}: {exc.strerror or exc}") from exc
    _fsync_dir(path.parent)


def check_private(path: Path) -> None:
    """Raise LocalFilesError unless write_private can create or replace ``path``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise LocalFilesError(f"cannot use {path}: {exc.strerror or exc}") from exc
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise LocalFilesError(
            f"{path} is a symbolic link; annex-cdk writes its own file there, never through a link",
            hint=f"remove the link {path}",
        )
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise LocalFilesError(
            f"{path} is {kind}; annex-cdk keeps a file of its own there",
            hint=f"move {path} away, then re-run",
        )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise LocalFilesError(
            f"cannot write {path}: directory {path.parent} is not writable",
            hint=f"chmod u+wx {path.parent}",
        )


def write_secret_new(path: Path | str, data: bytes) -> None:
    """Create ``path`` with mode 0600 holding ``data``; refuse if anything is already there.

    The data goes to a private temp file first and is then hard-linked into place, which is
    create-only and atomic: the name never points at a partly written secret.
    """
    target = Path(path)
    if target.exists() or target.is_symlink():
        raise LocalFilesError(f"{target} already exists; refusing to overwrite it")
    if not target.parent.is_dir():
        raise LocalFilesError(f"cannot create {target}: {target.parent} is not a directory")
    tmp = _temp_name(target)
    try:
        fd = _create_exclusive(tmp, SECRET_MODE)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise LocalFilesError(f"{target} already exists; refusing to overwrite it") from None
        except OSError:
            # No hard links on this file system: fall back to a plain exclusive create.
            _write_secret_direct(target, data)
    except OSError as exc:
        raise LocalFilesError(f"cannot create {target}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(target.parent)


def _write_secret_direct(target: Path, data: bytes) -> None:
    try:
        fd = _create_exclusive(target, SECRET_MODE)
    except FileExistsError:
        raise LocalFilesError(f"{target} already exists; refusing to overwrite it") from None
    try:
        _write_all(fd, data)
    except BaseException:
        os.close(fd)
        target.unlink(missing_ok=True)  # ours, and incomplete
        raise
    os.close(fd)


def check_writable(path: Path | str) -> None:
    """Raise LocalFilesError unless ``path`` can later be written by atomic_write.

    Meant to run before any AWS change. An existing file must be a writable regular file in a
    writable directory (atomic_write creates a temp file next to it). A missing file needs its
    nearest existing ancestor to be a writable directory. Root passes the mode checks.
    """
    given = Path(path)
    trusted_link(given)
    target = Path(os.path.realpath(given))  # follow symlinks as atomic_write will
    # The hint names the file to fix: a symlink's target, not the link.
    shown = str(given) if target == given.absolute() else f"{given} (a link to {target})"
    if target.exists():
        if target.is_dir():
            raise LocalFilesError(
                f"{shown} is a directory, not a file",
                hint=f"move {target} away: annex-cdk writes a file there",
            )
        if not target.is_file():
            raise LocalFilesError(
                f"{shown} is not a regular file", hint=f"move {target} away, then re-run"
            )
        if not os.access(target, os.W_OK):
            raise LocalFilesError(f"{shown} is not writable", hint=f"chmod u+w {target}")
        directory = target.parent
        if not os.access(directory, os.W_OK | os.X_OK):
            raise LocalFilesError(
                f"cannot replace {shown}: directory {directory} is not writable",
                hint=f"chmod u+wx {directory} (annex-cdk writes a new copy beside the file)",
            )
        return
    ancestor = target.parent
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise LocalFilesError(
                f"cannot create {shown}: {ancestor} is a dangling symlink",
                hint=f"remove the link {ancestor} or create what it points to",
            )
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise LocalFilesError(
            f"cannot create {shown}: {ancestor} is not a directory",
            hint=f"move {ancestor} away, or use another HOME",
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise LocalFilesError(
            f"cannot create {shown}: directory {ancestor} is not writable",
            hint=f"chmod u+wx {ancestor}, or use another HOME",
        )
