"""End-to-end fixtures: the installed `annex-cdk` against a private emulator and a scratch HOME."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from annex_cdk.condor.paths import LocalPaths
from annex_cdk.ops.rehearse import scratch_home
from annex_emulator.server import EmulatorProcess
from tests.cli_zygote import Zygote
from tests.shared_synth import shared_tmp

REGION = "us-east-1"
CLI = shutil.which("annex-cdk", path=str(Path(sys.executable).parent))
#: This test process's zygote: `World.run` forks the CLI from it where a fork sees what a
#: fresh interpreter would (tests/cli_zygote.py).
ZYGOTE = Zygote()


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthesis cache (and jsii package cache) for the whole run, shared by the xdist
    workers as one user's runs share theirs: each settings variant is synthesized once. The
    product writes its cache entries atomically, so concurrent runs are safe."""
    cache = shared_tmp(tmp_path_factory) / "xdg-cache"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    """An emulator per worker, on a free port of its own: tests reset it and switch faults
    and IAM enforcement on it, so workers must never share one."""
    with EmulatorProcess() as emu:
        yield emu


def as_a_terminal_job() -> None:
    """In a child, before it runs: SIGINT as a terminal's foreground job has it. A suite run in
    the background (a shell without job control ignores SIGINT for its `&` commands) passes
    that down, and Python keeps an inherited ignored SIGINT: Ctrl-C tests would then test
    nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class World:
    """One scratch HOME, its personal HTCondor config, and the emulator behind it."""

    root: Path
    paths: LocalPaths
    condor_config: Path
    emu: EmulatorProcess
    cache: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "_CONDOR_"))}
        env.update(self.emu.env())
        env.update(
            HOME=str(self.paths.home),
            AWS_REGION=REGION,
            CONDOR_CONFIG=str(self.condor_config),
            XDG_CACHE_HOME=str(self.cache),
            # jsii unpacks aws-cdk-lib into its package cache on first use (about 9 s); every
            # test has a fresh HOME, so they share one cache, as one user's runs would.
            JSII_RUNTIME_PACKAGE_CACHE_ROOT=str(self.cache / "jsii"),
            COLUMNS="200",
        )
        return env

    def run(
        self,
        *args: str,
        check: bool | None = True,
        timeout: float = 300,
        env: dict[str, str | None] | None = None,
        prefix: tuple[str, ...] = (),
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        assert CLI, "annex-cdk is not installed in this venv"
        run_env, run_cwd = self._env(env), cwd if cwd is not None else self.root
        forked = (
            ZYGOTE.run([CLI, *args], env=run_env, cwd=run_cwd, timeout=timeout)
            if not prefix and ZYGOTE.suits(run_env)
            else None
        )
        proc = forked or subprocess.run(
            [*prefix, CLI, *args],
            env=run_env,
            cwd=run_cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert proc.returncode == 0, f"annex-cdk {' '.join(args)} failed:\n{proc.stderr}"
        return proc

    def _env(self, changes: dict[str, str | None] | None) -> dict[str, str]:
        env = self.env
        for key, value in (changes or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def start(self, *args: str) -> subprocess.Popen[str]:
        """The CLI in the background, stderr line-buffered for the test to follow."""
        assert CLI
        return subprocess.Popen(
            [CLI, *args],
            env=self._env(None),
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            preexec_fn=as_a_terminal_job,
        )

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.emu.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture
def world(emulator: EmulatorProcess, tmp_path: Path, synth_cache: Path) -> World:
    emulator.reset()
    paths, condor_config, _ = scratch_home(tmp_path)
    return World(tmp_path, paths, condor_config, emulator, synth_cache)


@pytest.fixture
def organization(world: World) -> Iterator[Callable[[list[dict[str, Any]]], None]]:
    """Put the emulated account under an organization's SCPs (IAM enforced, the world's own
    key is the root user's) for one test: `organization([scp, ...])`. Undone afterwards."""

    def govern(scps: list[dict[str, Any]]) -> None:
        world.emu.enforce_iam(True)
        world.emu.set_scps(scps)

    yield govern
    world.emu.set_scps(None)
    world.emu.enforce_iam(False)


def wait_until_held(
    emu: EmulatorProcess, proc: subprocess.Popen[str], timeout: float = 240
) -> None:
    """Wait until a background run has a request held in the emulator (`hold_actions`): the
    run is then inside that call, whatever the machine's load. The timeout is only a margin
    against a hang; a run that ends first fails the test with its output."""
    deadline = time.monotonic() + timeout
    while not emu.faults()["held"]:
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the run ended (exit {proc.returncode}) before a hold:\n{err}")
        assert time.monotonic() < deadline, "no request was held"
        time.sleep(0.1)
