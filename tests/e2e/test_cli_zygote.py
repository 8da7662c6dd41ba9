"""The e2e tests' forked CLI runs (tests/cli_zygote.py) against fresh interpreters: the same
exit codes, output and errors for the same commands, and a fresh interpreter wherever a fork
could not see what one would."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.cli_zygote import FRESH_ENV, Zygote
from tests.e2e.conftest import CLI, ZYGOTE, World

ALLOW = ("--allow-from", "198.51.100.7/32")

#: Commands whose output does not depend on the clock: usage errors, refusals, reports.
SAME = (
    ("--help",),
    ("setup", "--help"),
    ("setup", "--allow-from"),  # a usage error: exit 2
    ("setup", "--no-such-option"),
    ("check-setup",),  # nothing is set up: exit 1, each check named
    ("check-setup", "--json"),
    ("write-config",),
    ("diff", "--json"),
)


def _fresh(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return world.run(*args, check=False, env={FRESH_ENV: "1"})


@pytest.mark.parametrize("args", SAME, ids=" ".join)
def test_a_forked_run_answers_as_a_fresh_interpreter(world: World, args: tuple[str, ...]) -> None:
    assert CLI and ZYGOTE.suits(world._env(None))
    forked = ZYGOTE.run([CLI, *args], env=world._env(None), cwd=world.root, timeout=120)
    assert forked is not None
    fresh = _fresh(world, *args)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        fresh.returncode,
        fresh.stdout,
        fresh.stderr,
    )


def test_a_forked_setup_writes_what_a_fresh_one_writes(world: World) -> None:
    forked = world.run("setup", *ALLOW)
    first = world.paths.user_config.read_bytes()
    world.paths.user_config.unlink()
    fresh = _fresh(world, "setup", *ALLOW)
    assert fresh.returncode == forked.returncode == 0
    assert world.paths.user_config.read_bytes() == first


def test_a_run_that_sets_what_python_reads_at_start_gets_a_fresh_interpreter(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = world._env(None)
    assert ZYGOTE.suits(env)
    for key, value in (("LANG", "C"), ("LC_ALL", "C"), ("PYTHONIOENCODING", "latin-1")):
        assert not ZYGOTE.suits({**env, key: value}), key
    assert ZYGOTE.suits({**env, "HOME": "/elsewhere", "AWS_REGION": "eu-west-1"})
    monkeypatch.setenv(FRESH_ENV, "1")
    assert not ZYGOTE.suits(env)


def test_a_run_past_its_timeout_is_killed_and_raises(world: World) -> None:
    """As subprocess.run: the child killed, TimeoutExpired raised, and the zygote serves the
    next run."""
    zygote = Zygote()
    try:
        world.emu.faults(stall_actions=["*"])
        with pytest.raises(subprocess.TimeoutExpired):
            zygote.run(
                [CLI or "", "setup", *ALLOW], env=world._env(None), cwd=world.root, timeout=3
            )
        assert zygote.last_exit == -signal.SIGKILL  # killed, not left to end on its own
        world.emu.faults(clear=True)
        after = zygote.run([CLI or "", "--help"], env=world._env(None), cwd=world.root, timeout=60)
        assert after is not None and after.returncode == 0 and "Usage" in after.stdout
    finally:
        world.emu.faults(clear=True)
        zygote.stop()
