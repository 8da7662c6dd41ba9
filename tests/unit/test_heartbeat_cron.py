"""`condor configure --heartbeat-region`: the schedd cron job of the spend guardrail's dead-man
switch, read back by the real HTCondor parser (htcondor2, as the schedd reads it)."""

from __future__ import annotations

import subprocess

import pytest

from annex_cdk.condor import personal as pc
from annex_cdk.condor.heartbeat_cron import JOB, JOBLIST, HeartbeatCron
from annex_cdk.errors import UsageError
from tests.unit.test_personal_condor import ORIGINAL, Personal, configure, personal

__all__ = ["personal"]  # the fixture

CRON = HeartbeatCron("us-east-1", profile="annex")
KEYS = [JOBLIST, *(f"SCHEDD_CRON_{JOB}_{k}" for k in ("EXECUTABLE", "ARGS", "PERIOD", "MODE"))]


def test_the_schedd_runs_the_heartbeat_every_five_minutes(personal: Personal) -> None:
    personal.local_file.write_bytes(ORIGINAL + b"\nSCHEDD_CRON_JOBLIST = MYJOB\n")
    report = configure(personal, options=pc.GuideOptions(heartbeat=CRON))
    assert report.ok, report.problems
    got = personal.htcondor(KEYS, "SCHEDD")
    assert got[JOBLIST] == f"MYJOB {JOB}"  # the user's job kept
    assert got[f"SCHEDD_CRON_{JOB}_EXECUTABLE"] == CRON.python
    args = got[f"SCHEDD_CRON_{JOB}_ARGS"].split()
    assert args == [
        "-m",
        "annex_cdk",
        "heartbeat",
        "--classad",
        "--region",
        "us-east-1",
        "--profile",
        "annex",
    ]
    # What the schedd will run is annex-cdk's heartbeat, and it takes these options.
    ran = subprocess.run(
        [got[f"SCHEDD_CRON_{JOB}_EXECUTABLE"], *args, "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert "dead-man switch" in ran.stdout
    assert got[f"SCHEDD_CRON_{JOB}_PERIOD"] == "5m"
    assert got[f"SCHEDD_CRON_{JOB}_MODE"] == "Periodic"
    # Re-running changes nothing: the list is not extended twice.
    again = configure(personal, options=pc.GuideOptions(heartbeat=CRON))
    assert again.write.changed is False
    assert personal.htcondor([JOBLIST], "SCHEDD")[JOBLIST] == f"MYJOB {JOB}"


def test_a_later_joblist_that_drops_the_job_is_reported(personal: Personal) -> None:
    configure(personal, options=pc.GuideOptions(heartbeat=CRON))
    with personal.local_file.open("ab") as fh:
        fh.write(b"SCHEDD_CRON_JOBLIST = OTHER\n")
    report = configure(personal, options=pc.GuideOptions(heartbeat=CRON))
    assert not report.ok
    assert any(JOBLIST in p and f"without {JOB}" in p for p in report.problems)


def test_without_the_option_there_is_no_cron_job(personal: Personal) -> None:
    assert configure(personal).ok
    assert personal.htcondor([JOBLIST], "SCHEDD")[JOBLIST] in (None, "")


@pytest.mark.parametrize(
    ("cron", "match"),
    [
        (HeartbeatCron("moon-base-1"), "not an AWS region"),
        (HeartbeatCron("us-east-1", profile="two words"), "one word"),
        (HeartbeatCron("us-east-1", python="/opt/my python/bin/python"), "white space"),
    ],
)
def test_bad_cron_options_are_usage_errors(cron: HeartbeatCron, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        pc.GuideOptions(heartbeat=cron).validate()
