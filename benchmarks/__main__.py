"""`python -m benchmarks [--quick]`: run every section, print the table, write RESULTS.md."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annex_emulator import latency as emulator_latency
from annex_emulator.server import EmulatorProcess
from benchmarks import emulated, latency, machine, measure, model, regions, startup, synthesis
from benchmarks.table import RESULTS, render, write_results
from benchmarks.world import ALLOW, World


@dataclass(frozen=True)
class Plan:
    """Repetitions per section."""

    startup: int
    synthesis: int
    emulator: int
    model: int
    latency: int
    regions: int


FULL = Plan(startup=15, synthesis=5, emulator=3, model=5, latency=3, regions=5)
QUICK = Plan(startup=5, synthesis=1, emulator=1, model=2, latency=1, regions=1)


def _say(message: str) -> None:
    print(f"[benchmarks] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="1-2 runs per figure (CI-sized: under 3 minutes)"
    )
    parser.add_argument(
        "--output", type=Path, help=f"where to write the results (default {RESULTS.name})"
    )
    parser.add_argument(
        "--latency-ms",
        action="append",
        default=[],
        metavar="[SERVICE=]MS",
        help="the realistic latency of section 5 (default: "
        + " ".join(emulator_latency.as_args(emulator_latency.REALISTIC_MS))
        + ")",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[str(n) for n in range(1, 7)],
        metavar="SECTION",
        help="run only this section (1-6; repeatable); prints the table, writes a file only "
        "with --output (RESULTS.md is the full run's)",
    )
    args = parser.parse_args(argv)
    only = set(args.only or ())

    def wanted(section: int) -> bool:
        return not only or str(section) in only

    try:
        realistic = (
            emulator_latency.parse(args.latency_ms)
            if args.latency_ms
            else dict(emulator_latency.REALISTIC_MS)
        )
    except emulator_latency.LatencyError as err:
        parser.error(str(err))
    reps = QUICK if args.quick else FULL
    started = time.monotonic()
    _say("byte-compiling our packages, as an install does")
    measure.byte_compile()
    _say("describing the machine")
    described = [
        *machine.describe(),
        ("Emulator latency (section 5)", emulator_latency.describe(realistic)),
    ]
    sections = []
    emu_data: dict[str, Any] = {}
    if wanted(1) or wanted(3) or wanted(6):
        with EmulatorProcess() as emu, tempfile.TemporaryDirectory(prefix="annex-bench-") as tmp:
            _say(f"emulator at {emu.endpoint_url}")
            warm_cache = Path(tmp) / "xdg-cache"
            if wanted(3):
                _say(f"3. emulator ({reps.emulator} runs)")
                emulated.fill_cache(emu, warm_cache)
                emu_section, emu_data = emulated.measure(emu, reps.emulator, cache=warm_cache)
                sections.append(emu_section)
            if wanted(6):
                _say(f"6. several regions ({reps.regions} pairs of runs)")
                sections.append(regions.measure(emu, reps.regions))
            if wanted(1):
                _say(f"1. start-up ({reps.startup} runs), after a setup for check-setup")
                emu.reset()
                ready = World(emu, cache=warm_cache)
                try:
                    ready.setup("--allow-from", ALLOW)
                    sections.insert(0, startup.measure(ready, reps.startup))
                finally:
                    ready.cleanup()
                    emu.reset()
    if wanted(2):
        _say(f"2. synthesis ({reps.synthesis} runs)")
        sections.append(synthesis.measure(reps.synthesis))
    if wanted(5):
        _say(f"5. at 0 ms and at {emulator_latency.describe(realistic)} ({reps.latency} runs)")
        sections.append(latency.measure(reps.latency, realistic))
    if wanted(4):
        _say(f"4. real-AWS model ({reps.model} runs)")
        model_section, result = model.measure(reps.model)
        estimates = []
        for case, label in (
            ("fresh_cold", "as it is (3b)"),
            ("fresh_fix", "with the validation off (3b*)"),
        ):
            if case not in emu_data.get("walls", {}):
                continue
            overhead = emu_data["walls"][case] - emu_data["phases"][case]["deploy_s"]
            estimate = result.engine_s + overhead
            estimates.append(
                f"{label}: {overhead:.1f} s of non-deploy time (start-up, reads, synthesis, "
                f"local files) on top of the modelled engine's {result.engine_s:.1f} s makes "
                f"{estimate:.1f} s, {estimate / result.critical_path_s:.2f}x the slowest stack "
                f"and {result.condor_annex_s / estimate:.2f}x faster than condor_annex's strategy"
            )
        if estimates:
            model_section.notes.append(
                "A real first setup, estimated " + "; ".join(estimates) + "."
                if len(estimates) > 1
                else "A real first setup, estimated: " + estimates[0].split(": ", 1)[1] + "."
            )
        sections.append(model_section)
    sections.sort(key=lambda section: section.title[:1])  # "1. ...", "2. ...": in order
    wall = time.monotonic() - started
    print(render(sections))
    path = None
    if not only or args.output is not None:
        path = write_results(
            sections,
            described,
            mode="quick" if args.quick else "full",
            wall_seconds=wall,
            path=args.output or RESULTS,
        )
    failed = [r.key for s in sections for r in s.rows if r.passed is False and not r.what_if]
    _say(
        f"{wall:.0f} s; "
        + (f"wrote {path}; " if path else "")
        + "targets "
        + (f"missed: {', '.join(failed)}" if failed else "all met")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
