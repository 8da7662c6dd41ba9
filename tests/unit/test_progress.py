"""Progress lines as `cdk deploy` prints them (console.ResourceEvent, console.StackProgress);
tests/e2e/test_reporting.py checks them on the emulator's update and destroy."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from annex_cdk import console
from annex_cdk.console import ResourceEvent, StackProgress

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def event(status: str, reason: str = "", done: int = 3) -> ResourceEvent:
    return ResourceEvent(
        stack="HTCondorAnnex-Bucket",
        done=done,
        total=12,
        timestamp=WHEN,
        status=status,
        resource_type="AWS::S3::Bucket",
        logical_id="ConfigurationBucket",
        reason=reason,
    )


def test_a_resource_line_is_cdks_and_verbose_adds_the_reason():
    stamp = WHEN.astimezone().strftime("%H:%M:%S")
    line = event("UPDATE_COMPLETE", "done it").line(verbose=False)
    assert line == (
        f"HTCondorAnnex-Bucket |  3/12 | {stamp} | UPDATE_COMPLETE      | AWS::S3::Bucket | "
        "ConfigurationBucket"
    )
    assert event("UPDATE_COMPLETE", "done it").line(verbose=True).endswith(" (done it)")
    # A failure's reason is the point of its line: shown without -v too.
    assert event("UPDATE_FAILED", "quota").line(verbose=False).endswith(" (quota)")


@pytest.fixture
def screen(monkeypatch) -> tuple[io.StringIO, Console]:
    out = io.StringIO()
    fake = Console(file=out, force_terminal=True, width=200, highlight=False)
    monkeypatch.setattr(console, "err_console", lambda: fake)
    return out, fake


def test_on_a_terminal_a_live_summary_runs_from_the_first_line_to_the_end(screen):
    out, _ = screen
    with StackProgress() as progress:
        assert progress._live is None  # not before the first line: a question may come first
        progress("HTCondorAnnex-Bucket", "UPDATE_IN_PROGRESS", "updating")
        progress.resource(event("UPDATE_COMPLETE", done=12))
        assert progress._live is not None and progress._live.is_started
        assert (
            "12/12 UPDATE_COMPLETE ConfigurationBucket" in progress._summary["HTCondorAnnex-Bucket"]
        )
        live = progress._live
    assert progress._live is None and not live.is_started
    assert "| 12/12 |" in out.getvalue()


def test_without_a_terminal_only_plain_lines(monkeypatch):
    out = io.StringIO()
    plain = Console(file=out, force_terminal=False, width=200)
    monkeypatch.setattr(console, "err_console", lambda: plain)
    with StackProgress(verbose=True) as progress:
        progress.resource(event("DELETE_COMPLETE", "gone"))
        assert progress._live is None
    assert out.getvalue().splitlines()[-1].endswith("| ConfigurationBucket (gone)")
