"""One synthesis per settings variant for a whole test run, pytest-xdist workers included.

A synthesis starts jsii and Node (seconds of CPU and about 1 GB per process): the workers share
the run's temporary root, and the first one to ask for a variant synthesizes it there under a
lock while the others wait and then read what it wrote.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from annex_stacks import SynthResult

_RESULT = "synth-result.json"


def shared_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's temporary root that every xdist worker sees (its own base otherwise)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def synth_once(outdir: Path, synthesize: Callable[[Path], SynthResult]) -> SynthResult:
    """`synthesize(outdir)`, unless another worker has already done it into `outdir`."""
    outdir.parent.mkdir(parents=True, exist_ok=True)
    with open(outdir.with_name(outdir.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = outdir / _RESULT
        if done.exists():
            data = json.loads(done.read_text())
            return SynthResult(data["templates"], tuple(data["warnings"]), outdir)
        result = synthesize(outdir)
        record = {"templates": result.templates, "warnings": list(result.warnings)}
        tmp = done.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, done)
        return result
