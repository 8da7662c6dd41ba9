"""The AWS-side-only mode (--no-local, CI=true): which commands get no local paths, and why."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from annex_cdk.commands import app as cli
from annex_cdk.commands.options import NO_LOCAL_ENV, AwsOptions, aws_side_only
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.ops import check, setup
from annex_cdk.ops.check_report import CheckReport
from annex_cdk.ops.setup import SetupReport
from annex_stacks.settings import AnnexSettings


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        (None, {}, False),
        (None, {"CI": "true"}, True),  # GitHub Actions, GitLab CI, ...
        (None, {"CI": "1"}, False),  # only the documented value
        (False, {"CI": "true"}, False),  # --local wins: a runner that is the submit host
        (True, {}, True),
        (None, {NO_LOCAL_ENV: "1"}, True),
        (None, {NO_LOCAL_ENV: "0", "CI": "true"}, False),
    ],
)
def test_what_switches_the_aws_side_only_mode(monkeypatch, flag, env, expected):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(NO_LOCAL_ENV, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert aws_side_only(flag) is expected


def _nothing_done() -> SetupReport:
    return SetupReport(
        region="us-east-1", account="123456789012", stacks={}, local=None,
        settings=AnnexSettings(region="us-east-1"), cdk_context=None,
        timings={"total_s": 0.0}, synth_cached=True,
    )  # fmt: skip


def _capture(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def target(self: AwsOptions, local: bool = True, region: str | None = None) -> str:
        seen["local_target"] = local
        return "target"

    def fake_setup(target: Any, paths: Any, flags: Any, **kwargs: Any) -> SetupReport:
        seen["paths"] = paths
        return _nothing_done()

    def fake_check(target: Any, paths: Any, **kwargs: Any) -> CheckReport:
        seen["paths"] = paths
        return CheckReport("us-east-1")

    monkeypatch.setattr(AwsOptions, "target", target)
    # The commands import their use case when they run: patched where it lives.
    monkeypatch.setattr(setup, "run_setup", fake_setup)
    monkeypatch.setattr(check, "run_check_setup", fake_check)
    return seen


@pytest.mark.parametrize(
    "args",
    [["setup", "--allow-from", "198.51.100.7/32", "--yes"], ["check-setup", "--deep"]],
)
def test_no_local_hands_the_use_case_no_paths_and_reads_no_key_files(monkeypatch, args):
    seen = _capture(monkeypatch)
    result = CliRunner().invoke(cli.app, [*args, "--no-local"])
    assert result.exit_code == 0, result.output
    assert seen == {"local_target": False, "paths": None}
    seen.clear()
    result = CliRunner().invoke(cli.app, args, env={"CI": "true"})
    assert seen == {"local_target": False, "paths": None}
    seen.clear()
    result = CliRunner().invoke(cli.app, [*args, "--local"], env={"CI": "true"})
    assert seen["local_target"] is True and isinstance(seen["paths"], LocalPaths)


def test_setup_without_local_files_says_what_the_submit_host_runs(monkeypatch):
    _capture(monkeypatch)
    result = CliRunner().invoke(
        cli.app, ["setup", "--allow-from", "198.51.100.7/32", "--yes", "--no-local"]
    )
    assert "annex-cdk write-config --region us-east-1" in result.output


def test_target_without_local_ignores_condor_key_files(tmp_path, monkeypatch):
    condor = tmp_path / ".condor"
    condor.mkdir()
    (condor / "publicKeyFile").write_text("AKIAEXAMPLE\n")
    (condor / "privateKeyFile").write_text("secret\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    options = AwsOptions(region=["us-east-1"])
    assert options.target().credentials.access_key_file is not None
    assert options.target(local=False).credentials.access_key_file is None
