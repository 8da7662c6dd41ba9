"""The one results table, and RESULTS.md around it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
NA = "—"


@dataclass
class Row:
    """One line of the table: a median, what it is compared with, and the target if any."""

    key: str
    measurement: str
    value: str
    runs: int
    baseline: str = NA
    baseline_value: str = NA
    ratio: str = NA
    target: str = NA
    passed: bool | None = None
    #: A measurement of a proposed product change (emulated by a switch): it counts for nothing.
    what_if: bool = False

    @property
    def result(self) -> str:
        if self.passed is None:
            return NA
        verdict = "PASS" if self.passed else "FAIL"
        return f"would {verdict}" if self.what_if else verdict


@dataclass
class Section:
    """What one benchmark module hands back: its rows and its notes (profiles, caveats)."""

    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


HEADERS = (
    "#",
    "Measurement",
    "annex-cdk (median)",
    "Runs",
    "Compared with",
    "Baseline (median)",
    "Ratio",
    "Target",
    "Result",
)


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def render(sections: Sequence[Section]) -> str:
    """A Markdown table: readable on a terminal and on GitHub alike."""
    rows = [
        (
            r.key,
            r.measurement,
            r.value,
            str(r.runs),
            r.baseline,
            r.baseline_value,
            r.ratio,
            r.target,
            r.result,
        )
        for s in sections
        for r in s.rows
    ]
    cells = [tuple(_escape(c) for c in row) for row in [HEADERS, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(row) for row in cells[1:])
    return "\n".join(out)


def summary(sections: Sequence[Section]) -> list[str]:
    """One line per row with a target: its figures, ratio and verdict (what-ifs marked)."""
    lines = []
    for section in sections:
        for r in section.rows:
            if r.passed is None:
                continue
            line = f"- {r.key} {r.measurement.strip()}: {r.value}"
            if r.baseline_value != NA:
                line += f" vs {r.baseline_value}"
            if r.ratio != NA:
                line += f", {r.ratio}"
            lines.append(f"{line} (target {r.target}): **{r.result}**")
    return lines


def write_results(
    sections: Sequence[Section],
    machine: Sequence[tuple[str, str]],
    *,
    mode: str,
    wall_seconds: float,
    path: Path = RESULTS,
) -> Path:
    parts = [
        "# annex-cdk benchmarks",
        "",
        f"Written by `python -m benchmarks{' --quick' if mode == 'quick' else ''}` "
        f"({mode} run, {wall_seconds:.0f} s in all). Each figure is the median of the runs "
        "shown; each ratio compares medians measured side by side, interleaved, in this one "
        "run. Absolute times are context only: this machine is shared and noisy.",
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in machine),
        "",
        "## Results",
        "",
        render(sections),
        "",
        "## Targets",
        "",
        *summary(sections),
        "",
        "## Notes",
        "",
    ]
    for section in sections:
        if section.notes:
            parts += [f"### {section.title}", ""]
            for note in section.notes:
                parts += [note, ""]
    path.write_text("\n".join(parts).rstrip() + "\n")
    return path
