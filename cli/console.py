"""Output: results on stdout (text or one JSON document), progress and messages on stderr."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


#: The version of every JSON document the commands print (README: "JSON output").
SCHEMA_VERSION = 1


@dataclass
class RunState:
    """What main() needs to report an error the way the command was asked to: as JSON on
    stdout (--json), and with which exit code (`diff --exit-code` makes every error 2)."""

    json: bool = False
    every_error_exit: int | None = None


RUN = RunState()


def start_run(*, json: bool = False) -> RunState:
    """A fresh RunState for one run of main(): a run in the same process (tests, an embedding
    program) must not inherit the previous run's --json or --exit-code."""
    global RUN
    RUN = RunState(json=json)
    return RUN


@cache
def err_console() -> Console:
    # Made on first use: importing rich's console costs start-up time `--help` need not pay.
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def info(message: str) -> None:
    err_console().print(message, markup=False)


def warn(message: str) -> None:
    err_console().print(f"[yellow]warning:[/] {escape(message)}")


def result(text: str) -> None:
    """A line of the command's result (stdout), for people; verbatim (condor_annex's tabs)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def emit_json(document: dict[str, Any], *, ok: bool | None = None) -> None:
    """One JSON document on stdout, stamped with the schema version. Every document says
    whether the command did what it was asked (`ok`, matching its exit status): from the
    document itself, or given here by a command whose report has no such key."""
    if ok is None and not isinstance(document.get("ok"), bool):
        raise TypeError("a JSON document needs `ok`")
    document = {"schema_version": SCHEMA_VERSION, **document}
    if ok is not None:
        document["ok"] = ok
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class StackProgress:
    """Per-stack progress lines on stderr, from the engine's worker threads."""

    def __init__(self, *, verbose: bool = False) -> None:
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._verbose = verbose

    def __call__(self, stack: str, status: str, detail: str) -> None:
        final = not status.endswith("_IN_PROGRESS") or detail in {
            "creating",
            "updating",
            "deleting",
        }
        failed = "FAILED" in status or "ROLLBACK" in status
        # Resource-level events are noise unless they fail or the user asked for them.
        if not (final or failed or self._verbose):
            return
        colour = "red" if failed else ("green" if status.endswith("_COMPLETE") else "cyan")
        stamp = f"{time.monotonic() - self._start:6.1f}s"
        with self._lock:
            err_console().print(
                f"[dim]{stamp}[/] {escape(stack)} [{colour}]{escape(status)}[/] {escape(detail)}"
            )
