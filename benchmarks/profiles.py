"""Where a CLI run's time goes: one run under cProfile, summed into a few named buckets."""

from __future__ import annotations

import pstats
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.world import World


@dataclass(frozen=True)
class Bucket:
    label: str
    path_suffix: str  # the end of the function's file name
    function: str


#: What a setup run spends its time on (cumulative time, so buckets may nest or overlap).
SETUP_BUCKETS: tuple[Bucket, ...] = (
    Bucket(
        "typer coercing the options (typer 0.29 builds pydantic TypeAdapters)",
        "typer/_coercion.py",
        "build_runtime_param",
    ),
    Bucket("boto3 clients created", "annex_cdk/aws.py", "client"),
    Bucket("AWS requests (HTTP to the emulator)", "botocore/endpoint.py", "_send"),
    Bucket("HTCondor config subprocesses", "annex_cdk/condor/parser.py", "_run_htcondor"),
    Bucket(
        "reads, settings, pre-flight, synthesis (`desired_state`)",
        "annex_cdk/setup.py",
        "desired_state",
    ),
    Bucket("plan and converge", "annex_cdk/engine.py", "converge"),
    Bucket("local files (`post_deploy`)", "annex_cdk/ops/post_deploy.py", "post_deploy"),
    Bucket("`run_setup` in all", "annex_cdk/setup.py", "run_setup"),
)


def _matches(key: tuple[str, int, str], bucket: Bucket) -> bool:
    filename, _, function = key
    # The editable install maps cli/ to annex_cdk: accept either spelling.
    filename = filename.replace("/cli/", "/annex_cdk/")
    return function == bucket.function and filename.endswith(bucket.path_suffix)


def profile(world: World, *args: str) -> pstats.Stats:
    """Run `annex-cdk ARGS` once under cProfile in `world`."""
    with tempfile.TemporaryDirectory(prefix="annex-bench-prof-") as tmp:
        out = Path(tmp) / "run.prof"
        world.python("-m", "cProfile", "-o", str(out), "-m", "annex_cdk", *args).check(
            f"cProfile annex-cdk {' '.join(args)}"
        )
        return pstats.Stats(str(out), stream=sys.stderr)


def summarize(stats: pstats.Stats, buckets: Sequence[Bucket] = SETUP_BUCKETS) -> list[str]:
    """One Markdown line per bucket: cumulative seconds (and calls), in the profiled run."""
    table = stats.stats  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]
    lines = []
    for bucket in buckets:
        calls = cumulative = 0.0
        for key, (_, ncalls, _, ct, _) in table.items():
            if _matches(key, bucket):
                calls += ncalls
                cumulative += ct
        if calls:
            lines.append(
                f"- {bucket.label}: {cumulative:.2f} s ({cumulative / total:.0%}; {calls:.0f} call"
                f"{'s' if calls != 1 else ''})"
            )
    lines.append(f"- the whole process under the profiler: {total:.2f} s")
    return lines
