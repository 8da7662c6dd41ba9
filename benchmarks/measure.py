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


def base_env() -> dict[str, str]:
    """os.environ with the venv first on PATH and jsii's and the CDK CLI's banners off."""
    env = dict(os.environ)
    env["PATH"] = f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}"
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    env["CDK_DISABLE_VERSION_CHECK"] = "1"
    env.pop("ANNEX_CDK_NO_SYNTH_CACHE", None)
    return env


@dataclass(frozen=True)
class Run:
    """One finished subprocess."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_rss: int | None = None  # bytes, the whole process tree at its largest

    def check(self, what: str) -> Run:
        if self.returncode != 0:
            tail = "\n".join((self.stderr or self.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"{what} failed (exit {self.returncode}):\n{tail}")
        return self


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, for every process on the machine."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after the last ')'.
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants, now."""
    tree = _children()
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE
        except OSError:
            continue
        todo.extend(tree.get(current, ()))
    return total


class _RssSampler(threading.Thread):
    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
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
    sampler = _RssSampler(process.pid, 0.02) if sample_rss else None
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
    return Run(seconds, process.returncode, stdout, stderr, sampler.peak if sampler else None)


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
