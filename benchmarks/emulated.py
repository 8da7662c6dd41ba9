"""Section 3: the CLI's commands on the emulator versus `cdk deploy --all` + `write-config`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from annex_cdk.emulator import EmulatorProcess
from benchmarks.measure import fmt_seconds, median, rotated
from benchmarks.table import NA, Row, Section
from benchmarks.world import ALLOW, World, has_option

SPEEDUP_TARGET = 3.0
NOOP_TARGET = 0.40
DEPLOY_ARGS = ("deploy", "--all", "--method=direct", "--require-approval", "never")


@dataclass
class Samples:
    seconds: dict[str, list[float]] = field(default_factory=dict)
    timings: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    noop_updates: list[int] = field(default_factory=list)
    noop_cached: list[bool] = field(default_factory=list)
    deep_failures: list[str] = field(default_factory=list)

    def add(self, name: str, seconds: float) -> None:
        self.seconds.setdefault(name, []).append(seconds)

    def med(self, name: str) -> float:
        return median(self.seconds[name])


def _fresh(emu: EmulatorProcess, *, synth_cache: bool) -> World:
    emu.reset()
    return World(emu, synth_cache=synth_cache)


def _setup_uncached(emu: EmulatorProcess, s: Samples) -> None:
    world = _fresh(emu, synth_cache=False)
    try:
        result, report = world.setup("--allow-from", ALLOW)
        s.add("fresh_nocache", result.seconds)
        s.timings.setdefault("fresh_nocache", []).append(report["timings"])
    finally:
        world.cleanup()


def _setup_lifecycle(emu: EmulatorProcess, s: Samples, *, deep: bool) -> None:
    """Fresh setup (empty cache), no-op re-run (warm cache), checks, destroy: one HOME."""
    world = _fresh(emu, synth_cache=True)
    try:
        result, report = world.setup("--allow-from", ALLOW)
        s.add("fresh_cold", result.seconds)
        s.timings.setdefault("fresh_cold", []).append(report["timings"])
        result, report = world.setup()  # no flags: the deployed stacks remember them
        s.add("noop", result.seconds)
        s.timings.setdefault("noop", []).append(report["timings"])
        s.noop_updates.append(
            sum(1 for st in report["stacks"].values() if st["action"] != "unchanged")
        )
        s.noop_cached.append(bool(report["synth_cached"]))
        s.add("check", world.annex("check-setup").seconds)
        if deep:
            result = world.annex("check-setup", "--deep", check=False)
            s.add("deep", result.seconds)
            if result.returncode != 0:
                s.deep_failures.append(result.stdout.strip().splitlines()[-1:][0])
        s.add("destroy", world.annex("destroy", "--yes", "--json").seconds)
    finally:
        world.cleanup()


def _cdk_deploy(emu: EmulatorProcess, s: Samples) -> None:
    world = _fresh(emu, synth_cache=True)
    try:
        deploy = world.cdk(*DEPLOY_ARGS)
        write = world.annex("write-config", "--json")
        if not json.loads(write.stdout)["ok"]:
            raise RuntimeError(f"write-config after cdk deploy reported problems: {write.stdout}")
        s.add("cdk_deploy", deploy.seconds)
        s.add("write_config", write.seconds)
        s.add("cdk_total", deploy.seconds + write.seconds)
    finally:
        world.cleanup()


def measure(emu: EmulatorProcess, runs: int) -> tuple[Section, dict[str, Any]]:
    deep = has_option("check-setup", "--deep")
    s = Samples()
    cases: dict[str, Callable[[], None]] = {
        "nocache": lambda: _setup_uncached(emu, s),
        "lifecycle": lambda: _setup_lifecycle(emu, s, deep=deep),
        "cdk": lambda: _cdk_deploy(emu, s),
    }
    for rep in range(runs):
        for name in rotated(list(cases), rep):
            cases[name]()
    emu.reset()

    cdk_s = s.med("cdk_total")
    fresh_nc, fresh_cold, noop = s.med("fresh_nocache"), s.med("fresh_cold"), s.med("noop")
    updates = max(s.noop_updates)
    noop_ratio = noop / fresh_cold
    baseline = "`cdk deploy --all --method=direct` + `annex-cdk write-config`"
    section = Section("3. On the emulator")
    section.rows += [
        Row(
            "3a",
            "fresh `setup`, synthesis cache disabled",
            fmt_seconds(fresh_nc),
            runs,
            baseline,
            fmt_seconds(cdk_s),
            f"{cdk_s / fresh_nc:.2f}x faster (cdk ÷ setup)",
            f"≥ {SPEEDUP_TARGET:.0f}x faster",
            cdk_s / fresh_nc >= SPEEDUP_TARGET,
        ),
        Row(
            "3b",
            "fresh `setup`, synthesis cache enabled but empty",
            fmt_seconds(fresh_cold),
            runs,
            baseline,
            fmt_seconds(cdk_s),
            f"{cdk_s / fresh_cold:.2f}x faster (cdk ÷ setup)",
            f"≥ {SPEEDUP_TARGET:.0f}x faster",
            cdk_s / fresh_cold >= SPEEDUP_TARGET,
        ),
        Row(
            "3c",
            f"no-op re-run of `setup` (cache warm): {updates} stack(s) updated",
            fmt_seconds(noop),
            runs,
            "fresh `setup` (3b)",
            fmt_seconds(fresh_cold),
            f"{noop_ratio:.0%} of fresh",
            f"≤ {NOOP_TARGET:.0%}, 0 updates",
            noop_ratio <= NOOP_TARGET and updates == 0,
        ),
        Row("3d", "`check-setup` (after setup)", fmt_seconds(s.med("check")), runs),
        Row(
            "3e",
            "`check-setup --deep`",
            fmt_seconds(s.med("deep")) if deep else "n/a (not implemented)",
            runs if deep else 0,
            "`check-setup` (3d)" if deep else NA,
            fmt_seconds(s.med("check")) if deep else NA,
            f"{s.med('deep') / s.med('check'):.2f}x (deep ÷ plain)" if deep else NA,
        ),
        Row("3f", "`destroy --yes`", fmt_seconds(s.med("destroy")), runs),
        Row(
            "3g",
            "  baseline part: `cdk deploy --all --method=direct --require-approval never`",
            fmt_seconds(s.med("cdk_deploy")),
            runs,
        ),
        Row(
            "3h",
            "  baseline part: `annex-cdk write-config`",
            fmt_seconds(s.med("write_config")),
            runs,
        ),
    ]
    phases = {
        name: {key: median([t[key] for t in rows]) for key in rows[0]}
        for name, rows in s.timings.items()
    }
    fresh = phases["fresh_cold"]
    section.notes.append(
        "Where a fresh setup's time goes (medians of the JSON `timings`, cache enabled but "
        f"empty): preflight and reads {fresh['preflight_s']:.2f} s, synthesis "
        f"{fresh['synth_s']:.2f} s, deploy {fresh['deploy_s']:.2f} s, local files "
        f"{fresh['local_s']:.2f} s; {fresh['total_s']:.2f} s inside `run_setup`, and "
        f"{fresh_cold - fresh['total_s']:.2f} s of process start-up, imports and exit around it. "
        f"No-op re-run: synthesis {phases['noop']['synth_s']:.2f} s (cached in "
        f"{sum(s.noop_cached)}/{len(s.noop_cached)} runs), deploy "
        f"{phases['noop']['deploy_s']:.2f} s, {phases['noop']['total_s']:.2f} s inside "
        "`run_setup`. Every run starts from an emptied emulator (`reset()`); the three cases "
        "take turns going first."
    )
    if deep and s.deep_failures:
        section.notes.append(
            f"`check-setup --deep` exited non-zero in {len(s.deep_failures)} run(s); last line: "
            f"{s.deep_failures[-1]!r}."
        )
    return section, {"phases": phases, "fresh_cold_s": fresh_cold, "cdk_s": cdk_s}
