"""Safe local writes: private dirs, atomic replacement with backups, create-only secrets."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from annex_cdk.condor import files as localfiles
from annex_cdk.condor.files import (
    atomic_write,
    check_writable,
    ensure_private_dir,
    write_secret_new,
)
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.errors import LocalFilesError
from annex_stacks import names
from tests.documented import documented_number


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def backups_of(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.annex-cdk-*.bak"))


def leftovers(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if "annex-cdk-tmp" in p.name]


@pytest.fixture(params=[0o022, 0o077, 0o000], ids=["umask022", "umask077", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Modes must come out exact whatever the umask is."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


# --- ensure_private_dir ----------------------------------------------------------------------


def test_private_dir_created_0700_in_an_existing_parent_only(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "home" / "user" / ".condor"
    with pytest.raises(LocalFilesError, match="does not exist"):  # never a home on the way
        ensure_private_dir(target)
    assert not (tmp_path / "home").exists()
    target.parent.mkdir(parents=True)
    assert ensure_private_dir(target) is True
    assert mode_of(target) == 0o700
    assert ensure_private_dir(target) is False


def test_private_dir_leaves_existing_mode_alone(tmp_path: Path) -> None:
    existing = tmp_path / "open"
    existing.mkdir()
    os.chmod(existing, 0o755)
    assert ensure_private_dir(existing) is False
    assert mode_of(existing) == 0o755


def test_private_dir_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(LocalFilesError, match="not a directory"):
        ensure_private_dir(tmp_path / "f")


# --- atomic_write ----------------------------------------------------------------------------


def test_new_file_gets_mode_and_no_backup(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "user_config"
    assert atomic_write(target, b"A = 1\n", mode=0o644) is None
    assert target.read_bytes() == b"A = 1\n"
    assert mode_of(target) == 0o644
    assert backups_of(target) == []
    assert leftovers(tmp_path) == []


def test_replace_keeps_mode_and_backs_up(tmp_path: Path) -> None:
    target = tmp_path / "user_config"
    target.write_bytes(b"old\n")
    os.chmod(target, 0o640)
    backup = atomic_write(target, b"new\n", mode=0o644)
    assert target.read_bytes() == b"new\n"
    assert mode_of(target) == 0o640
    assert backup is not None and backup.parent == tmp_path
    assert backup.name.startswith("user_config.annex-cdk-") and backup.name.endswith("Z.bak")
    assert backup.read_bytes() == b"old\n"
    assert mode_of(backup) == 0o640
    assert backups_of(target) == [backup]
    assert leftovers(tmp_path) == []


def test_backups_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"v1")
    first = atomic_write(target, b"v2", mode=0o644)
    second = atomic_write(target, b"v3", mode=0o644)  # same second: needs a distinct name
    assert first is not None and second is not None and first != second
    assert first.read_bytes() == b"v1"
    assert second.read_bytes() == b"v2"


def test_forced_mode_for_secrets_and_private_backup(tmp_path: Path) -> None:
    target = tmp_path / "privateKeyFile"
    target.write_bytes(b"old secret")
    os.chmod(target, 0o600)
    backup = atomic_write(target, b"new secret", mode=0o600, force_mode=True)
    assert mode_of(target) == 0o600
    assert backup is not None and mode_of(backup) == 0o600
    loose = tmp_path / "loose"
    loose.write_bytes(b"x")
    os.chmod(loose, 0o644)
    atomic_write(loose, b"y", mode=0o600, force_mode=True, backup=False)
    assert mode_of(loose) == 0o600
    assert backups_of(loose) == []


def test_symlink_is_followed_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "user_config"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "user_config"
    link.symlink_to(real)
    atomic_write(link, b"new", mode=0o644, backup=False)
    assert link.is_symlink()
    assert real.read_bytes() == b"new"


def test_atomic_write_refuses_directory_and_missing_parent(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(LocalFilesError, match="not a regular file"):
        atomic_write(tmp_path / "d", b"x", mode=0o644)
    with pytest.raises(LocalFilesError, match="not a directory"):
        atomic_write(tmp_path / "missing" / "f", b"x", mode=0o644)


def test_failed_write_leaves_original_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"keep")

    def boom(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(localfiles.os, "replace", boom)
    with pytest.raises(LocalFilesError, match="No space left"):
        atomic_write(target, b"new", mode=0o644, backup=False)
    assert target.read_bytes() == b"keep"
    assert leftovers(tmp_path) == []


# --- write_secret_new ------------------------------------------------------------------------


def test_secret_is_0600(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "privateKeyFile"
    write_secret_new(target, b"s3cret")
    assert target.read_bytes() == b"s3cret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_ISREG(target.stat().st_mode)
    assert target.stat().st_nlink == 1  # the temp link is gone
    assert leftovers(tmp_path) == []


def test_secret_refuses_existing_file_and_symlink(tmp_path: Path) -> None:
    target = tmp_path / "privateKeyFile"
    target.write_bytes(b"original")
    with pytest.raises(LocalFilesError, match="already exists"):
        write_secret_new(target, b"other")
    assert target.read_bytes() == b"original"
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(LocalFilesError, match="already exists"):
        write_secret_new(dangling, b"x")
    assert not (tmp_path / "nowhere").exists()
    assert leftovers(tmp_path) == []


def test_secret_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: object, dst: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(localfiles.os, "link", no_links)
    target = tmp_path / "k"
    write_secret_new(target, b"data")
    assert target.read_bytes() == b"data"
    assert mode_of(target) == 0o600
    assert leftovers(tmp_path) == []


# --- check_writable --------------------------------------------------------------------------


def test_check_writable_accepts_usual_cases(tmp_path: Path) -> None:
    existing = tmp_path / "f"
    existing.write_text("x")
    check_writable(existing)
    check_writable(tmp_path / "new")
    check_writable(tmp_path / "a" / "b" / "c" / "user_config")  # created later


def test_check_writable_ancestor_is_a_file(tmp_path: Path) -> None:
    # Works as root too: no mode bit is involved, a file simply can't hold a directory.
    (tmp_path / ".condor").write_text("oops")
    with pytest.raises(LocalFilesError, match=r"\.condor is not a directory"):
        check_writable(tmp_path / ".condor" / "user_config")
    with pytest.raises(LocalFilesError, match="not a directory"):
        check_writable(tmp_path / ".condor" / "deeper" / "user_config")


def test_check_writable_directory_given(tmp_path: Path) -> None:
    with pytest.raises(LocalFilesError, match="is a directory"):
        check_writable(tmp_path)


def test_check_writable_not_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root passes any access() check, so simulate the view of an ordinary user.
    existing = tmp_path / "f"
    existing.write_text("x")
    monkeypatch.setattr(localfiles.os, "access", lambda path, mode: False)
    with pytest.raises(LocalFilesError, match="is not writable"):
        check_writable(existing)
    with pytest.raises(LocalFilesError, match=f"directory {tmp_path} is not writable"):
        check_writable(tmp_path / "new" / "f")


def test_check_writable_directory_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    existing = tmp_path / "f"
    existing.write_text("x")
    real_access = os.access
    monkeypatch.setattr(
        localfiles.os, "access", lambda p, m: Path(p) != tmp_path and real_access(p, m)
    )
    with pytest.raises(LocalFilesError, match="cannot replace"):
        check_writable(existing)


# Real file modes (which root bypasses) are exercised by tests/e2e/test_fault_matrix.py's
# read-only ~/.condor row, which runs the CLI as an unprivileged user.


@pytest.mark.hostile
@pytest.mark.parametrize("key_name", ["../../etc/evil", "a/b", "..\\up"])
def test_a_pem_path_never_leaves_the_condor_directory(tmp_path: Path, key_name: str) -> None:
    with pytest.raises(LocalFilesError, match="outside"):
        LocalPaths(tmp_path).pem("us-east-1", key_name)


@pytest.mark.hostile
def test_backups_do_not_pile_up(tmp_path: Path) -> None:
    """Regression: every run that changed the file left one more backup, without limit."""
    target = tmp_path / names.USER_CONFIG_FILE
    target.write_bytes(b"v0\n")
    unrelated = tmp_path / "user_config.bak"  # not annex-cdk's naming: never touched
    unrelated.write_bytes(b"mine\n")
    keep = documented_number("concepts.md", r"only the newest (\w+) backups of a file are kept")
    made = [localfiles.atomic_write(target, f"v{i}\n".encode(), mode=0o644) for i in range(1, 9)]
    kept = sorted(p.name for p in tmp_path.glob(target.name + ".annex-cdk-*.bak"))
    assert len(kept) == keep
    # The newest ones stay: the last backup holds the version before the current one.
    assert made[-1] is not None and made[-1].read_bytes() == b"v7\n"
    assert {p.name for p in made[-keep:] if p} == set(kept)
    assert unrelated.read_bytes() == b"mine\n"


@pytest.mark.hostile
def test_hints_name_a_symlinks_target_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file to fix is the link's target: the hint says which, and how."""
    real = tmp_path / "dotfiles" / "user_config"
    real.parent.mkdir()
    real.write_text("x")
    link = tmp_path / "user_config"
    link.symlink_to(real)
    # Root passes any access() check: the target alone is unwritable, as for a user.
    real_access = os.access
    monkeypatch.setattr(localfiles.os, "access", lambda p, m: Path(p) != real and real_access(p, m))
    with pytest.raises(LocalFilesError, match=f"a link to {real}") as raised:
        check_writable(link)
    assert raised.value.hint == f"chmod u+w {real}"
    monkeypatch.setattr(
        localfiles.os, "access", lambda p, m: Path(p) != real.parent and real_access(p, m)
    )
    with pytest.raises(LocalFilesError) as raised:
        check_writable(link)
    assert raised.value.hint is not None and raised.value.hint.startswith(
        f"chmod u+wx {real.parent} "
    )
    real.unlink()
    real.mkdir()
    with pytest.raises(LocalFilesError, match="is a directory") as raised:
        check_writable(link)
    assert raised.value.hint == f"move {real} away: annex-cdk writes a file there"
