"""Section 6: `setup` in three regions at once versus one region.

Both are fresh setups in a fresh HOME with an empty synthesis cache (each pays one
synthesis), measured in pairs, one right after the other (which goes first alternates), after
one untimed setup in the three regions: the emulator's first requests (each service's request
app) and a cold jsii package cache are paid by neither case. The ratio is the median of the
pairs' ratios, so a load that comes and goes on a shared machine moves both halves of a pair
rather than one case's median. `python -m benchmarks.regions [--runs N]` prints this section
alone.
"""

from __future__ import annotations

import argparse
import sys

from annex_emulator.server import EmulatorProcess
from benchmarks.measure import fmt_seconds, median, rotated
from benchmarks.table import Row, Section, render
from benchmarks.world import ALLOW, World

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
#: Three regions may take at most this many times one region's wall time.
TARGET = 1.3


def _setup(emu: EmulatorProcess, regions: tuple[str, ...]) -> float:
    emu.reset()
    world = World(emu)
    try:
        args = [arg for region in regions for arg in ("--region", region)]
        result, report = world.setup("--allow-from", ALLOW, *args)
        if not report["ok"]:
            raise RuntimeError(f"setup in {', '.join(regions)} did not succeed: {report}")
        return result.seconds
    finally:
        world.cleanup()


def measure(emu: EmulatorProcess, runs: int) -> Section:
    samples: dict[str, list[float]] = {"one": [], "three": []}
    cases = {"one": REGIONS[:1], "three": REGIONS}
    _setup(emu, REGIONS)  # untimed (see the module's docstring)
    ratios = []
    for rep in range(runs):
        pair = {name: _setup(emu, cases[name]) for name in rotated(list(cases), rep)}
        for name, seconds in pair.items():
            samples[name].append(seconds)
        ratios.append(pair["three"] / pair["one"])
    emu.reset()
    one, three, ratio = median(samples["one"]), median(samples["three"]), median(ratios)
    section = Section("6. Several regions")
    section.rows.append(
        Row(
            "6a",
            f"fresh `setup` in {len(REGIONS)} regions at once ({', '.join(REGIONS)})",
            fmt_seconds(three),
            runs,
            f"fresh `setup` in one region ({REGIONS[0]})",
            fmt_seconds(one),
            f"{ratio:.2f}x (three ÷ one, median of {runs} pairs)",
            f"≤ {TARGET}x",
            ratio <= TARGET,
        )
    )
    section.notes.append(
        "Both runs start from an empty synthesis cache: the three regions share one synthesis "
        "(the stacks built once: they name no region), then deploy concurrently, each under "
        "its own lock; the regions that have deployed write their user_config blocks together. "
        "Each pair of runs (one region, three regions) is timed back to back after one untimed "
        "setup in the three regions; the ratio is the median of the pairs' ratios "
        f"({', '.join(f'{r:.2f}' for r in ratios)})."
    )
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.regions", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with EmulatorProcess() as emu:
        section = measure(emu, args.runs)
    print(render([section]))
    for note in section.notes:
        print(f"\n{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
