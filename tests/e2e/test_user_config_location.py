"""With USER_CONFIG_FILE set in the base config, every command uses that file.

setup writes there, check-setup reads there, write-config rebuilds it there, destroy removes
the block there; ~/.condor/user_config is never created. `_CONDOR_USER_CONFIG_FILE` does not
move it (HTCondor applies `_CONDOR_*` after reading the user config: condor_config.cpp,
v24.11.2 lines 969-1010; tests/unit/test_user_config_location.py shows HTCondor doing so).
"""

from __future__ import annotations

import pytest

from annex_cdk.condor import user_config
from annex_cdk.condor.paths import LocalPaths
from annex_stacks import names
from tests.e2e.conftest import REGION, World

pytestmark = pytest.mark.e2e


def test_every_command_uses_the_file_the_base_config_names(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDOR_CONFIG", str(world.condor_config))  # for this process's lookups
    moved = world.root / "elsewhere" / "annex.config"
    with world.condor_config.open("a") as fh:
        fh.write(f"{names.USER_CONFIG_KNOB} = {moved}\n")
    paths = LocalPaths(world.paths.home)
    default = world.paths.home / names.CONDOR_USER_DIR / names.USER_CONFIG_FILE
    assert paths.user_config == moved

    world.run("setup", "--allow-from", "198.51.100.7/32")
    written = moved.read_text()
    assert user_config.block_values(written, REGION)[names.KEY_KEY_NAME] == names.KEY_PAIR_NAME
    assert not default.exists()
    bucket = user_config.block_values(written, REGION)[names.KEY_S3_BUCKET]
    got = paths.effective([names.KEY_S3_BUCKET], REGION)
    assert got[names.KEY_S3_BUCKET] == bucket

    world.run("check-setup")
    # The environment override names the default file; HTCondor, and annex-cdk, ignore it.
    world.run("check-setup", env={f"_CONDOR_{names.USER_CONFIG_KNOB}": str(default)})
    moved.unlink()
    assert world.run("check-setup", check=False).returncode != 0  # it reads the moved file

    world.run("write-config")
    assert moved.read_text() == written
    assert not default.exists()

    world.run("destroy", "--yes")
    assert not moved.exists()  # it held nothing but annex-cdk's block
    assert not default.exists()
