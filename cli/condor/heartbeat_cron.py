"""The schedd cron job that keeps the spend guardrail's heartbeat fresh (the dead-man switch).

HTCondor's daemon cron (SCHEDD_CRON_*, "Startd Cron and Schedd Cron Daemon ClassAd Hooks" in
the administrators' manual) runs `annex-cdk heartbeat` every five minutes while the schedd is
up; when the access point dies, the heartbeat ages and the guardrail function ends every annex
of the region. The job list is extended, never replaced: `SCHEDD_CRON_JOBLIST =
$(SCHEDD_CRON_JOBLIST) ANNEXHEARTBEAT` keeps the jobs other configuration files name.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from annex_cdk.errors import UsageError

JOB = "ANNEXHEARTBEAT"
JOBLIST = "SCHEDD_CRON_JOBLIST"
#: Half the shortest heartbeat limit settings accept (heartbeat_minutes >= 10).
PERIOD = "5m"
_PREFIX = f"SCHEDD_CRON_{JOB}_"
_REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d{1,2}$")
# Cron ARGS are split at white space (the "old" argument syntax): no word may contain any.
_WORD_RE = re.compile(r"^[^\s\"'$]+$")


@dataclass(frozen=True)
class HeartbeatCron:
    region: str
    profile: str | None = None
    #: The Python that runs annex-cdk (`python -m annex_cdk`): the one running this command.
    python: str = sys.executable

    def validate(self) -> None:
        if not _REGION_RE.match(self.region):
            raise UsageError(f"--heartbeat-region {self.region!r} is not an AWS region name")
        if self.profile is not None and not _WORD_RE.match(self.profile):
            raise UsageError(f"--heartbeat-profile {self.profile!r} must be one word")
        if not _WORD_RE.match(self.python):
            raise UsageError(
                f"annex-cdk's Python {self.python!r} has white space or quotes in its path, "
                "which a schedd cron job's EXECUTABLE cannot carry",
                hint="install annex-cdk under a path without spaces",
            )

    def args(self) -> list[str]:
        profile = ["--profile", self.profile] if self.profile else []
        # --classad: the schedd reads a cron job's output as ClassAd attributes of its own ad.
        return ["-m", "annex_cdk", "heartbeat", "--classad", "--region", self.region, *profile]

    def lines(self) -> tuple[tuple[str, str], ...]:
        return (
            (JOBLIST, f"$({JOBLIST}) {JOB}"),
            (f"{_PREFIX}EXECUTABLE", self.python),
            (f"{_PREFIX}ARGS", " ".join(self.args())),
            (f"{_PREFIX}PERIOD", PERIOD),
            (f"{_PREFIX}MODE", "Periodic"),
        )


COMMENT = (
    "Spend guardrail's dead-man switch: the schedd refreshes this access point's heartbeat "
    f"every {PERIOD}"
)


def appends_itself(key: str, value: str) -> bool:
    """A line that adds to the value before it (`K = $(K) more`)."""
    return f"$({key})" in value
