"""Timing helpers: subprocesses timed (and their process tree's memory sampled), medians."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: The repository root (benchmarks/ sits in it).
ROOT = Path(__file__).resolve().parent.parent
_PAGE = os.sysconf("SC_PAGE_SIZE")


def byte_compile() -> None:
    """Compile our own packages' bytecode, as ./scripts/install does (and pip for an installed
    wheel): where PYTHONDONTWRITEBYTECODE is set and a checkout was not installed so (a new
    worktree), every annex-cdk start would compile them from source, which the installed
    Typer it is compared with never does."""
    packages = [str(ROOT / name) for name in ("cli", "annex_stacks", "emulator", "lambda_src")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *packages],
        stdout=subprocess.DEVNULL,
        check=True,
    )


def venv_bin() -> Path:
    """The directory of the interpreter running us: the project's venv."""
    return Path(sys.executable).parent


def annex_cdk() -> str:
    """The installed console script, next to this interpreter."""
    found = shutil.which("annex-cdk", path=str(venv_bin()))
    if found is None:
        raise SystemExit(f"annex-cdk is not installed next to {sys.executable}")
    return found


def cdk_cli() -> str:
    """The pinned Node CDK CLI (package.json)."""
    path = ROOT / "node_modules" / ".bin" / "cdk"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `npm ci` first")
    return str(path)


def jsii_package_cache() -> Path:
    """Where jsii keeps unpacked libraries for this user (its own default on Linux)."""
    env = os.environ.get("JSII_RUNTIME_PACKAGE_CACHE_ROOT")
    return Path(env) if env else Path.home() / ".cache" / "aws" / "jsii" / "package-cache"


def base_env() -> dict[str, str]:
    """os.environ with the venv first on PATH, jsii's and the CDK CLI's banners off, no
    switches that change what is measured, and jsii's package cache pinned to this user's.

    The scratch HOMEs would otherwise give jsii an empty package cache on every run, so that
    every synthesis (annex-cdk's and the CDK CLI's alike) unpacked aws-cdk-lib afresh: what
    only a machine's very first CDK app pays.
    """
    env = dict(os.environ)
    env["PATH"] = f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}"
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    env["JSII_RUNTIME_PACKAGE_CACHE_ROOT"] = str(jsii_package_cache())
    env["CDK_DISABLE_VERSION_CHECK"] = "1"
    for switch in ("ANNEX_CDK_NO_SYNTH_CACHE", "CDK_VALIDATION", "TYPER_USE_RICH", "NODE_OPTIONS"):
        env.pop(switch, None)
    return env


@dataclass(frozen=True)
class Run:
    """One finished subprocess."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_rss: int | None = None  # bytes, the whole process tree at its largest
    largest_rss: int | None = None  # bytes, the largest single process of the tree

    def check(self, what: str) -> Run:
        if self.returncode != 0:
            tail = "\n".join((self.stderr or self.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"{what} failed (exit {self.returncode}):\n{tail}")
        return self


def _children(pid: int) -> list[int]:
    """The child pids of `pid`, from each of its threads' `children` file."""
    found: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return found


def tree_rss(pid: int) -> tuple[int, int]:
    """Resident bytes of `pid` and all its descendants now: their sum, and the largest one."""
    total = largest = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm") as f:
                rss = int(f.read().split()[1]) * _PAGE
        except OSError:
            continue
        total, largest = total + rss, max(largest, rss)
        todo.extend(_children(current))
    return total, largest


class _RssSampler(threading.Thread):
    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = self.largest = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            total, largest = tree_rss(self.pid)
            self.peak, self.largest = max(self.peak, total), max(self.largest, largest)
            self.done.wait(self.interval)


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    sample_rss: bool = False,
) -> Run:
    """Run `command` to completion; its wall time, output and (optionally) peak tree RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(
        list(command),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = _RssSampler(process.pid, 0.025) if sample_rss else None
    if sampler is not None:
        sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    finally:
        if sampler is not None:
            sampler.done.set()
            sampler.join()
    seconds = time.perf_counter() - started
    return Run(
        seconds,
        process.returncode,
        stdout,
        stderr,
        sampler.peak if sampler else None,
        sampler.largest if sampler else None,
    )


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no samples")
    return float(statistics.median(values))


def rotated(items: Sequence[str], repetition: int) -> list[str]:
    """`items` starting at a different one each repetition, so no case always goes first."""
    k = repetition % len(items)
    return [*items[k:], *items[:k]]


def fmt_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.0f} MB"
