"""End to end: the CLI against the emulator with hostile local input.
Secrets never printed, nothing outside ~/.condor written, every local fault found before any
AWS change (setup and destroy), user bytes kept exactly, two regions at once both kept."""

from __future__ import annotations

import json

import pytest

from annex_cdk import errors
from annex_cdk.condor import user_config
from annex_emulator.credentials import KEY_FILE_SECRET_ACCESS_KEY as EMULATOR_SECRET
from annex_stacks import names, stack_specs
from tests.e2e.conftest import REGION, World

pytestmark = [pytest.mark.e2e, pytest.mark.hostile]

ALLOW = ("--allow-from", "198.51.100.7/32")
OTHER_REGION = "us-west-2"


def _stacks(world: World) -> dict[str, str]:
    cfn = world.client("cloudformation")
    return {s["StackName"]: s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]}


def _clean_failure(proc, code: int, *needles: str) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out
    assert "Traceback" not in out
    for needle in needles:
        assert needle in out, out
    return out


def test_a_two_line_key_file_never_prints_the_secret(world: World):
    public = world.paths.condor_dir / names.PUBLIC_KEY_FILE
    public.write_text(public.read_text() + EMULATOR_SECRET + "\n")
    proc = world.run("setup", *ALLOW, check=False)
    out = _clean_failure(proc, errors.EXIT_CREDENTIALS, str(public))
    assert EMULATOR_SECRET not in out and EMULATOR_SECRET[:10] not in out
    assert _stacks(world) == {}


def test_a_key_name_with_a_path_is_refused_before_any_change(world: World):
    proc = world.run("setup", *ALLOW, "--key-name", "../../evil", check=False)
    _clean_failure(proc, errors.EXIT_USAGE, "key_pair_name")
    assert _stacks(world) == {}
    assert not (world.paths.home / "evil.us-east-1.pem").exists()


def test_destroy_finds_broken_markers_before_deleting_anything(world: World):
    assert not world.paths.user_config.exists()
    world.run("setup", *ALLOW)
    good = world.paths.user_config.read_bytes()
    end = names.BLOCK_END.format(region=REGION).encode()
    world.paths.user_config.write_bytes(good.replace(end, b"# end marker lost\n"))
    proc = world.run("destroy", "--yes", check=False)
    _clean_failure(proc, errors.EXIT_LOCAL_FILES, str(world.paths.user_config), "no end marker")
    assert set(_stacks(world)) >= set(stack_specs.CORE_STACKS)  # nothing deleted
    world.paths.user_config.write_bytes(good)
    world.run("destroy", "--yes")
    # setup created user_config; destroy leaves none behind (not a 0-byte file).
    assert not world.paths.user_config.exists()


def test_non_utf8_bytes_survive_setup_write_config_and_destroy(world: World):
    mine = b"# r\xe9glages (Latin-1)\nSEC_DEFAULT_ENCRYPTION = REQUIRED\n"
    world.paths.user_config.write_bytes(mine)
    world.run("setup", *ALLOW)
    world.run("setup", *ALLOW)
    world.run("write-config")
    assert world.paths.user_config.read_bytes().startswith(mine)
    world.run("destroy", "--yes")
    assert world.paths.user_config.read_bytes() == mine


def test_setups_of_two_regions_at_once_keep_both_blocks(world: World):
    """The SSM lock is per region; user_config is one file, locked locally."""
    procs = [
        world.start("setup", *ALLOW, "--json"),
        world.start("setup", *ALLOW, "--json", "--region", OTHER_REGION),
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert json.loads(out)["local"]["user_config_action"] in {"created", "appended"}
    blocks = user_config.parse(world.paths.user_config.read_text()).ours
    assert set(blocks) == {REGION, OTHER_REGION}


def test_a_first_setup_its_key_file_stops_exits_without_loading_cdk(world: World, tmp_path):
    """No record and no synthesis cache: a first setup. Its targets fail, so it must not start
    loading CDK (which it would wait for before exiting; on a new machine jsii unpacks
    aws-cdk-lib for seconds): the new jsii package cache stays empty."""
    missing = tmp_path / "no-such-key"
    with world.condor_config.open("a") as config:
        config.write(f"{names.KEY_ACCESS_KEY_FILE} = {missing}\n")
        config.write(f"{names.KEY_SECRET_KEY_FILE} = {missing}\n")
    jsii_cache = tmp_path / "new-jsii-cache"
    proc = world.run(
        "setup",
        *ALLOW,
        check=False,
        env={
            "XDG_CACHE_HOME": str(tmp_path / "new-cache"),
            "JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(jsii_cache),
        },
    )
    _clean_failure(proc, errors.EXIT_CREDENTIALS, str(missing))
    assert not jsii_cache.exists() or not any(jsii_cache.iterdir())
    assert _stacks(world) == {}
