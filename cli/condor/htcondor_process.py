"""HTCondor's parser in child processes that stay up for more than one question.

HTCondor reads its config when htcondor2 is imported and exits the process on a config error,
so it never runs in annex-cdk's own process. A child answers one question per line on its
stdin: the environment and directory to read in, and a payload for ``htcondor2`` (see
``parser.CHILD``). Starting an interpreter and importing htcondor2 costs most of a question
(about 80 ms of CPU against a few ms for a reload), and a command asks several: a child is
kept for the next question until this process ends or HTCondor exits it on a config error.
Each question sets the whole environment and reloads the config from scratch (HTCondor's
reload clears its table first), so an answer does not depend on what was asked before.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

#: A child's exit status when htcondor2 cannot be imported.
EXIT_NO_BINDINGS = 3
#: A child's exit status when the payload failed in Python (HTCondor's own is 1).
EXIT_FAILED = 4

# The loop around the payload's `answer(payload)`: one JSON question per line in, one JSON
# answer per line out. A failure in Python ends the child like HTCondor's own exit does, so
# the parent reads both the same way: the status and what went to stderr.
_LOOP = r"""
import json, os, signal, sys
# Ctrl-C is the parent's to handle; the child ends when its stdin closes.
signal.signal(signal.SIGINT, signal.SIG_IGN)
try:
    import htcondor2
except ImportError as exc:
    sys.stderr.write(f"cannot import htcondor2: {exc}\n")
    sys.exit(%(no_bindings)d)
%(answer)s
for line in sys.stdin:
    question = json.loads(line)
    os.environ.clear()
    os.environ.update(question["env"])
    os.chdir(question["cwd"])
    try:
        result = answer(question["payload"])
    except Exception as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        os._exit(%(failed)d)
    os.chdir("/")
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
"""


@dataclass(frozen=True)
class Answer:
    """What a child made of one question: its result, or how it ended and what it said."""

    returncode: int  # 0 while the child lives on
    result: Any
    stderr: str


class ChildTimeoutError(Exception):
    """A child did not answer in time (it has been killed)."""


class _Child:
    def __init__(self, python: str, answer_code: str, env: Mapping[str, str]) -> None:
        self.key = (python, answer_code)
        # Kept open for the child's life (closed in close()), so not a `with` block.
        self._stderr: IO[bytes] = tempfile.TemporaryFile(prefix="annex-cdk-condor-")  # noqa: SIM115
        script = _LOOP % {
            "answer": answer_code,
            "no_bindings": EXIT_NO_BINDINGS,
            "failed": EXIT_FAILED,
        }
        try:
            self._proc = subprocess.Popen(
                [python, "-I", "-c", script],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=dict(env),
                cwd="/",
            )
        except OSError:
            self._stderr.close()
            raise
        self._pending = b""
        self._said = 0  # how much of its stderr earlier answers account for

    def alive(self) -> bool:
        return self._proc.poll() is None

    def ask(self, question: dict[str, Any], timeout: float) -> Answer:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(json.dumps(question).encode() + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # it has ended (e.g. htcondor2 is missing): its status says why
        line = self._read_line(timeout)
        if line is not None:
            # What HTCondor says while reading a good config (warnings) is not kept.
            self._said = self._stderr.seek(0, os.SEEK_END)
            return Answer(0, json.loads(line), "")
        returncode = self._proc.wait()
        self._stderr.seek(self._said)
        stderr = self._stderr.read().decode("utf-8", "replace")
        self.close()
        return Answer(returncode if returncode != 0 else EXIT_FAILED, None, stderr)

    def _read_line(self, timeout: float) -> bytes | None:
        """The next line of its stdout; None once it has ended."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._pending:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.close()
                    raise ChildTimeoutError
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line

    def close(self) -> None:
        """End it and forget it. Killed, not asked to go: between questions it holds nothing
        (it only reads config), and its own shutdown (tens of ms) would hold up our exit."""
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._stderr.close()


class _Pool:
    """One child for this process, kept between questions.

    Questions from several threads wait for each other: an answer takes a few ms once the
    child is up, and a second child would cost as long to start as waiting for the first.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._pid = os.getpid()

    def ask(
        self,
        python: str,
        answer_code: str,
        payload: object,
        *,
        env: Mapping[str, str],
        cwd: Path,
        timeout: float,
    ) -> Answer:
        question = {"env": dict(env), "cwd": str(cwd), "payload": payload}
        with self._lock:
            if self._pid != os.getpid():  # a fork's child is its parent's to use
                self._child, self._pid = None, os.getpid()
            child = self._child
            if child is None or child.key != (python, answer_code) or not child.alive():
                if child is not None:
                    child.close()
                self._child = None
                # The import reads this config: none, so a broken one is the question's.
                child = _Child(python, answer_code, {**env, "CONDOR_CONFIG": os.devnull})
            try:
                answer = child.ask(question, timeout)
            except BaseException:
                child.close()  # interrupted between question and answer: out of step
                raise
            self._child = child if answer.returncode == 0 else None
            return answer

    def close(self) -> None:
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            child.close()


_POOL = _Pool()
atexit.register(_POOL.close)
#: Ask a child running ``python`` with ``answer_code`` (defining ``answer(payload)``). Raises
#: OSError when ``python`` cannot be started, ChildTimeoutError after ``timeout`` s.
ask = _POOL.ask
