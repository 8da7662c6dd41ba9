"""CLI runs forked from an interpreter that has already imported annex-cdk.

An e2e test runs the CLI hundreds of times, and a run spends about half of its CPU importing
Typer, botocore and our use cases before it does anything. A zygote (one per test process) is
an interpreter that imports them once and then forks a child per run; the child takes the run's
argv, environment, working directory and standard streams and calls the console script's entry
point (`run`), which leaves the process as the command does. It is a process of its own, with
its own pid, exit status and signals.

What a fork cannot give is the interpreter's start-up: its imports, and what Python reads from
the environment when it starts (the PYTHON* variables, the locale that picks the streams'
encoding). A run whose environment differs from the zygote's in any of those, a run with a
prefix (setpriv, env -i), and every run while ANNEX_TEST_FRESH_PROCESSES is set start a fresh
interpreter as before; tests/unit/test_startup.py and tests/e2e/test_cli_zygote.py start fresh
ones on purpose. The zygote itself is single-threaded, so forking it is safe.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import json
import locale
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from annex_cdk.commands.leave import exit_steps, status

#: What a run imports anyway (the command modules import their use cases when they run).
PRELOAD = (
    "annex_cdk.commands.app",
    "annex_cdk.ops.setup",
    "annex_cdk.ops.check",
    "annex_cdk.ops.deep_check",
    "annex_cdk.ops.destroy",
    "annex_cdk.ops.write_config",
    "annex_cdk.templates.diff",
    "botocore.session",
    "botocore.client",
    "botocore.config",
    "botocore.credentials",
    "botocore.endpoint",
    "botocore.parsers",
)
#: Read by the interpreter (or by an import) when it starts: a run that sets them differently
#: needs a fresh one.
STARTUP_ENV = re.compile(r"PYTHON.*|LANG|LANGUAGE|LC_.*|_?TYPER_.*")
#: Set (to anything) to start every run in a fresh interpreter.
FRESH_ENV = "ANNEX_TEST_FRESH_PROCESSES"
_MESSAGE = 1 << 20


def serve(sock: socket.socket) -> None:
    """The zygote: import, then fork one child per request until the socket closes."""
    for module in PRELOAD:
        importlib.import_module(module)
    from annex_cdk.commands.app import run

    while True:
        message, fds, _, _ = socket.recv_fds(sock, _MESSAGE, 3)
        if not message:
            return
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            sock.close()
            os._exit(_child(request, fds, run))
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())
        _, status = os.waitpid(pid, 0)
        sock.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())


def _child(request: dict[str, Any], fds: list[int], command: Any) -> int:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    sys.path[0] = str(Path(sys.argv[0]).parent)  # as the console script's interpreter has it
    # SIGINT is as the zygote's interpreter set it up, inheriting what a fresh one would.
    try:
        command()  # the console script's entry point: it leaves the process itself
        code = 0
    except SystemExit as stop:  # its exit steps failed: the interpreter's exit, as fresh
        code = status(stop.code)
    except BaseException:
        sys.excepthook(*sys.exc_info())  # as the interpreter: the traceback, then exit 1
        code = 1
    with contextlib.suppress(BaseException):
        exit_steps()
    return code


class Zygote:
    """The test process's side: starts the zygote at first use, one run at a time."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._env: dict[str, str] = {}
        self._lock = threading.Lock()
        #: How the last run's process ended (as Popen.returncode: -9 for SIGKILL).
        self.last_exit: int | None = None
        atexit.register(self.stop)

    def suits(self, env: Mapping[str, str]) -> bool:
        """Whether a forked run sees what a fresh interpreter with `env` would."""
        if os.environ.get(FRESH_ENV):
            return False
        start = self._env or dict(os.environ)  # the zygote's, or the one it will start with
        return not any(
            STARTUP_ENV.fullmatch(k) and env.get(k) != start.get(k) for k in set(env) | set(start)
        )

    def run(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float
    ) -> subprocess.CompletedProcess[str] | None:
        """The run's result, or None when the zygote is busy (another thread's run)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self._run(argv, env=env, cwd=cwd, timeout=timeout)
        except BaseException:
            self.stop()  # cut off mid-run (a test's timeout, Ctrl-C): the next run starts anew
            raise
        finally:
            self._lock.release()

    def _run(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        sock = self._started()
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            open(os.devnull, "rb") as stdin,
        ):
            request = {"argv": list(argv), "env": dict(env), "cwd": str(cwd)}
            streams = [stdin.fileno(), out.fileno(), err.fileno()]
            socket.send_fds(sock, [json.dumps(request).encode()], streams)
            pid = json.loads(sock.recv(_MESSAGE))["pid"]
            sock.settimeout(timeout)
            try:
                code = json.loads(sock.recv(_MESSAGE))["exit"]
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)  # as subprocess.run does on its timeout
                sock.settimeout(None)
                self.last_exit = json.loads(sock.recv(_MESSAGE))["exit"]
                raise subprocess.TimeoutExpired(
                    list(argv), timeout, output=_text(out), stderr=_text(err)
                ) from None
            finally:
                sock.settimeout(None)
            self.last_exit = code
            return subprocess.CompletedProcess(list(argv), code, _text(out), _text(err))

    def _started(self) -> socket.socket:
        if self._sock is not None and self._process is not None and self._process.poll() is None:
            return self._sock
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._env = dict(os.environ)
        self._process = subprocess.Popen(
            [sys.executable, __file__, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            cwd=Path(__file__).parent,
        )
        theirs.close()
        self._sock = ours
        return ours

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()  # the zygote's loop ends
            self._sock = None
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)
            if self._process.poll() is None:
                self._process.kill()
            self._process = None


def _text(stream: Any) -> str:
    """As subprocess.run(text=True) reads a stream: the locale's encoding, newlines made \\n."""
    stream.seek(0)
    return io.TextIOWrapper(
        io.BytesIO(stream.read()), encoding=locale.getpreferredencoding(False)
    ).read()


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
