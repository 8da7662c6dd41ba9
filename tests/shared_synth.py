"""One synthesis per settings variant for a whole test run, pytest-xdist workers included.

A synthesis starts jsii and Node (seconds of CPU and about 1 GB per process): the workers share
the run's temporary root, and the first one to ask for a variant synthesizes it there under a
lock while the others wait and then read what it wrote.
"""

from __future__ import annotations

import fcntl
import hashlib
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


#: The regions every template is linted for.
LINT_REGIONS = ("us-east-1", "eu-central-1")


def lint_once(shared: Path, text: str) -> list[str]:
    """cfn-lint's findings for a template, as `RULE message` lines. Most stacks are the same
    in several settings variants (22 distinct templates of 52), and a lint takes about half a
    second whatever the template's size: each distinct text is linted once for the whole run,
    by the first worker to ask, and the others read its findings (the same text gives the
    same findings)."""
    from cfnlint.api import ManualArgs, lint

    key = hashlib.sha256(json.dumps([LINT_REGIONS, text]).encode()).hexdigest()
    done = shared / "cfn-lint" / f"{key}.json"
    done.parent.mkdir(parents=True, exist_ok=True)
    with open(done.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            findings: list[str] = json.loads(done.read_text())
            return findings
        found = lint(text, config=ManualArgs(regions=list(LINT_REGIONS)))
        findings = [f"{m.rule.id} {m.message}" for m in found]
        tmp = done.with_suffix(".tmp")
        tmp.write_text(json.dumps(findings))
        os.replace(tmp, done)
        return findings
