"""`annex-cdk --help` and `check-setup` never start jsii: `python -X importtime` shows no
aws_cdk or jsii module in the CLI's own process (check-setup's HTCondor subprocess aside)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from annex_cdk.ops.rehearse import scratch_home
from annex_emulator.server import EmulatorProcess, is_cleared

FORBIDDEN = ("aws_cdk", "jsii")
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| +(\S+)\s*$")


def imported(stderr: str) -> set[str]:
    """The modules `-X importtime` reported (it writes one line per import to stderr)."""
    return {m.group(1) for line in stderr.splitlines() if (m := _IMPORT_LINE.match(line))}


def forbidden(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)


def other_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


def importtime(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """In HOME, not the checkout: a setup records its settings in the directory it runs in."""
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "annex_cdk", *args],
        env=env,
        cwd=env.get("HOME"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "_CONDOR_")) and not is_cleared(k)
    }
    env.update(COLUMNS="200", **extra)
    return env


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A scratch HOME with condor_annex's key files and a personal HTCondor config."""
    paths, condor_config, _ = scratch_home(tmp_path)
    return {"HOME": str(paths.home), "CONDOR_CONFIG": str(condor_config), "AWS_REGION": "us-east-1"}


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_imports_neither_aws_cdk_nor_jsii() -> None:
    proc = importtime("--help", env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert "check-setup" in proc.stdout
    modules = imported(proc.stderr)
    assert {"typer", "annex_cdk.commands.app"} <= modules  # the parse saw the CLI's imports
    assert forbidden(modules) == []


#: What start-up must not load: the AWS SDK, YAML, pydantic (Typer's coercion of a given value:
#: annex_cdk/commands/deferred_coercion.py), and every use case, AWS wrapper, HTCondor module and
#: template module of our own (the diff engine and the deploy engine among them).
NOT_AT_START = (
    "boto3",
    "pydantic",
    "botocore",
    "yaml",
    "annex_cdk.ops",
    "annex_cdk.aws",
    "annex_cdk.condor",
    "annex_cdk.templates",
    "annex_stacks.facade",
)


def loaded_too_early(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in NOT_AT_START))


def completion(words: str) -> dict[str, str]:
    """The environment bash's completion script gives annex-cdk for a Tab after `words`."""
    return {"_ANNEX_CDK_COMPLETE": "complete_bash", "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1)}  # fmt: skip


def test_help_and_completion_load_no_use_case() -> None:
    """`--help` and every Tab of shell completion start the CLI: they load Typer and the command
    modules (tests/unit/test_architecture.py: COMMAND_START_IMPORTS), nothing more."""
    cli = str(Path(sys.executable).parent / "annex-cdk")
    for args, extra, expected in (
        (["--help"], {}, "check-setup"),
        (["setup", "--help"], {}, "--allow-from"),
        ([], completion("annex-cdk se"), "setup"),
        ([], completion("annex-cdk setup --region us-east-1 --al"), "--allow-from"),
        ([], completion("annex-cdk org de"), "deploy"),
    ):
        proc = subprocess.run(
            [cli, *args],
            env=clean_env(PYTHONPROFILEIMPORTTIME="1", **extra),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert expected in proc.stdout
        modules = imported(proc.stderr)
        assert {"typer", "annex_cdk.commands.app", "annex_cdk.commands.deploy"} <= modules
        assert loaded_too_early(modules) == [], args or "completion"


def test_check_setup_against_an_unreachable_endpoint_fails_cleanly_without_cdk(
    home: dict[str, str],
) -> None:
    env = clean_env(**home, AWS_ENDPOINT_URL=f"http://127.0.0.1:{unused_port()}")
    proc = importtime("check-setup", env=env)
    assert proc.returncode != 0
    errors = other_lines(proc.stderr)
    assert not any("Traceback" in line for line in errors), proc.stderr
    assert any(line.startswith("annex-cdk:") for line in errors), errors
    modules = imported(proc.stderr)
    assert "annex_cdk.ops.check" in modules  # the command itself ran
    assert forbidden(modules) == []


def test_check_setup_on_the_emulator_runs_every_check_without_cdk(home: dict[str, str]) -> None:
    with EmulatorProcess() as emu:
        proc = importtime("check-setup", env=emu.environ(clean_env(**home)))
    assert proc.returncode == 1, proc.stderr  # nothing is set up on a fresh emulator
    assert "Checking for" in proc.stdout
    assert not any("Traceback" in line for line in other_lines(proc.stderr)), proc.stderr
    modules = imported(proc.stderr)
    assert {"annex_cdk.ops.check", "botocore"} <= modules
    assert forbidden(modules) == []
    # botocore's clients, not boto3's (and its S3 transfers): about 0.1 s of CPU every run.
    assert not {"boto3", "s3transfer"} & modules


def test_setups_diffs_and_write_config_that_need_no_synthesis_run_without_cdk(
    home: dict[str, str],
) -> None:
    """After a setup, neither write-config, an unchanged diff, a setup with nothing to do nor
    a setup after a destroy (its templates are in the cache) needs a synthesis, so none loads
    CDK; nor boto3 (the Lambda handlers' SDK, imported by them alone); nor PyYAML (only a
    template read back from the CDK CLI's deploy is YAML)."""
    jsii_cache = str(Path.home() / ".cache" / "aws" / "jsii" / "package-cache")
    with EmulatorProcess() as emu:
        env = emu.environ(clean_env(**home, JSII_RUNTIME_PACKAGE_CACHE_ROOT=jsii_cache))
        setup = subprocess.run(
            [sys.executable, "-m", "annex_cdk", "setup", "--allow-from", "198.51.100.7/32"],
            env=env, cwd=home["HOME"], capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert setup.returncode == 0, setup.stderr
        destroy = ["destroy", "--yes"]
        again = ["setup", "--allow-from", "198.51.100.7/32"]  # its templates are in the cache
        for args in (["write-config"], ["diff", "--exit-code"], ["setup"], destroy, again):
            proc = importtime(*args, env=env)
            assert proc.returncode == 0, proc.stderr
            modules = imported(proc.stderr)
            if args != destroy:
                assert "annex_cdk.ops.post_deploy" in modules  # the command itself ran
            assert forbidden(modules) == [], args
            assert not {"boto3", "s3transfer", "yaml"} & modules, args
