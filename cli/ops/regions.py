"""Several regions in one command: each region's run at once, each on its own.

setup, diff, check-setup, write-config and destroy take --region more than once. Each region
runs in a thread of its own with its own clients, under its own lock (the run lock is per
account and region: aws/lock.py), and ends with its own report or its own error: a failure
in one region never stops the others, and what finished stays finished, so a re-run finishes
the rest. The regions of one run share one synthesis (synth_cache.shared_synthesis), and
the regions that have deployed by the time one of them writes its user_config block share
that write (post_deploy.shared_local_writes), made under the local lock any other run takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from annex_cdk.errors import EXIT_FAILURE, AnnexError
from annex_cdk.ops.post_deploy import shared_local_writes
from annex_cdk.ops.synth_cache import shared_synthesis

R = TypeVar("R")


@dataclass(frozen=True)
class RegionOutcome(Generic[R]):
    """One region's end: its report, or the error that stopped it (one line and a hint)."""

    region: str
    report: R | None
    error: str | None = None
    hint: str | None = None
    exit_code: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, object]:
        return {
            "region": self.region,
            "ok": self.ok,
            "error": self.error,
            "hint": self.hint,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
        }


def run_regions(
    regions: Sequence[str],
    work: Callable[[str], R],
    *,
    on_end: Callable[[RegionOutcome[R]], None] | None = None,
) -> list[RegionOutcome[R]]:
    """`work(region)` for every region at once; every region's outcome, in the order given.

    An AnnexError ends its own region only. Anything else (a bug) does too, reported as an
    unexpected error with its type; Ctrl-C stops the run as a whole.
    """
    with shared_synthesis(regions) as batch, shared_local_writes(regions) as writes:

        def one(region: str) -> RegionOutcome[R]:
            started = time.monotonic()
            try:
                report = work(region)
            except AnnexError as err:
                outcome: RegionOutcome[R] = RegionOutcome(
                    region, None, str(err), err.hint, err.exit_code, time.monotonic() - started
                )
            except Exception as err:  # the other regions go on; the line names the error
                outcome = RegionOutcome(
                    region,
                    None,
                    f"unexpected error: {type(err).__name__}: {err}",
                    None,
                    EXIT_FAILURE,
                    time.monotonic() - started,
                )
            else:
                outcome = RegionOutcome(region, report, seconds=time.monotonic() - started)
            finally:
                batch.leave(region)  # a region that never synthesized holds no one up
                writes.leave(region)  # nor one that wrote no block
            if on_end is not None:
                on_end(outcome)
            return outcome

        with ThreadPoolExecutor(max_workers=len(regions), thread_name_prefix="region") as pool:
            return list(pool.map(one, regions))
