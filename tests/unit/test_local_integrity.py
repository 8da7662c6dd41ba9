"""Local files under hostile input and concurrency (nothing lost, all found
before any AWS change). post_deploy and preflight run here against a scratch HOME and the real
HTCondor parser; the e2e fault matrix drives the same code through the CLI and the emulator."""

from __future__ import annotations

import fcntl
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from annex_cdk.aws.session import Credentials
from annex_cdk.condor import block as blocks
from annex_cdk.condor import user_config
from annex_cdk.condor.files import PRIVATE_DIR_MODE
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.errors import LocalFilesError
from annex_cdk.ops import destroy as destroy_ops
from annex_cdk.ops.post_deploy import post_deploy, preflight
from annex_stacks import names

pytestmark = pytest.mark.hostile

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
KEY = names.KEY_PAIR_NAME
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n"


def outputs(region: str) -> dict[str, dict[str, str]]:
    return {names.BUCKET_STACK: {names.OUT_BUCKET: f"bucket-{region}"}}


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalPaths]:
    config = tmp_path / "condor_config"
    config.write_text("# an empty base config\n")
    monkeypatch.setenv("CONDOR_CONFIG", str(config))
    home = tmp_path / "home"
    home.mkdir()
    yield LocalPaths(home)


def deploy(paths: LocalPaths, region: str, credentials: Credentials | None = None) -> Any:
    return post_deploy(
        paths,
        region,
        outputs(region),
        credentials or Credentials(),
        key_name=None,
        private_key=None,
    )


def test_setups_of_several_regions_at_once_keep_every_block(
    paths: LocalPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SSM lock is per region, user_config is one file: its read-modify-write is locked
    locally. The pause between reading and writing makes the lost update certain without it."""
    put_blocks = blocks.put_blocks

    def slow_put_blocks(*args: Any, **kwargs: Any) -> Any:
        threading.Event().wait(0.2)
        return put_blocks(*args, **kwargs)

    monkeypatch.setattr(blocks, "put_blocks", slow_put_blocks)
    errors: list[BaseException] = []

    def run(region: str) -> None:
        try:
            deploy(paths, region)
        except BaseException as err:  # every failure is reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(r,)) for r in REGIONS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    text = paths.user_config.read_text()
    assert set(user_config.parse(text).ours) == set(REGIONS)


def test_a_rerun_without_key_file_flags_keeps_the_key_files(paths: LocalPaths) -> None:
    public, private = paths.condor_dir / "elsewhere-id", paths.condor_dir / "elsewhere-secret"
    deploy(paths, REGIONS[0], Credentials(public, private))
    deploy(paths, REGIONS[0])  # no key-file flags this time
    values = user_config.block_values(paths.user_config.read_text(), REGIONS[0])
    assert values[names.KEY_ACCESS_KEY_FILE] == str(public)
    assert values[names.KEY_SECRET_KEY_FILE] == str(private)


def test_hand_edits_inside_the_block_are_named_with_the_backup(
    paths: LocalPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy(paths, REGIONS[0])
    text = paths.user_config.read_text()
    edited = "us_east_1.ANNEX_DEFAULT_ODI_INSTANCE_TYPE = m5.large"
    end = names.BLOCK_END.format(region=REGIONS[0])
    paths.user_config.write_text(text.replace(end, f"{edited}\n{end}"))
    capsys.readouterr()
    report = deploy(paths, REGIONS[0])
    err = " ".join(capsys.readouterr().err.split())
    assert report.config.backup is not None
    assert str(report.config.backup) in err.replace(" ", "") or report.config.backup.name in err
    assert edited in err
    assert edited in report.config.backup.read_text()


def test_non_utf8_bytes_are_kept_exactly_through_setup_and_rerun(paths: LocalPaths) -> None:
    paths.condor_dir.mkdir(mode=PRIVATE_DIR_MODE)
    mine = b"# caf\xe9 (Latin-1)\nSEC_DEFAULT_ENCRYPTION = REQUIRED\n"
    paths.user_config.write_bytes(mine)
    deploy(paths, REGIONS[0])
    deploy(paths, REGIONS[1])
    deploy(paths, REGIONS[0])
    assert paths.user_config.read_bytes().startswith(mine)
    user_config.unwrite_user_config(paths.user_config, REGIONS[0])
    user_config.unwrite_user_config(paths.user_config, REGIONS[1])
    assert paths.user_config.read_bytes() == mine


# --- pre-flight: every local fault before any AWS change --------------------------------------


def _faults(paths: LocalPaths) -> dict[str, Any]:
    condor, pem = paths.condor_dir, paths.pem(REGIONS[0], KEY)

    def broken_markers() -> Path:
        condor.mkdir()
        paths.user_config.write_text(names.BLOCK_BEGIN.format(region=REGIONS[0]) + "\n")
        return paths.user_config

    def dangling_user_config() -> Path:
        condor.mkdir()
        paths.user_config.symlink_to(paths.home / "gone")
        return paths.user_config

    def dangling_condor_dir() -> Path:
        condor.symlink_to(paths.home / "gone")
        return condor

    def dangling_pem() -> Path:
        condor.mkdir()
        pem.symlink_to(paths.home / "gone")
        return pem

    def directory_pem() -> Path:
        condor.mkdir()
        pem.mkdir()
        return pem

    def binary_pem() -> Path:
        condor.mkdir()
        pem.write_bytes(b"\x00\xff\xfe binary")
        return pem

    return {
        f.__name__: f
        for f in (
            broken_markers,
            dangling_user_config,
            dangling_condor_dir,
            dangling_pem,
            directory_pem,
            binary_pem,
        )
    }


@pytest.mark.parametrize(
    "fault",
    [
        "broken_markers",
        "dangling_user_config",
        "dangling_condor_dir",
        "dangling_pem",
        "directory_pem",
        "binary_pem",
    ],
)
def test_preflight_names_the_file_and_the_fix(paths: LocalPaths, fault: str) -> None:
    culprit = _faults(paths)[fault]()
    with pytest.raises(LocalFilesError) as caught:
        preflight(paths, REGIONS[0], KEY)
    assert str(culprit) in str(caught.value)
    assert caught.value.hint and "re-run" in caught.value.hint


def test_preflight_warns_of_a_world_writable_condor_dir_and_an_open_secret(
    paths: LocalPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    paths.condor_dir.mkdir()
    os.chmod(paths.condor_dir, 0o777)
    secret = paths.condor_dir / names.PRIVATE_KEY_FILE
    secret.write_text("x\n")
    os.chmod(secret, 0o644)
    preflight(paths, REGIONS[0], KEY, secret_key_file=secret)
    err = " ".join(capsys.readouterr().err.split())
    assert "mode 0777" in err and "chmod 700" in err
    assert "mode 0644" in err and "chmod 600" in err


def test_profile_credentials_end_with_the_exact_commands_to_run(
    paths: LocalPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    # Setup on profile/SSO/env credentials: condor_annex reads only key files or FROM INSTANCE.
    deploy(paths, "us-east-1")
    err = " ".join(capsys.readouterr().err.split())
    public = paths.condor_dir / names.PUBLIC_KEY_FILE
    private = paths.condor_dir / names.PRIVATE_KEY_FILE
    assert (
        f"annex-cdk credentials && annex-cdk setup --access-key-file {public} "
        f"--secret-key-file {private}" in err
    )
    assert "annex-cdk setup --from-instance" in err
    assert names.KEY_ACCESS_KEY_FILE not in paths.user_config.read_text()


def _locked_by_someone(directory: Path) -> bool:
    """Whether another open file description holds the directory's flock right now."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_destroy_and_setup_edit_user_config_under_the_local_lock(
    paths: LocalPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(paths, REGIONS[0])
    seen: list[bool] = []
    for module, name in (
        (user_config, "unwrite_user_config"),
        (user_config, "write_region_blocks"),
    ):
        real = getattr(module, name)

        def spy(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            seen.append(_locked_by_someone(paths.condor_dir))
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    deploy(paths, REGIONS[1])
    destroy_ops._remove_local(paths, REGIONS[0], None, None)
    assert seen == [True, True]
    assert set(user_config.parse(paths.user_config.read_text()).ours) == {REGIONS[1]}


def test_a_python_that_cannot_run_is_named_not_the_htcondor_config(
    paths: LocalPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTCondor's parser runs in a child Python: when that cannot start, the config is fine."""
    unrunnable = tmp_path / "python"
    unrunnable.write_text("")
    unrunnable.chmod(0o600)
    monkeypatch.setattr(sys, "executable", str(unrunnable))
    with pytest.raises(LocalFilesError) as caught:
        _ = paths.user_config
    assert caught.value.hint == f"make {unrunnable} runnable by you (it runs HTCondor's parser)"


def test_an_unreadable_user_config_behind_a_link_names_its_target(
    paths: LocalPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "dotfiles" / "user_config"
    real.parent.mkdir()
    real.write_text("A = 1\n")
    paths.condor_dir.mkdir()
    paths.user_config.symlink_to(real)
    original = Path.read_bytes

    def read_bytes(path: Path) -> bytes:  # root reads through any mode: EACCES as a user gets
        if path == paths.user_config:
            raise PermissionError(13, "Permission denied")
        return original(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(LocalFilesError, match=str(paths.user_config)) as caught:
        preflight(paths, REGIONS[0], None)
    assert caught.value.hint == f"chmod u+r {real}, then re-run"
