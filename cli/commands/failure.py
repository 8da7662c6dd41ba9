"""How a failed command reports itself: one line (or one JSON document), an exit code, a log.

An unexpected error names the command, the stack and the AWS call in its one line; its full
traceback goes to a rotated log file under the user's state directory, whose path the line
gives. With --json the same facts are one JSON error document on stdout.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import typer

from annex_cdk import console
from annex_cdk.errors import where
from annex_cdk.text import redact

LOG_NAME = "annex-cdk.log"
_LOG_BYTES = 1_000_000
_LOG_BACKUPS = 3


@dataclass
class ErrorPolicy:
    """How main() reports a failed run: also as one JSON document on stdout (--json), as a
    plain traceback (--debug), and with which exit code (`diff --exit-code` makes every error
    2). main() makes one per run and hands it to the commands as Typer's context object, so a
    run in the same process (tests, an embedding program) never inherits another's."""

    json: bool = False
    debug: bool = False
    every_error_exit: int | None = None

    def exit_code(self, code: int) -> int:
        return self.every_error_exit if self.every_error_exit is not None else code


def error_policy(ctx: typer.Context) -> ErrorPolicy:
    """This run's policy (a fresh one where the app runs without main(), as in CliRunner)."""
    return ctx.ensure_object(ErrorPolicy)


def state_dir() -> Path:
    """$XDG_STATE_HOME/annex-cdk, else ~/.local/state/annex-cdk (the XDG default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "annex-cdk"


def show_traceback(err: BaseException) -> None:
    """--debug: the traceback on stderr, before the error is reported as without it (the
    exit code and the JSON document never depend on --debug: CI gates read them)."""
    sys.stderr.write(redact("".join(traceback.format_exception(err))))
    sys.stderr.flush()


def log_traceback(command: str, err: BaseException) -> Path | None:
    """Append the traceback to the rotated log (0600: it may name files and accounts)."""
    # logging.handlers (and the socket module it pulls) only on this rare path: every start-up,
    # --help and completion included, imports this module.
    import logging
    from logging.handlers import RotatingFileHandler

    path = state_dir() / LOG_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600, exist_ok=True)
        handler = RotatingFileHandler(
            path, maxBytes=_LOG_BYTES, backupCount=_LOG_BACKUPS, encoding="utf-8"
        )
    except OSError:
        return None  # a read-only HOME must not hide the error itself
    logger = logging.getLogger("annex_cdk.failures")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        text = redact("".join(traceback.format_exception(err)))
        logger.error("annex-cdk %s: unexpected error\n%s", command, text.rstrip())
    finally:
        logger.removeHandler(handler)
        handler.close()
    return path


def command_name(argv: list[str]) -> str:
    """The (sub)command the user ran, from argv: `setup`, `condor configure`."""
    words = [a for a in argv if not a.startswith("-")]
    return " ".join(words[:2] if words[:1] == ["condor"] else words[:1]) or "annex-cdk"


def unexpected_line(command: str, err: BaseException, detail: str) -> str:
    """`setup: HTCondorAnnex-KeyPair: during cloudformation GetTemplate: ValueError: ...`."""
    stack, call = where(err)
    parts = [command, stack, f"during {call}" if call else None, detail]
    return ": ".join(p for p in parts if p)


def report(
    *,
    message: str,
    exit_code: int,
    hint: str | None,
    kind: str,
    json: bool,
    log: Path | None = None,
) -> None:
    """The error on stderr, and with `json` (--json) also as a JSON document on stdout."""
    if json:
        document: dict[str, object] = {
            "ok": False,
            "error": {"kind": kind, "message": message, "exit_code": exit_code, "hint": hint},
        }
        if log is not None:
            document["error"] = {**document["error"], "log": str(log)}  # type: ignore[dict-item]  # the error document's error entry is a dict of str
        console.emit_json(document)  # and the same line on stderr, for people and logs
    prefix = "annex-cdk: unexpected error:" if kind == "unexpected" else "annex-cdk:"
    console.err_console().print(f"[red]{prefix}[/] {console.escape(message)}")
    if hint:
        console.err_console().print(f"  [dim]hint:[/] {console.escape(hint)}")


def argv() -> list[str]:
    return sys.argv[1:]
