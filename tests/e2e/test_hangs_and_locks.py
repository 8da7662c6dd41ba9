"""Hangs, locks and unclear errors: every AWS call times out in seconds with exit 4, signals
release the lock, `unlock` removes a dead run's lock, and bad input is one usage line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from annex_cdk import errors
from annex_cdk.aws import session
from annex_stacks import names
from tests.e2e.conftest import CLI, REGION, World, as_a_terminal_job, wait_until_held

pytestmark = pytest.mark.e2e

ALLOW = ("--allow-from", "198.51.100.7/32")


def _assert_one_line(proc, code: int, needle: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert needle in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "unexpected error" not in proc.stderr


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP port that accepts connections and never answers, as a hung proxy does."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_an_endpoint_that_never_answers_fails_in_seconds(world: World, silent_endpoint: str):
    t0 = time.monotonic()
    proc = world.run("setup", *ALLOW, "--endpoint-url", silent_endpoint, check=False, timeout=120)
    elapsed = time.monotonic() - t0
    print(f"\nsilent endpoint: exit {proc.returncode} after {elapsed:.1f} s")
    _assert_one_line(proc, errors.EXIT_ENDPOINT, "did not answer")
    # The first call is the pre-flight's one quick attempt; generous for a loaded machine.
    assert elapsed < session.WORST_CALL_S
    assert not world.paths.user_config.exists()


def test_an_endpoint_that_answers_sts_then_stalls_is_exit_4(world: World):
    """The lock's PutParameter is the first call after STS: it too goes through the mapping."""
    world.emu.faults(stall_actions=["*"])
    t0 = time.monotonic()
    proc = world.run("setup", *ALLOW, check=False, timeout=300)
    elapsed = time.monotonic() - t0
    world.emu.faults(clear=True)
    print(f"\nstalling endpoint: exit {proc.returncode} after {elapsed:.1f} s")
    _assert_one_line(proc, errors.EXIT_ENDPOINT, "did not answer")
    assert elapsed < 2 * session.WORST_CALL_S
    assert not world.paths.user_config.exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_term_and_hup_release_the_lock_like_ctrl_c(world: World, signum: int):
    world.emu.faults(hold_actions=["CreateStack"])
    proc = world.start("setup", *ALLOW)
    wait_until_held(world.emu, proc)  # the run is inside CreateStack now
    proc.send_signal(signum)
    world.emu.faults(release_held=True)
    _, err = proc.communicate(timeout=240)
    world.emu.faults(clear=True)
    assert proc.returncode == errors.EXIT_INTERRUPTED, err
    assert "interrupted" in err and "Traceback" not in err
    ssm = world.client("ssm")
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=names.LOCK_PARAMETER)


def test_unlock_shows_the_holder_asks_and_removes(world: World):
    ssm = world.client("ssm")
    holder = {"host": "ci-runner-7", "pid": 4242, "purpose": "destroy", "since": time.time()}
    ssm.put_parameter(
        Name=names.LOCK_PARAMETER, Value=json.dumps({**holder, "token": "t"}), Type="String"
    )
    locked = world.run("setup", *ALLOW, check=False)
    _assert_one_line(locked, errors.EXIT_LOCKED, "host ci-runner-7, pid 4242")
    assert "annex-cdk unlock" in locked.stderr
    asked = world.run("unlock", check=False)  # not a terminal, no --yes: refuses
    _assert_one_line(asked, errors.EXIT_USAGE, "--yes")
    assert ssm.get_parameter(Name=names.LOCK_PARAMETER)
    removed = world.run("unlock", "--yes")
    assert "destroy is running" in removed.stdout and "ci-runner-7" in removed.stdout
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=names.LOCK_PARAMETER)
    assert "No annex-cdk lock" in world.run("unlock", "--yes").stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("check-setup", "--endpoint-url", "localhost:5000"), "not an http(s) URL"),
        (("check-setup", "--endpoint-url", "http://127.0.0.1:99999"), "not an http(s) URL"),
        (("check-setup", "--region", ""), "--region is empty"),
        (("check-setup", "--region", "xx-nowhere-1"), "not a region"),
        (("emulator", "--port", "-1"), "--port"),
        (("emulator", "--port", "99999"), "--port"),
    ],
)
def test_unclear_input_is_one_usage_line(world: World, args: tuple[str, ...], needle: str):
    proc = world.run(*args, check=False, timeout=60)
    _assert_one_line(proc, errors.EXIT_USAGE, needle)
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) <= 4


def test_synth_out_into_a_file_is_a_usage_error(world: World):
    target = world.root / "not-a-dir"
    target.write_bytes(b"keep me")
    proc = world.run("synth", *ALLOW, "--out", str(target), check=False)
    _assert_one_line(proc, errors.EXIT_USAGE, "is a file")
    assert target.read_bytes() == b"keep me"


def test_sso_not_logged_in_is_exit_3_with_aws_sso_login(world: World):
    for name in (names.PUBLIC_KEY_FILE, names.PRIVATE_KEY_FILE):
        (world.paths.condor_dir / name).unlink()
    config = world.root / "aws-config"
    config.write_text(
        "[profile sso]\n"
        "sso_start_url = https://example.awsapps.com/start\n"
        "sso_region = us-east-1\n"
        "sso_account_id = 123456789012\n"
        "sso_role_name = Admin\n"
    )
    proc = world.run(
        "check-setup",
        "--profile",
        "sso",
        check=False,
        env={"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(config)},
    )
    _assert_one_line(proc, errors.EXIT_CREDENTIALS, "aws sso login")


def test_an_interrupted_destroy_is_finished_by_a_re_run(world: World):
    world.run("setup", *ALLOW)
    pem = world.paths.pem(REGION, names.KEY_PAIR_NAME)
    assert pem.exists()
    world.emu.faults(hold_actions=["DeleteStack"])
    proc = world.start("destroy", "--yes")
    wait_until_held(world.emu, proc)  # the run is inside DeleteStack now
    proc.send_signal(signal.SIGINT)
    world.emu.faults(release_held=True)
    _, err = proc.communicate(timeout=240)
    world.emu.faults(clear=True)
    assert proc.returncode == errors.EXIT_INTERRUPTED, err
    again = world.run("destroy", "--yes", timeout=300)
    assert f"Nothing annex-cdk made is left in {REGION}." in again.stdout
    assert not pem.exists()  # the deleted key pair's PEM, known after its stack was gone
    assert [p.name for p in world.paths.condor_dir.iterdir() if "destroy" in p.name] == []


def _children(pid: int) -> list[str]:
    """The command names of `pid`'s child processes, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        comm, _, rest = text.rpartition(")")
        if int(rest.split()[1]) == pid:
            found.append(comm.partition("(")[2])
    return found


def test_ctrl_c_during_synthesis_is_one_line_without_jsii_traceback(world: World, tmp_path: Path):
    """Ctrl-C in a terminal signals the whole process group, jsii's node process included."""
    env = world._env({"XDG_CACHE_HOME": str(tmp_path / "no-cache")})
    proc = subprocess.Popen(
        [str(CLI), "synth", *ALLOW, "--out", str(tmp_path / "out")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=as_a_terminal_job,
    )
    deadline = time.monotonic() + 240  # a margin against a hang, not a time window
    while "node" not in _children(proc.pid):  # jsii has started: synthesis is under way
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == errors.EXIT_INTERRUPTED, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert "Exception ignored" not in err and "BrokenPipeError" not in err, err
    assert len(err.strip().splitlines()) == 1, err
