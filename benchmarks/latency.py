"""Section 5: annex-cdk and the CDK CLI on the same emulator, at 0 ms and at AWS's latency.

On the bare emulator every call is answered in about a millisecond, so a tool that makes many
calls one after another looks as fast as one that makes few. With the emulator answering as
late as an account would (`annex_emulator.latency.REALISTIC_MS`, the figures and their sources
there), the same cases show what a user waits for. Each case runs at both latencies in this one
run; the targets are judged at the realistic one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annex_emulator.latency import EVERY_SERVICE, REALISTIC_MS, describe
from annex_emulator.server import EmulatorProcess
from benchmarks import floor
from benchmarks.measure import annex_cdk, base_env, fmt_seconds, median, rotated, run
from benchmarks.table import Row, Section
from benchmarks.world import ALLOW, World

NOOP_TARGET = 5.0  # no-op setup vs no-op `cdk deploy --all`: at least this many times faster
DIFF_TARGET = 5.0  # `diff --exit-code` vs `cdk diff --all`
DEEP_TARGET_S = 3.0  # `check-setup --deep`: under this
FRESH_TARGET = 2.0  # fresh setup vs `cdk deploy --all --concurrency 5` + write-config
FLOOR_TARGET = 1.2  # no-op setup vs the floor of the calls it must make
FLOOR_PAIRS = 3  # floor program and no-op setup, one after the other, per run of the path
#: The calls a no-op setup cannot do without go out in one round: who the caller is, each
#: stack's state and its resources, whether each resource still exists (a resource deleted
#: behind CloudFormation's back must be re-created) and the PEM's private key (the local files
#: are written on every setup). The last such run's record names the resources and the key's
#: parameter; the first no-op after a deploy has none, and reads them in a second round, so the
#: calls recorded are a later no-op's, and the floor program makes them all at once.
CDK_DEPLOY = ("deploy", "--all", "--require-approval", "never")
#: What `cdk deploy -v` says of a stack it does not skip (its template comparison failed).
_NOT_SKIPPED = re.compile(r"^.*: template has changed$", re.MULTILINE)
#: The figures of the emulator at 0 ms: the same cases with AWS's latency taken out.
NO_LATENCY: Mapping[str, float] = {}


@dataclass
class Samples:
    seconds: dict[str, list[float]] = field(default_factory=dict)
    calls: dict[str, list[dict[str, int]]] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)
    stacks: int = 0
    noop_actions: list[set[str]] = field(default_factory=list)
    #: floor.describe of each recorded no-op's calls.
    noop_calls: list[str] = field(default_factory=list)

    def add(self, name: str, seconds: float, calls: dict[str, int] | None = None) -> None:
        self.seconds.setdefault(name, []).append(seconds)
        if calls is not None:
            self.calls.setdefault(name, []).append(calls)

    def med(self, name: str) -> float:
        return median(self.seconds[name])

    def call_count(self, name: str) -> int:
        return int(median([sum(c.values()) for c in self.calls[name]]))


def _counted(emu: EmulatorProcess, action: Callable[[], Any]) -> tuple[Any, dict[str, int]]:
    emu.calls(clear=True)
    result = action()
    return result, emu.calls()


def _annex_path(emu: EmulatorProcess, s: Samples) -> None:
    """Fresh setup, no-op setup without a synthesis cache, diff, deep check, then plain `cdk
    deploy --all` and `cdk diff --all` on the stacks setup made, and destroy."""
    emu.reset()
    world = World(emu)
    try:
        (fresh, _), calls = _counted(emu, lambda: world.setup("--allow-from", ALLOW))
        s.add("fresh", fresh.seconds, calls)
        recording = _record_noop(world)
        world.synth_cache = False
        (noop, report), calls = _counted(emu, world.setup)
        world.synth_cache = True
        s.add("noop", noop.seconds, calls)
        s.noop_actions.append({st["action"] for st in report["stacks"].values()})
        _floor_pairs(world, recording, s)
        s.noop_calls.append(floor.describe(floor.Call.load_all(recording)))
        s.stacks = len(report["stacks"])
        diff, calls = _counted(emu, lambda: world.annex("diff", "--exit-code"))
        s.add("diff", diff.seconds, calls)
        deep, calls = _counted(emu, lambda: world.annex("check-setup", "--deep"))
        s.add("deep", deep.seconds, calls)
        mixed = world.cdk(*CDK_DEPLOY, "-v")
        s.add("cdk_after_setup", mixed.seconds)
        s.skipped.append(s.stacks - len(_NOT_SKIPPED.findall(mixed.stdout + mixed.stderr)))
        s.add("cdk_diff", world.cdk("diff", "--all").seconds)
        s.add("destroy", world.annex("destroy", "--yes", "--json").seconds)
    finally:
        world.cleanup()


def _floor_pairs(world: World, recording: Path, s: Samples) -> None:
    """5f's samples: the floor program and a no-op setup, one after the other, FLOOR_PAIRS
    times (each is under a second, and one pair alone swings by a tenth of a second here)."""
    world.synth_cache = False
    try:
        for _ in range(FLOOR_PAIRS):
            replay = world.python(str(floor.__file__), "replay", str(recording))
            s.add("floor", replay.check("floor replay").seconds)
            s.add("noop_paired", world.annex("setup", "--json").seconds)
    finally:
        world.synth_cache = True


def _record_noop(world: World) -> Path:
    """A no-op setup's calls, recorded (untimed), after one more no-op: the first one after a
    deploy records the resources that later ones read at once. They also warm the emulator:
    moto builds a service's request router on its first call to it, which AWS has no
    counterpart of."""
    recording = world.root / "noop-calls.json"
    world.synth_cache = False
    try:
        world.annex("setup", "--json")
        world.python(str(floor.__file__), "record", str(recording), "--", "setup", "--json").check(
            "recorded no-op setup"
        )
    finally:
        world.synth_cache = True
    return recording


def _cdk_path(emu: EmulatorProcess, s: Samples) -> None:
    """`cdk deploy --all --concurrency 5` + write-config, then a no-op `cdk deploy --all`."""
    emu.reset()
    world = World(emu)
    try:
        deploy = world.cdk(*CDK_DEPLOY, "--concurrency", "5")
        write = world.annex("write-config", "--json")
        if not json.loads(write.stdout)["ok"]:
            raise RuntimeError(f"write-config after cdk deploy reported problems: {write.stdout}")
        s.add("cdk_fresh", deploy.seconds + write.seconds)
        s.add("cdk_noop", world.cdk(*CDK_DEPLOY).seconds)
    finally:
        world.cleanup()


def _startup_floor(runs: int) -> float:
    """What a CLI run costs before its first AWS call: `annex-cdk setup --help`."""
    env = {**base_env(), "COLUMNS": "200"}
    return median(
        [run([annex_cdk(), "setup", "--help"], env=env).check("setup --help").seconds]
        + [run([annex_cdk(), "setup", "--help"], env=env).seconds for _ in range(runs)]
    )


def measure(runs: int, realistic: Mapping[str, float] = REALISTIC_MS) -> Section:
    latencies = {"0": NO_LATENCY, "aws": dict(realistic)}
    samples = {key: Samples() for key in latencies}
    for key, latency in latencies.items():
        with EmulatorProcess(latency_ms=latency) as emu:
            paths: dict[str, Callable[[EmulatorProcess, Samples], None]] = {
                "annex": _annex_path,
                "cdk": _cdk_path,
            }
            for rep in range(runs):
                for name in rotated(list(paths), rep):
                    paths[name](emu, samples[key])
    start_s = _startup_floor(max(runs, 3))
    per_call_s = realistic.get(EVERY_SERVICE, 0.0) / 1000

    section = Section(f"5. At AWS's latency ({describe(realistic)}) and at 0 ms, side by side")
    for key, latency in latencies.items():
        s, at = samples[key], describe(latency)
        judged = key == "aws"

        def verdict(ok: bool, judged: bool = judged) -> bool | None:
            return ok if judged else None

        noop, cdk_noop = s.med("noop"), s.med("cdk_noop")
        diff, cdk_diff = s.med("diff"), s.med("cdk_diff")
        fresh, cdk_fresh = s.med("fresh"), s.med("cdk_fresh")
        deep = s.med("deep")
        stacks = sorted({a for actions in s.noop_actions for a in actions})
        section.rows += [
            Row(
                f"5a {at}",
                f"no-op `setup`, synthesis cache disabled ({s.call_count('noop')} AWS calls; "
                f"stack actions: {', '.join(stacks)})",
                fmt_seconds(noop),
                runs,
                "no-op `cdk deploy --all` (after its own deploy)",
                fmt_seconds(cdk_noop),
                f"{cdk_noop / noop:.2f}x faster (cdk ÷ setup)",
                f"≥ {NOOP_TARGET:.0f}x faster" if judged else "—",
                verdict(cdk_noop / noop >= NOOP_TARGET and stacks == ["unchanged"]),
            ),
            Row(
                f"5b {at}",
                f"`diff --exit-code`, nothing changed ({s.call_count('diff')} AWS calls)",
                fmt_seconds(diff),
                runs,
                "`cdk diff --all` (its default method: a change set per stack)",
                fmt_seconds(cdk_diff),
                f"{cdk_diff / diff:.2f}x faster (cdk ÷ diff)",
                f"≥ {DIFF_TARGET:.0f}x faster" if judged else "—",
                verdict(cdk_diff / diff >= DIFF_TARGET),
            ),
            Row(
                f"5c {at}",
                f"`check-setup --deep` ({s.call_count('deep')} AWS calls)",
                fmt_seconds(deep),
                runs,
                target=f"< {DEEP_TARGET_S:.0f} s" if judged else "—",
                passed=verdict(deep < DEEP_TARGET_S),
            ),
            Row(
                f"5d {at}",
                f"fresh `setup` ({s.call_count('fresh')} AWS calls)",
                fmt_seconds(fresh),
                runs,
                "`cdk deploy --all --concurrency 5` + `annex-cdk write-config`",
                fmt_seconds(cdk_fresh),
                f"{cdk_fresh / fresh:.2f}x faster (cdk ÷ setup)",
                f"≥ {FRESH_TARGET:.0f}x faster" if judged else "—",
                verdict(cdk_fresh / fresh >= FRESH_TARGET),
            ),
            Row(
                f"5e {at}",
                f"plain `cdk deploy --all -v` after `setup`: {min(s.skipped)} of {s.stacks} "
                "stacks skipped (no `template has changed`)",
                fmt_seconds(s.med("cdk_after_setup")),
                runs,
                "no-op `cdk deploy --all` after its own deploy",
                fmt_seconds(cdk_noop),
                f"{s.med('cdk_after_setup') / cdk_noop:.2f}x (after setup ÷ after cdk)",
                "every stack skipped",
                min(s.skipped) == s.stacks,
            ),
            Row(f"5g {at}", "`destroy --yes`", fmt_seconds(s.med("destroy")), runs),
        ]
        if judged:
            floor_s, recorded = s.med("floor"), s.noop_calls[-1]
            paired, pairs = s.med("noop_paired"), len(s.seconds["floor"])
            bound_s = start_s + per_call_s  # one round
            section.rows[-1:-1] = [
                Row(
                    f"5f {at}",
                    "no-op `setup` against the floor of the calls it must make: the "
                    f"same {recorded}, made at once by a bare botocore program "
                    "(`benchmarks/floor.py`); the two one after the other",
                    fmt_seconds(paired),
                    pairs,
                    "the floor program",
                    fmt_seconds(floor_s),
                    f"{paired / floor_s:.2f}x (setup ÷ floor)",
                    f"≤ {FLOOR_TARGET}x",
                    paired / floor_s <= FLOOR_TARGET,
                ),
                Row(
                    f"5f' {at}",
                    "  context: the same no-op against one round's latency alone (as if "
                    "botocore, its clients and the answers cost no CPU)",
                    fmt_seconds(paired),
                    pairs,
                    f"start-up (`setup --help`, {fmt_seconds(start_s)}) + "
                    f"1 x {per_call_s * 1000:g} ms",
                    fmt_seconds(bound_s),
                    f"{paired / bound_s:.2f}x (setup ÷ bound)",
                ),
            ]
    aws = samples["aws"]
    noop_calls = json.dumps(aws.calls["noop"][0], separators=(", ", ": "))
    section.notes += [
        "Each latency has an emulator of its own; every case starts from an emptied emulator "
        "and a new scratch HOME, and the two paths take turns going first. The realistic "
        "figures (`annex_emulator.latency.REALISTIC_MS`): every AWS call answered "
        f"{realistic.get(EVERY_SERVICE, 0):g} ms late, "
        + ", ".join(f"{k} {v:g} ms" for k, v in realistic.items() if k != EVERY_SERVICE)
        + "; the module cites where each comes from. The CDK CLI pays the same delays: it "
        "talks to the same emulator.",
        f"The AWS calls of one no-op `setup` at the realistic latency, by service and action: "
        f"{noop_calls}.",
        "The synthesis cache is disabled for the no-op (5a, 5f): its time is what a CI runner "
        "or a fresh checkout pays, not what a warm cache hides.",
        "5f's floor program is botocore as it comes: it parses botocore's JSON API models for "
        "each client, where annex-cdk reads them from its own cache of their parsed form "
        "(`annex_cdk.aws.model_cache`, filled by the fresh setup before); it makes no "
        "decision, writes no file and prints nothing. 5f' counts one round's latency alone, "
        "after `setup --help`'s start-up, as if botocore, its clients and the answers cost "
        "no CPU: the floor program itself is about twice that.",
    ]
    return section
