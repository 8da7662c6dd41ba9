"""Section 2: in-process synthesis (a fresh process each run: jsii starts cold) vs `cdk synth`."""

from __future__ import annotations

import inspect
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.measure import (
    ROOT,
    Run,
    base_env,
    cdk_cli,
    fmt_bytes,
    fmt_seconds,
    median,
    rotated,
    run,
)
from benchmarks.table import Row, Section
from benchmarks.world import ALLOW, CDK_CONTEXT, REGION

RSS_TARGET = 600 * 2**20

#: What `annex-cdk setup --allow-from ALLOW` synthesizes, timed from inside the process.
_SCRIPT = """
import json, resource, sys, time
t0 = time.perf_counter()
from annex_stacks import AnnexSettings, synth
settings = AnnexSettings.from_context(
    {{}}, allowed_cidrs=({allow!r},), region={region!r}, account="123456789012"
)
t1 = time.perf_counter()
result = synth(settings, outdir=sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({{
    "stacks": len(result.templates),
    "synth_s": t2 - t1,
    "inner_s": t2 - t0,
    "python_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}}))
"""


#: Switches off aws-cdk-lib's built-in CloudFormation validation, exactly as
#: `cdk.App(builtin_cloud_formation_validation=False)` would (aws-cdk-lib checks both).
NO_VALIDATION = {"CDK_VALIDATION": "false"}


def builtin_validation_on() -> bool:
    """Whether the product's App still runs aws-cdk-lib's built-in CloudFormation validation
    (if not, the what-if rows that switch it off measure nothing new and are left out)."""
    import annex_stacks.facade

    return "builtin_cloud_formation_validation=False" not in inspect.getsource(annex_stacks.facade)


@dataclass
class _Samples:
    wall: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    largest: list[int] = field(default_factory=list)
    inner: list[dict[str, float]] = field(default_factory=list)

    def add(self, result: Run) -> None:
        self.wall.append(result.seconds)
        self.rss.append(result.peak_rss or 0)
        self.largest.append(result.largest_rss or 0)


def measure(runs: int) -> Section:
    env = base_env()
    script = _SCRIPT.format(allow=ALLOW, region=REGION)
    what_if = builtin_validation_on()
    samples = {name: _Samples() for name in ("annex", "cdk", "fix")}
    with tempfile.TemporaryDirectory(prefix="annex-bench-synth-") as tmp:
        out = Path(tmp)

        def in_process(name: str, extra: dict[str, str]) -> None:
            command = [sys.executable, "-c", script, str(out / name)]
            result = run(command, env={**env, **extra}, sample_rss=True)
            result.check("in-process synth")
            samples[name].add(result)
            samples[name].inner.append(json.loads(result.stdout.strip().splitlines()[-1]))

        def cdk() -> None:
            command = [cdk_cli(), "synth", "-q", "--no-notices", "-o", str(out / "cdk")]
            result = run([*command, *CDK_CONTEXT], env=env, cwd=ROOT, sample_rss=True)
            samples["cdk"].add(result.check("cdk synth"))

        cases: dict[str, Callable[[], None]] = {
            "annex": lambda: in_process("annex", {}),
            "cdk": cdk,
        }
        if what_if:
            cases["fix"] = lambda: in_process("fix", NO_VALIDATION)
        for rep in range(runs):
            for name in rotated(list(cases), rep):
                cases[name]()
    annex, cdk_s = samples["annex"], samples["cdk"]
    annex_s, cdk_wall = median(annex.wall), median(cdk_s.wall)
    annex_rss, cdk_rss = median(annex.rss), median(cdk_s.rss)
    synth_s = median([i["synth_s"] for i in annex.inner])
    python_rss = median([i["python_maxrss"] for i in annex.inner])
    stacks = int(annex.inner[0]["stacks"])
    section = Section("2. Synthesis")
    section.rows += [
        Row(
            "2a",
            f"in-process synth of {stacks} stacks, fresh process (cold jsii), wall",
            fmt_seconds(annex_s),
            runs,
            "`cdk synth` (same app and settings)",
            fmt_seconds(cdk_wall),
            f"{cdk_wall / annex_s:.2f}x faster (cdk ÷ in-process)",
        ),
        Row(
            "2b",
            "  of which `synth()` itself (import aws_cdk + build + synth)",
            fmt_seconds(synth_s),
            runs,
        ),
        Row(
            "2c",
            "in-process synth peak RSS (Python + jsii's two Node processes)",
            fmt_bytes(annex_rss),
            runs,
            "`cdk synth` peak RSS (whole tree)",
            fmt_bytes(cdk_rss),
            f"{annex_rss / cdk_rss:.2f}x (in-process ÷ cdk)",
            f"≤ {fmt_bytes(RSS_TARGET)}",
            annex_rss <= RSS_TARGET,
        ),
    ]
    section.notes.append(
        "Peak RSS is the sum over the process tree (Python, jsii's `jsii-runtime.js` and the "
        "Node kernel it starts), sampled from /proc every 25 ms: what the machine must have free. "
        f"The largest single process (what `getrusage(RUSAGE_CHILDREN)` would report) peaked at "
        f"{fmt_bytes(median(annex.largest))}, the Python process alone at "
        f"{fmt_bytes(python_rss)}. The in-process wall time includes interpreter start-up and "
        "writing the cloud assembly, as `cdk synth`'s does. "
        + (
            "aws-cdk-lib's built-in CloudFormation validation is on in the product's App."
            if what_if
            else "The product's App has aws-cdk-lib's built-in CloudFormation validation off "
            "(`builtin_cloud_formation_validation=False`), for `cdk synth` as well."
        )
    )
    if what_if:
        fix = samples["fix"]
        fix_s, fix_rss = median(fix.wall), median(fix.rss)
        label = "what-if: built-in CloudFormation validation off (`CDK_VALIDATION=false`)"
        section.rows += [
            Row(
                "2d",
                f"{label}: in-process synth, wall",
                fmt_seconds(fix_s),
                runs,
                "`cdk synth` (2a)",
                fmt_seconds(cdk_wall),
                f"{cdk_wall / fix_s:.2f}x faster (cdk ÷ in-process)",
                what_if=True,
            ),
            Row(
                "2e",
                f"{label}: in-process synth peak RSS",
                fmt_bytes(fix_rss),
                runs,
                "in-process synth (2c)",
                fmt_bytes(annex_rss),
                f"{fix_rss / annex_rss:.2f}x (what-if ÷ now)",
                f"≤ {fmt_bytes(RSS_TARGET)}",
                fix_rss <= RSS_TARGET,
                what_if=True,
            ),
        ]
        section.notes.append(
            "Where synthesis goes (a Node CPU profile of the jsii kernel, `--cpu-prof`, taken "
            "while writing these benchmarks): about 2.7 s of a 3 s `app.synth()` call is "
            "aws-cdk-lib's built-in `CloudFormationValidatePlugin` (`validateTemplates` → "
            "`WasmCompositeEngine`), which compiles and runs a WebAssembly rule engine over "
            "every template. aws-cdk-lib 2.275.0 turns it on by default, downgrades its findings "
            "to warnings unless the app opts in, and writes them only to the assembly's "
            "validation report, which annex-cdk never reads. cdk-nag (a plugin the app "
            "registers itself) is unaffected by switching it off, and the templates and "
            f"warnings come out byte-identical. Rows 2d/2e measure it switched off: synthesis "
            f"{annex_s / fix_s:.1f}x faster and {fmt_bytes(annex_rss - fix_rss)} smaller "
            "in this run. The Node kernel's memory does not shrink with V8 flags instead "
            "(a 300 MB old-space cap left the peak where it was and tripled the time). "
            "Proposed fix: create the App with `builtin_cloud_formation_validation=False` in "
            "`annex_stacks/facade.py`."
        )
    elif annex_rss > RSS_TARGET:
        section.notes.append(
            "Peak RSS is over its target although the built-in validation is off: profile the "
            "Node kernel (`JSII_NODE` pointing at a `node --cpu-prof --heap-prof` wrapper)."
        )
    return section
