"""What machine the figures come from."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from importlib import metadata

from benchmarks.measure import base_env, cdk_cli


def _first(path: str, prefix: str) -> str | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _version(command: list[str]) -> str:
    try:
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=60, env=base_env(), check=False
        )
    except OSError as err:
        return f"unavailable ({err.strerror})"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def _dist(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"


def describe() -> list[tuple[str, str]]:
    mem_kb = _first("/proc/meminfo", "MemTotal")
    ram = f"{int(mem_kb.split()[0]) / 2**20:.1f} GiB" if mem_kb else "?"
    return [
        ("Date", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", _first("/proc/cpuinfo", "model name") or platform.processor() or "?"),
        ("Cores", f"{os.cpu_count()} (available to this process: {len(os.sched_getaffinity(0))})"),
        ("RAM", ram),
        ("Load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("Node", _version(["node", "--version"])),
        ("CDK CLI", _version([cdk_cli(), "--version"])),
        (
            "Libraries",
            ", ".join(
                f"{d} {_dist(d)}"
                for d in ("aws-cdk-lib", "jsii", "typer", "boto3", "moto", "htcondor")
            ),
        ),
    ]
