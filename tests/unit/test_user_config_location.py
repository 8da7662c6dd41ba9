"""The user config is where HTCondor (and so condor_annex) finds it: USER_CONFIG_FILE.

HTCondor looks USER_CONFIG_FILE up after the base config and its local config files and before
the `_CONDOR_*` environment (src/condor_utils/condor_config.cpp, v24.11.2 lines 969-977, then
983-1010); find_user_file (lines 1449-1470) takes an absolute name as it is and a relative one
inside ~/.condor. The counterpart here is HTCondor itself: a fresh htcondor2 process reading the
base config on its own must see the settings in the file annex-cdk resolved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from annex_cdk.aws.session import Credentials
from annex_cdk.condor import user_config
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.errors import LocalFilesError
from annex_cdk.ops import destroy as destroy_ops
from annex_cdk.ops.post_deploy import post_deploy, preflight
from annex_stacks import names

REGION = "us-east-1"
BUCKET = "bucket-of-the-moved-config"
KNOB = names.USER_CONFIG_KNOB


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home = tmp_path / "home"
    home.mkdir()
    base = tmp_path / "condor_config"
    base.write_text("# an empty base config\n")
    monkeypatch.setenv("CONDOR_CONFIG", str(base))
    monkeypatch.setenv("HOME", str(home))
    for key in [k for k in os.environ if k.upper().startswith("_CONDOR_")]:
        monkeypatch.delenv(key)
    return {"home": home, "base": base, "elsewhere": tmp_path / "elsewhere" / "annex.config"}


def _htcondor_sees(key: str, env: dict[str, str]) -> str | None:
    """What a fresh HTCondor process reading the base config on its own says of ``key``."""
    code = f"import htcondor2, json; print(json.dumps(htcondor2.param.get({key!r})))"
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _deploy(paths: LocalPaths) -> Any:
    outputs = {names.BUCKET_STACK: {names.OUT_BUCKET: BUCKET}}
    return post_deploy(paths, REGION, outputs, Credentials(), key_name=None, private_key=None)


def test_without_the_knob_the_user_config_is_in_the_condor_dir(world: dict[str, Path]) -> None:
    paths = LocalPaths(world["home"])
    assert paths.user_config == world["home"] / names.CONDOR_USER_DIR / names.USER_CONFIG_FILE


def test_a_relative_name_is_inside_the_condor_dir(world: dict[str, Path]) -> None:
    world["base"].write_text(f"{KNOB} = annex/mine\n")
    paths = LocalPaths(world["home"])
    assert paths.user_config == world["home"] / names.CONDOR_USER_DIR / "annex" / "mine"


@pytest.mark.parametrize("spelling", ["plain", "env_macro", "local_config_file", "annex_prefix"])
def test_the_base_config_moves_the_file_where_htcondor_reads_it(
    world: dict[str, Path], spelling: str
) -> None:
    """The base config's setting, in each way it can be spelled, and HTCondor agrees: a fresh
    htcondor2 process (root or not, it reads the user config) sees the block's settings."""
    elsewhere = world["elsewhere"]
    os.environ["ANNEX_CDK_TEST_DIR"] = str(elsewhere.parent)
    lines = {
        "plain": f"{KNOB} = {elsewhere}\n",
        "env_macro": f"{KNOB} = $ENV(ANNEX_CDK_TEST_DIR)/{elsewhere.name}\n",
        "local_config_file": f"LOCAL_CONFIG_FILE = {world['base'].parent / 'local'}\n",
        "annex_prefix": f"ANNEX.{KNOB} = {elsewhere}\n{KNOB} = /not/this/one\n",
    }
    (world["base"].parent / "local").write_text(f"{KNOB} = {elsewhere}\n")
    world["base"].write_text(lines[spelling])
    try:
        paths = LocalPaths(world["home"])
        assert paths.user_config == elsewhere
        result = _deploy(paths)
        assert result.config and result.config.path == elsewhere
        assert not (world["home"] / names.CONDOR_USER_DIR / names.USER_CONFIG_FILE).exists()
        assert paths.effective([names.KEY_S3_BUCKET], REGION)[names.KEY_S3_BUCKET] == BUCKET
        if spelling != "annex_prefix":  # a plain process is not condor_annex's ANNEX subsystem
            env = {**os.environ, "CONDOR_CONFIG": str(world["base"])}
            assert _htcondor_sees(f"{names.local_name(REGION)}.{names.KEY_S3_BUCKET}", env) == (
                BUCKET
            )
    finally:
        del os.environ["ANNEX_CDK_TEST_DIR"]


def test_condor_environment_override_does_not_move_the_file(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_CONDOR_USER_CONFIG_FILE` is applied after the user config was read (condor_config.cpp
    v24.11.2 lines 969-1010): HTCondor still reads the base config's file, and so does annex-cdk."""
    elsewhere, decoy = world["elsewhere"], world["elsewhere"].parent / "decoy.config"
    elsewhere.parent.mkdir()
    world["base"].write_text(f"{KNOB} = {elsewhere}\n")
    elsewhere.write_text("WHICH_FILE = the base config's\n")
    decoy.write_text("WHICH_FILE = the environment's\n")
    monkeypatch.setenv(f"_CONDOR_{KNOB}", str(decoy))
    env = {k: v for k, v in os.environ.items() if k != "_CONDOR_WHICH_FILE"}
    assert _htcondor_sees("WHICH_FILE", env) == "the base config's"
    assert LocalPaths(world["home"]).user_config == elsewhere


def test_a_user_config_that_sets_the_knob_does_not_move_itself(world: dict[str, Path]) -> None:
    elsewhere = world["elsewhere"]
    elsewhere.parent.mkdir()
    world["base"].write_text(f"{KNOB} = {elsewhere}\n")
    elsewhere.write_text(f"{KNOB} = /somewhere/else\n")
    assert LocalPaths(world["home"]).user_config == elsewhere


def test_an_empty_setting_is_refused_in_one_line(world: dict[str, Path]) -> None:
    world["base"].write_text(f"{KNOB} =\n")
    with pytest.raises(LocalFilesError) as caught:
        preflight(LocalPaths(world["home"]), REGION, None)
    assert KNOB in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.hint


def test_preflight_and_destroy_work_on_the_resolved_file(world: dict[str, Path]) -> None:
    elsewhere = world["elsewhere"]
    world["base"].write_text(f"{KNOB} = {elsewhere}\n")
    paths = LocalPaths(world["home"])
    _deploy(paths)
    assert user_config.block_values(elsewhere.read_text(), REGION)
    # Pre-flight reads the resolved file: broken markers there stop it, naming that file.
    good = elsewhere.read_bytes()
    elsewhere.write_text(names.BLOCK_BEGIN.format(region="eu-west-1") + "\n" + good.decode())
    with pytest.raises(LocalFilesError) as caught:
        preflight(paths, REGION, None)
    assert str(elsewhere) in str(caught.value)
    elsewhere.write_bytes(good)
    destroy_ops._remove_local(paths, REGION, None, None)
    assert not elsewhere.exists() or REGION not in user_config.parse(elsewhere.read_text()).ours


def test_a_broken_base_config_is_one_line_naming_it(world: dict[str, Path]) -> None:
    world["base"].write_text("this is not = = a config [\nif\n")
    with pytest.raises(LocalFilesError) as caught:
        _ = LocalPaths(world["home"]).user_config
    assert str(world["base"]) in str(caught.value) and "\n" not in str(caught.value)
