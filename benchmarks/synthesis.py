"""Section 2: in-process synthesis (a fresh process each run: jsii starts cold) vs `cdk synth`."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from benchmarks.measure import (
    ROOT,
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


def measure(runs: int) -> Section:
    env = base_env()
    script = _SCRIPT.format(allow=ALLOW, region=REGION)
    inner: list[dict[str, float]] = []
    walls: dict[str, list[float]] = {"annex": [], "cdk": []}
    rss: dict[str, list[int]] = {"annex": [], "cdk": []}
    with tempfile.TemporaryDirectory(prefix="annex-bench-synth-") as tmp:
        out = Path(tmp)

        def annex() -> None:
            result = run(
                [sys.executable, "-c", script, str(out / "annex")], env=env, sample_rss=True
            ).check("in-process synth")
            inner.append(json.loads(result.stdout.strip().splitlines()[-1]))
            walls["annex"].append(result.seconds)
            rss["annex"].append(result.peak_rss or 0)

        def cdk() -> None:
            command = [cdk_cli(), "synth", "-q", "--no-notices", "-o", str(out / "cdk")]
            result = run([*command, *CDK_CONTEXT], env=env, cwd=ROOT, sample_rss=True)
            result.check("cdk synth")
            walls["cdk"].append(result.seconds)
            rss["cdk"].append(result.peak_rss or 0)

        cases = {"annex": annex, "cdk": cdk}
        for rep in range(runs):
            for name in rotated(list(cases), rep):
                cases[name]()
    annex_s, cdk_s = median(walls["annex"]), median(walls["cdk"])
    annex_rss, cdk_rss = median(rss["annex"]), median(rss["cdk"])
    synth_s = median([i["synth_s"] for i in inner])
    python_rss = median([i["python_maxrss"] for i in inner])
    stacks = int(inner[0]["stacks"])
    section = Section("2. Synthesis")
    section.rows += [
        Row(
            "2a",
            f"in-process synth of {stacks} stacks, fresh process (cold jsii), wall",
            fmt_seconds(annex_s),
            runs,
            "`cdk synth` (same app and settings)",
            fmt_seconds(cdk_s),
            f"{cdk_s / annex_s:.2f}x faster (cdk ÷ in-process)",
        ),
        Row(
            "2b",
            "  of which `synth()` itself (import aws_cdk + build + synth)",
            fmt_seconds(synth_s),
            runs,
        ),
        Row(
            "2c",
            "in-process synth peak RSS (Python + jsii's Node)",
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
        "Peak RSS is the sum over the process tree (Python and the Node process jsii starts), "
        f"sampled from /proc every 20 ms; the Python process alone peaked at "
        f"{fmt_bytes(python_rss)} (getrusage). The in-process wall time includes interpreter "
        "start-up and writing the cloud assembly, as `cdk synth`'s does."
    )
    return section
