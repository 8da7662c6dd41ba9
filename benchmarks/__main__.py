"""`python -m benchmarks [--quick]`: run every section, print the table, write RESULTS.md."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from annex_cdk.emulator import EmulatorProcess
from benchmarks import emulated, machine, model, startup, synthesis
from benchmarks.table import RESULTS, Section, render, write_results
from benchmarks.world import ALLOW, World


@dataclass(frozen=True)
class Plan:
    """Repetitions per section."""

    startup: int
    synthesis: int
    emulator: int
    model: int


FULL = Plan(startup=15, synthesis=5, emulator=5, model=5)
QUICK = Plan(startup=5, synthesis=1, emulator=1, model=2)


def _say(message: str) -> None:
    print(f"[benchmarks] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="1-2 runs per figure (CI-sized: under 3 minutes)"
    )
    args = parser.parse_args(argv)
    reps = QUICK if args.quick else FULL
    started = time.monotonic()
    _say("describing the machine")
    described = machine.describe()
    sections: list[Section] = []
    with EmulatorProcess() as emu:
        _say(f"emulator at {emu.endpoint_url}; a completed setup for check-setup")
        emu.reset()
        ready = World(emu)
        try:
            ready.setup("--allow-from", ALLOW)
            _say(f"1. start-up ({reps.startup} runs)")
            sections.append(startup.measure(ready, reps.startup))
        finally:
            ready.cleanup()
        _say(f"2. synthesis ({reps.synthesis} runs)")
        sections.append(synthesis.measure(reps.synthesis))
        _say(f"3. emulator ({reps.emulator} runs)")
        emu_section, emu_data = emulated.measure(emu, reps.emulator)
        sections.append(emu_section)
    _say(f"4. real-AWS model ({reps.model} runs)")
    model_section, result = model.measure(reps.model)
    phases = emu_data["phases"]["fresh_cold"]
    overhead = emu_data["fresh_cold_s"] - phases["deploy_s"]
    estimate = result.engine_s + overhead
    model_section.notes.append(
        f"A real first setup, estimated: the modelled engine ({result.engine_s:.1f} s) plus a "
        f"fresh setup's non-deploy time on the emulator ({overhead:.1f} s: start-up, reads, "
        f"synthesis, local files) is {estimate:.1f} s, {estimate / result.critical_path_s:.2f}x "
        f"the slowest stack and {result.condor_annex_s / estimate:.2f}x faster than "
        "condor_annex's strategy."
    )
    sections.append(model_section)
    wall = time.monotonic() - started
    print(render(sections))
    path = write_results(
        sections, described, mode="quick" if args.quick else "full", wall_seconds=wall
    )
    failed = [r.key for s in sections for r in s.rows if r.passed is False]
    _say(
        f"{wall:.0f} s; wrote {path.relative_to(RESULTS.parent.parent)}; targets "
        + (f"missed: {', '.join(failed)}" if failed else "all met")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
