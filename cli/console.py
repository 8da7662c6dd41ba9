"""Output: results on stdout (text or one JSON document), progress and messages on stderr."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from annex_cdk.text import printable_lines, redact_document

if TYPE_CHECKING:
    from rich.console import Console


#: The version of every JSON document the commands print (README: "JSON output").
SCHEMA_VERSION = 1


@cache
def err_console() -> Console:
    # Made on first use: importing rich's console costs start-up time `--help` need not pay.
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def info(message: str) -> None:
    err_console().print(printable_lines(message), markup=False)


def warn(message: str) -> None:
    err_console().print(f"[yellow]warning:[/] {escape(message)}")


def result(text: str) -> None:
    """A line of the command's result (stdout), for people; verbatim (condor_annex's tabs)
    but for terminal controls and URL credentials."""
    sys.stdout.write(printable_lines(text) + "\n")
    sys.stdout.flush()


def emit_json(document: dict[str, Any], *, ok: bool | None = None) -> None:
    """One JSON document on stdout, stamped with the schema version. Every document says
    whether the command did what it was asked (`ok`, matching its exit status): from the
    document itself, or given here by a command whose report has no such key."""
    if ok is None and not isinstance(document.get("ok"), bool):
        raise TypeError("a JSON document needs `ok`")
    document = {"schema_version": SCHEMA_VERSION, **redact_document(document)}
    if ok is not None:
        document["ok"] = ok
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def escape(text: str) -> str:
    """``text`` for a rich markup string: no markup, no terminal controls, no URL credentials."""
    from rich.markup import escape as rich_escape

    return rich_escape(printable_lines(text))


@dataclass(frozen=True)
class ResourceEvent:
    """One resource event of the current operation on a stack, as CDK prints it."""

    stack: str
    done: int  # resources of this operation that reached an end state (CDK's n)
    total: int  # resources in the template being deployed, or deleted (CDK's N)
    timestamp: datetime | None
    status: str
    resource_type: str
    logical_id: str
    reason: str

    def line(self, *, verbose: bool) -> str:
        """`stack | n/N | time | status | type | logical id` (+ the reason with -v; a
        failure's reason always)."""
        stamp = self.timestamp.astimezone().strftime("%H:%M:%S") if self.timestamp else "--:--:--"
        width = len(str(self.total))
        text = (
            f"{self.stack} | {self.done:>{width}}/{self.total} | {stamp} | {self.status:<20} | "
            f"{self.resource_type} | {self.logical_id}"
        )
        if self.reason and (verbose or self.status.endswith("_FAILED")):
            text += f" ({self.reason})"
        return text


class StackProgress:
    """Progress on stderr, from the engine's worker threads: a line per stack step and per
    resource event; on a terminal, a live summary per stack below them (`with` it)."""

    def __init__(self, *, verbose: bool = False) -> None:
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._verbose = verbose
        self._summary: dict[str, str] = {}
        self._live: Any = None
        self._may_go_live = False

    def __enter__(self) -> StackProgress:
        self._may_go_live = err_console().is_terminal
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._may_go_live = False
            if self._live is not None:
                self._live.stop()
                self._live = None

    def _render(self) -> Any:
        from rich.text import Text

        return Text("\n".join(f"{s}: {line}" for s, line in sorted(self._summary.items())))

    def _show(self, stack: str, line: str, summary: str) -> None:
        with self._lock:
            err_console().print(line)  # above the live summary while it runs
            self._summary[stack] = summary
            if self._live is None and self._may_go_live:
                # Started by the first line, not before: a question (destroy's, a
                # replacement's) must not share the terminal with a redrawing summary.
                from rich.live import Live

                self._live = Live(console=err_console(), transient=True, refresh_per_second=4)
                self._live.start()
            if self._live is not None:
                self._live.update(self._render())

    def resource(self, event: ResourceEvent) -> None:
        failed = event.status.endswith("_FAILED")
        colour = "red" if failed else ("green" if event.status.endswith("_COMPLETE") else "cyan")
        line = event.line(verbose=self._verbose)
        elapsed = time.monotonic() - self._start
        self._show(
            event.stack,
            f"[{colour}]{escape(line)}[/]",
            f"{event.done}/{event.total} {event.status} {event.logical_id} ({elapsed:.0f} s)",
        )

    def __call__(self, stack: str, status: str, detail: str) -> None:
        failed = "FAILED" in status or "ROLLBACK" in status
        colour = "red" if failed else ("green" if status.endswith("_COMPLETE") else "cyan")
        stamp = f"{time.monotonic() - self._start:6.1f}s"
        self._show(
            stack,
            f"[dim]{stamp}[/] {escape(stack)} [{colour}]{escape(status)}[/] {escape(detail)}",
            f"{status} {detail}".strip(),
        )


class RegionProgress:
    """Several regions at once on one StackProgress: every line names its region, and the live
    summary is one table, a row per region and a column per stack (`for_region` hands each
    region's engine its own progress)."""

    def __init__(self, progress: StackProgress, regions: list[str]) -> None:
        self._progress = progress
        self._regions = regions
        self._cells: dict[tuple[str, str], str] = {}
        self._state: dict[str, str] = {}
        progress._render = self._render  # type: ignore[method-assign]  # one table for all regions

    def for_region(self, region: str) -> RegionView:
        return RegionView(self, region)

    def region_state(self, region: str, state: str) -> None:
        """A region's own line (locked, synthesizing, done, failed: reason)."""
        self._state[region] = state
        self._progress(region, "", state)

    def _cell(self, region: str, stack: str, summary: str) -> None:
        self._cells[(region, stack)] = summary

    def _render(self) -> Any:
        from rich.table import Table

        stacks = list(dict.fromkeys(stack for _, stack in self._cells))
        table = Table(box=None, pad_edge=False)
        table.add_column("region")
        for stack in stacks:
            table.add_column(stack.removeprefix("HTCondorAnnex-"))
        table.add_column("")
        for region in self._regions:
            cells = [self._cells.get((region, stack), "") for stack in stacks]
            table.add_row(region, *cells, self._state.get(region, ""))
        return table


class RegionView:
    """One region's progress: StackProgress's interface, its lines prefixed with the region."""

    def __init__(self, board: RegionProgress, region: str) -> None:
        self._board = board
        self._region = region

    def resource(self, event: ResourceEvent) -> None:
        self._board._cell(self._region, event.stack, f"{event.done}/{event.total} {event.status}")
        self._board._progress.resource(
            ResourceEvent(
                f"{self._region} {event.stack}",
                event.done,
                event.total,
                event.timestamp,
                event.status,
                event.resource_type,
                event.logical_id,
                event.reason,
            )
        )

    def __call__(self, stack: str, status: str, detail: str) -> None:
        self._board._cell(self._region, stack, status or detail)
        self._board._progress(f"{self._region} {stack}", status, detail)
