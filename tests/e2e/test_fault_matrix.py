"""The fault matrix: each fault ends with a clear message, a distinct non-zero exit, no user
file changed, and a re-run that converges. Faults AWS would produce are played by the emulator
(`EmulatorProcess.faults`), never by a second code path in annex-cdk."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from annex_cdk import errors
from annex_cdk.ops.rehearse import scratch_home
from annex_stacks import names, stack_specs
from tests.e2e.conftest import World, wait_until_held

pytestmark = pytest.mark.e2e

ALLOW = ("--allow-from", "198.51.100.7/32")
USER_CONFIG = "# my settings\nANNEX_DEFAULT_ODI_INSTANCE_TYPE = c5.large\n"


def _snapshot(world: World) -> dict[str, bytes]:
    """The user's files: everything under ~/.condor (caches elsewhere in HOME don't count)."""
    return {
        str(p.relative_to(world.paths.home)): p.read_bytes()
        for p in world.paths.condor_dir.rglob("*")
        if p.is_file()
    }


def _stacks(world: World) -> dict[str, str]:
    cfn = world.client("cloudformation")
    return {s["StackName"]: s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]}


def _converges(world: World, *extra: str) -> None:
    report = json.loads(world.run("setup", *ALLOW, "--json", *extra).stdout)
    assert set(report["stacks"]) == set(stack_specs.CORE_STACKS)
    assert set(_stacks(world).values()) <= {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    assert world.run("diff", "--exit-code", check=False).returncode == 0


def _assert_clean_failure(proc, code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.fixture
def user_files(world: World) -> dict[str, bytes]:
    world.paths.user_config.write_text(USER_CONFIG)
    return _snapshot(world)


def test_no_credentials(world: World, user_files):
    for key_file in (names.PUBLIC_KEY_FILE, names.PRIVATE_KEY_FILE):
        (world.paths.condor_dir / key_file).unlink()
    user_files = _snapshot(world)
    env = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    proc = world.run("setup", *ALLOW, env=env, check=False)
    _assert_clean_failure(proc, errors.EXIT_CREDENTIALS, "no AWS credentials found")
    assert _snapshot(world) == user_files and _stacks(world) == {}
    _converges(world)


def test_expired_credentials(world: World, user_files):
    # A key the endpoint answers ExpiredToken for (a temporary ASIA id cannot be in a key
    # file: it is refused before any call).
    expired = "AKIAEXPIREDKEY000001"
    access = world.paths.condor_dir / names.PUBLIC_KEY_FILE
    access.write_text(expired + "\n")
    user_files = _snapshot(world)
    world.emu.faults(expired_keys=[expired])
    proc = world.run("setup", *ALLOW, check=False)
    _assert_clean_failure(proc, errors.EXIT_CREDENTIALS, "expired")
    assert _snapshot(world) == user_files and _stacks(world) == {}
    world.emu.faults(clear=True)
    _converges(world)


def test_stack_creation_fails_with_the_resource_reason(world: World, user_files):
    reason = "The maximum number of security groups for VPC 'vpc-1' has been reached."
    world.emu.faults(fail_types={"AWS::EC2::SecurityGroup": reason})
    proc = world.run("setup", *ALLOW, check=False)
    _assert_clean_failure(proc, errors.EXIT_STACK_FAILED, names.SECURITY_GROUP_STACK, reason)
    assert _snapshot(world) == user_files
    # The stacks that succeeded stay; the failed creation deleted itself.
    assert names.SECURITY_GROUP_STACK not in _stacks(world)
    assert _stacks(world)[names.BUCKET_STACK] == "CREATE_COMPLETE"
    world.emu.faults(clear=True)
    again = json.loads(world.run("setup", *ALLOW, "--json").stdout)
    actions = {n: s["action"] for n, s in again["stacks"].items()}
    assert actions[names.SECURITY_GROUP_STACK] == "create"
    assert actions[names.BUCKET_STACK] == "unchanged"


def test_stack_left_in_rollback_complete(world: World, user_files):
    world.run("synth", "--out", str(world.root / "out"), *ALLOW)
    body = (world.root / "out" / f"{names.SECURITY_GROUP_STACK}.template.json").read_text()
    world.emu.faults(fail_types={"AWS::EC2::SecurityGroup": "injected failure"})
    world.client("cloudformation").create_stack(
        StackName=names.SECURITY_GROUP_STACK, TemplateBody=body, OnFailure="ROLLBACK"
    )
    world.emu.faults(clear=True)
    assert _stacks(world)[names.SECURITY_GROUP_STACK] == "ROLLBACK_COMPLETE"
    proc = world.run("setup", *ALLOW, check=False)
    _assert_clean_failure(
        proc, errors.EXIT_BLOCKED, "ROLLBACK_COMPLETE", "injected failure", "--yes"
    )
    assert _snapshot(world) == user_files
    _converges(world, "--yes")


def test_bucket_deleted_behind_annex_cdks_back(world: World):
    world.run("setup", *ALLOW)
    user_files = _snapshot(world)
    bucket = json.loads(world.run("setup", "--json").stdout)["stacks"][names.BUCKET_STACK][
        "outputs"
    ][names.OUT_BUCKET]
    s3 = world.client("s3")
    s3.delete_bucket(Bucket=bucket)
    proc = world.run("setup", check=False)
    _assert_clean_failure(proc, errors.EXIT_BLOCKED, bucket, "deleted outside annex-cdk", "--yes")
    assert _snapshot(world) == user_files
    assert "is gone" in world.run("diff").stdout
    _converges(world, "--yes")
    s3.head_bucket(Bucket=bucket)


def test_user_config_that_htcondor_cannot_parse(world: World):
    world.paths.user_config.write_text(USER_CONFIG + "this line is not HTCondor syntax\n")
    before = _snapshot(world)
    proc = world.run("setup", *ALLOW, check=False)
    _assert_clean_failure(proc, errors.EXIT_LOCAL_FILES, "user_config", "line 3")
    assert _snapshot(world) == before and _stacks(world) == {}
    world.paths.user_config.write_text(USER_CONFIG)
    _converges(world)


#: Root without the capabilities that let it write and read through any file mode: it meets
#: permissions as their owner does (and can still run its own Python, under /root here).
AS_AN_OWNER = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


def test_read_only_condor_dir(world: World, tmp_path: Path):
    # An ordinary user running the suite meets the mode as it is; root needs AS_AN_OWNER.
    as_root = os.geteuid() == 0
    assert not as_root or shutil.which("setpriv"), "util-linux's setpriv drops root's bypass"
    root = Path(tempfile.mkdtemp(prefix="annex-ro-", dir="/tmp"))
    try:
        paths, condor_config, _ = scratch_home(root)
        os.chmod(paths.condor_dir, 0o500)
        before = {str(p): p.read_bytes() for p in paths.condor_dir.iterdir()}
        env = {"HOME": str(paths.home), "CONDOR_CONFIG": str(condor_config),
               "XDG_CACHE_HOME": str(root / "cache")}  # fmt: skip
        prefix = AS_AN_OWNER if as_root else ()
        proc = world.run("setup", *ALLOW, env=env, prefix=prefix, check=False)
        _assert_clean_failure(proc, errors.EXIT_LOCAL_FILES, str(paths.condor_dir))
        assert _stacks(world) == {}
        assert {str(p): p.read_bytes() for p in paths.condor_dir.iterdir()} == before
        os.chmod(paths.condor_dir, 0o700)  # the user fixes the mode: the re-run converges
        world.run("setup", *ALLOW, env=env, prefix=prefix)
        assert _stacks(world)[names.KEY_PAIR_STACK] == "CREATE_COMPLETE"
        assert paths.user_config.exists()
    finally:
        for d in [root, *root.rglob("*")]:  # so that an ordinary user can remove it all
            if d.is_dir() and not d.is_symlink():
                with contextlib.suppress(OSError):
                    d.chmod(0o700)
        shutil.rmtree(root, ignore_errors=True)


def test_ctrl_c_in_the_middle_of_a_deploy(world: World, user_files):
    world.emu.faults(hold_actions=["CreateStack"])
    proc = world.start("setup", *ALLOW)
    wait_until_held(world.emu, proc)  # the run is inside CreateStack now
    proc.send_signal(signal.SIGINT)
    world.emu.faults(release_held=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == errors.EXIT_INTERRUPTED
    assert "interrupted" in err and "re-run" in err and "Traceback" not in err
    assert _snapshot(world) == user_files
    ssm = world.client("ssm")
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=names.LOCK_PARAMETER)  # the lock was released
    world.emu.faults(clear=True)
    _converges(world)


def test_two_setups_at_once(world: World, user_files):
    world.emu.faults(hold_actions=["CreateStack"])
    first = world.start("setup", *ALLOW)
    wait_until_held(world.emu, first)  # the first holds the lock, inside CreateStack
    second = world.run("setup", *ALLOW, check=False)
    _assert_clean_failure(second, errors.EXIT_LOCKED, "another annex-cdk setup is running")
    world.emu.faults(release_held=True)
    first.communicate(timeout=120)
    assert first.returncode == 0
    world.emu.faults(clear=True)
    _converges(world)
    assert world.paths.user_config.read_text().startswith(USER_CONFIG)
