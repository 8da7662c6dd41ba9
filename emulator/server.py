"""The local AWS emulator: moto's server, taught by `annex_emulator.teach`, on loopback only.

annex-cdk's default target when no AWS account is at hand. Three ways in:

- `run()` serves in the foreground of the current process (it prints nothing itself);
- ``python -m annex_emulator.server --port P [--ready-file F]`` does the same and reports the port it
  bound (stdout, and atomically the ready file) once it is listening;
- `EmulatorProcess` starts that module as a subprocess on a free port, waits until it answers,
  and hands out its endpoint, the variables that point a client at it (`env()`) and a whole
  environment for a child process (`environ()`).

This module imports neither moto nor boto3 at import time: the CLI imports it on every run, and
moto takes seconds to import. Only `run()` (the server side) imports moto, and it listens before
the heavy part is loaded: AWS requests that arrive early wait for it (see `_LoadingGate`).

Every ARN the emulator hands out carries moto's fixed account id, `moto.core.DEFAULT_ACCOUNT_ID`.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

from annex_emulator import calls as emulator_calls
from annex_emulator import clock, lambda_runtime, price_list
from annex_emulator import faults as emulator_faults
from annex_emulator import latency as emulator_latency
from annex_emulator.credentials import (
    ACCESS_KEY_ID,
    KEY_FILE_ACCESS_KEY_ID,
    KEY_FILE_SECRET_ACCESS_KEY,
    SECRET_ACCESS_KEY,
)
from annex_emulator.governed_account import Posture, configure
from annex_emulator.latency import describe
from annex_emulator.moto_contract import MotoContractError

__all__ = [
    "ACCESS_KEY_ID",
    "DEFAULT_REGION",
    "HEALTH_PATH",
    "KEY_FILE_ACCESS_KEY_ID",
    "KEY_FILE_SECRET_ACCESS_KEY",
    "SECRET_ACCESS_KEY",
    "AccountPolicy",
    "EmulatorError",
    "EmulatorProcess",
    "Posture",
    "is_cleared",
    "main",
    "run",
    "serve_foreground",
]

DEFAULT_REGION = "us-east-1"

#: Variables that would send a child's AWS calls elsewhere or use real credentials.
CLEARED_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
#: Service-specific endpoint variables (AWS_ENDPOINT_URL_S3, ...) override the global one.
_CLEARED_PREFIX = "AWS_ENDPOINT_URL_"


def is_cleared(name: str) -> bool:
    """Whether a child process that must use the emulator should not inherit `name`."""
    return name in CLEARED_VARIABLES or name.startswith(_CLEARED_PREFIX)


#: Answered by the emulator itself as soon as it listens: {"moto": "loading"|"ready"|"failed"}.
HEALTH_PATH = "/annex-emulator/health"
#: moto's own control endpoints (reset, ...): not AWS calls, never delayed or counted.
_MOTO_API = "/moto-api/"
#: Loopback needs no proxy, whatever HTTP(S)_PROXY says.
_NO_PROXY = "127.0.0.1,localhost"
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorError(RuntimeError):
    """The emulator could not start (a subprocess's error carries the tail of its log)."""


def _check_loopback(host: str) -> None:
    """The emulator has no authentication at all: it must never listen beyond this machine."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"the emulator binds to loopback addresses only, not {host!r}")


class _LoadingGate:
    """The WSGI app: answers its health probe at once and holds every AWS request until moto
    is imported and taught.

    Importing moto's CloudFormation (which imports some thirty service backends) is most of the
    emulator's start-up. The socket listens before that, so a client can start its own work
    meanwhile; a request that arrives early waits, it is never answered by an untaught moto.
    """

    def __init__(
        self, account: AccountPolicy | None = None, latency: Mapping[str, float] | None = None
    ) -> None:
        self.loaded = threading.Event()
        self.app: Any = None
        self.error: str | None = None
        self.account = account or AccountPolicy()
        #: Milliseconds every AWS request waits, by service (`annex_emulator.latency`).
        self.latency = dict(latency or {})

    def load(self) -> None:
        """Import and teach moto (in a thread of its own; nothing else imports moto meanwhile)."""
        try:
            from annex_emulator import botocore_data, teach

            botocore_data.share_one_loader()  # before moto makes its sessions
            teach.install()  # checks moto first; before the first stack is parsed
            self.account.apply()
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                create_backend_app,
            )

            app = DomainDispatcherApplication(create_backend_app)
            _warm_up(app)  # still alone: no request thread imports moto modules concurrently
            self.app = app
        # Logged before `error` is set: the health check reports "failed" as soon as it is,
        # and the client then reads the log's tail for why (on a loaded machine it came first).
        except MotoContractError as err:  # one line says it all: no traceback
            print(err, file=sys.stderr, flush=True)  # into the emulator's log
            self.error = str(err)
        except BaseException as err:
            traceback.print_exc()  # into the emulator's log
            sys.stderr.flush()
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self.loaded.set()

    @property
    def state(self) -> str:
        if self.app is not None:
            return "ready"
        return "failed" if self.error else "loading"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            health = {"moto": self.state, "error": self.error, "latency_ms": self.latency}
            return _json_reply(start_response, "200 OK", health)
        if environ.get("PATH_INFO") == emulator_faults.FAULTS_PATH:
            return emulator_faults.handle(environ, start_response)
        if environ.get("PATH_INFO") == emulator_calls.CALLS_PATH:
            return emulator_calls.handle(environ, start_response)
        if environ.get("PATH_INFO") == ORGANIZATION_PATH:
            self.loaded.wait()  # after the start-up governance is applied, not before
            return _organization(environ, start_response)
        self.loaded.wait()
        if environ.get("PATH_INFO") == clock.CLOCK_PATH and self.app is not None:
            return clock.handle(environ, start_response)
        if str(environ.get("PATH_INFO", "")).startswith(_MOTO_API):
            return self._answer(environ, start_response)
        emulator_calls.count(environ)
        answer_at = emulator_latency.deadline(self.latency, environ)
        # The whole body is made before the wait: the delay covers the emulator's work.
        answer = self._answer(environ, start_response)
        try:
            body = list(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()  # WSGI: the server would have closed it after sending
        emulator_latency.wait_until(answer_at)
        return body

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (fault := emulator_faults.intercept(environ)) is not None:
            return fault(start_response)
        if (prices := price_list.intercept(environ)) is not None:
            return prices(start_response)
        if self.app is None:
            reply = {"error": f"the annex-cdk emulator could not load moto: {self.error}"}
            return _json_reply(start_response, "500 Internal Server Error", reply)
        return self.app(environ, start_response)


class AccountPolicy:
    """How the emulated account is governed: whether IAM is enforced (every call signed by a
    known key and allowed by its principal's policies; the printed key is the root user's) and
    the organization's SCPs (None: in no organization). SCPs imply enforcement: they apply to
    every call of every principal, the root user's included."""

    def __init__(
        self, scps: Sequence[Mapping[str, Any]] | None = None, enforce_iam: bool = False
    ) -> None:
        self.scps = None if scps is None else [dict(d) for d in scps]
        self.enforce_iam = enforce_iam or scps is not None

    def apply(self) -> None:
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin

        from annex_emulator import iam_principals

        iam_principals.set_scps(self.scps)
        # moto's switch (what POST /moto-api/reset-auth sets): enforce from the first request.
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if self.enforce_iam else float("inf")
        ActionAuthenticatorMixin.request_count = 0

    def describe(self) -> list[str]:
        """What it enforces, one line each (printed by `annex-cdk emulator`)."""
        if not self.enforce_iam:
            return []
        lines = [
            "IAM enforced: the printed credentials are the account's root user; IAM users "
            "and roles are allowed what their policies allow."
        ]
        if self.scps is not None:
            lines.append(
                f"Organization: FullAWSAccess and {len(self.scps)} SCP(s) on every call of "
                "every principal, CloudFormation's included."
            )
            for n, document in enumerate(self.scps, 1):
                for statement in iam_statements(document):
                    if statement.get("Effect") == "Deny":
                        what = statement.get("Action", statement.get("NotAction"))
                        lines.append(f"  SCP {n}: {statement.get('Sid') or 'Deny'}: {what}")
        return lines


def iam_statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = document.get("Statement", [])
    return found if isinstance(found, list) else [found]


#: POST {"scps": [...] | null}: the organization's SCPs from now on (the tests' fixtures).
ORGANIZATION_PATH = "/annex-emulator/organization"


def _organization(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    from annex_emulator import iam_principals

    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        scps = body.get("scps")
        iam_principals.set_scps(scps)
    except (ValueError, AttributeError) as err:
        return _json_reply(start_response, "400 Bad Request", {"error": str(err)})
    return _json_reply(start_response, "200 OK", {"scps": iam_principals.scps()})


def _json_reply(start_response: Callable[..., Any], status: str, body: object) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def run(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[int], None] | None = None,
    account: AccountPolicy | None = None,
    latency: Mapping[str, float] | None = None,
) -> None:
    """Serve the emulator in the foreground until interrupted (SIGINT/SIGTERM/SystemExit).

    `port` 0 picks a free port; `on_ready` receives the bound port once the socket listens.
    `latency`: milliseconds every AWS request waits before it is answered, by service
    (`annex_emulator.latency.parse`).
    moto is imported and taught in the background from then on (about 1.3 s); AWS requests
    that arrive earlier wait for it. `HEALTH_PATH` answers at once, with the loading state.
    """
    _check_loopback(host)
    # Imported here: only the server process needs moto. This part of moto is light (~0.5 s);
    # its request handler keeps header names with underscores (S3 metadata) intact.
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    class ClockedRequestHandler(MotoRequestHandler):
        """Every reply's Date header read from the emulator's clock, as AWS's reads AWS's: what
        a client compares ages with (an access key's CreateDate, say) moves with the clock."""

        def date_time_string(self, timestamp: float | None = None) -> str:
            return str(super().date_time_string(clock.now() if timestamp is None else timestamp))

    gate = _LoadingGate(account, latency)
    # make_server binds and listens; unlike run_simple it prints no banner.
    try:
        server = make_server(host, port, gate, threaded=True, request_handler=ClockedRequestHandler)
    except OSError as err:  # typically: the port is taken
        raise EmulatorError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    try:
        # Functions the emulator runs call back here (annex_emulator.lambda_runtime).
        os.environ[lambda_runtime.ENDPOINT_ENV] = f"http://{host}:{server.server_port}"
        threading.Thread(target=gate.load, name="load-moto", daemon=True).start()
        if on_ready is not None:
            on_ready(server.server_port)
        server.serve_forever()
    finally:
        server.server_close()


def serve_foreground(
    port: int = 5000,
    host: str = "127.0.0.1",
    region: str = DEFAULT_REGION,
    posture: Posture | None = None,
    account: AccountPolicy | None = None,
    latency: Mapping[str, float] | None = None,
) -> None:
    """`annex-cdk emulator`: serve in the foreground; once listening, say how to use it."""
    posture = posture or Posture()
    configure(posture)

    def ready(bound: int) -> None:
        print(f"annex-cdk emulator (moto) listening on http://{host}:{bound}; Ctrl-C stops it.")
        for line in posture.lines():
            print(f"  governed account: {line}")
        for line in (account or AccountPolicy()).describe():
            print(f"  governed account: {line}")
        if latency:
            print(f"Every AWS answer is delayed as an account's would be: {describe(latency)}.")
        print("Point the AWS CLI, boto3, annex-cdk or the CDK CLI at it with:")
        for key, value in _overrides(f"http://localhost:{bound}", region).items():
            print(f"  export {key}={value}")
        print("  unset " + " ".join(CLEARED_VARIABLES), flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        run(host, port, on_ready=ready, account=account, latency=latency)


def governed_account() -> tuple[Posture, list[dict[str, Any]]]:
    """`--governed`: a landing zone's account. No default VPC, IMDSv2 required, the
    organization's permissions boundary as a managed policy, and its SCPs
    (annex_emulator.landing_zone: boundary required on roles, IMDSv2 required on launches, no
    spot requests)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID

    from annex_emulator import landing_zone

    posture = Posture(no_default_vpc=True, imds_required=True, boundary_policy=True)
    return posture, list(landing_zone.service_control_policies(DEFAULT_ACCOUNT_ID).values())


def load_scp_files(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """`--scp FILE` documents; ValueError with one line naming the file and what is wrong."""
    from annex_emulator.iam_principals import load_scp_file

    return [load_scp_file(os.fspath(p)) for p in paths]


def _overrides(url: str, region: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


#: Backends annex-cdk uses, created ahead of the first request (moto creates them lazily).
_WARM_SERVICES = ("cloudformation", "ec2", "ssm", "s3", "iam", "lambda", "logs", "sts")


def _warm_up(app: Any) -> None:
    """Create the default account's backends (~0.3 s) and each service's request app now
    rather than on the first calls. moto builds a service's app on its first request, under a
    lock every request waits for (EC2's takes over a second: its URL rules), a start-up cost
    of moto's, not AWS's, that would land on whichever command calls EC2 first."""
    from moto.backends import get_backend
    from moto.core.models import DEFAULT_ACCOUNT_ID

    region = os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    for service in _WARM_SERVICES:
        with contextlib.suppress(Exception):  # only an optimisation
            backends = get_backend(service)[DEFAULT_ACCOUNT_ID]  # type: ignore[call-overload]  # moto's BackendDict is indexed by account id, which its types do not say
            backends["aws" if service in ("s3", "iam") else region]
            if service not in app.app_instances:
                app.app_instances[service] = app.create_app(service)


def _write_atomically(path: Path, text: str) -> None:
    # The parent polls for the file: it must never see it half-written.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _exit_with_parent(parent_pid: int) -> None:
    """Stop when the process that started us is gone (no orphaned emulators after a crash)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _exit_now(*_: object) -> None:
    """SIGTERM: all state is in memory, so skip the interpreter's slow teardown of moto."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m annex_emulator.server``: serve, and report the bound port once listening."""
    parser = argparse.ArgumentParser(
        prog="python -m annex_emulator.server", description="annex-cdk's local AWS emulator (moto)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    parser.add_argument("--ready-file", type=Path, help="write the bound port here when ready")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="exit when the parent process exits"
    )
    parser.add_argument(
        "--no-default-vpc", action="store_true", help="no default VPC in any region"
    )
    parser.add_argument(
        "--imds-required", action="store_true", help="IMDSv2 required (instance-metadata defaults)"
    )
    parser.add_argument(
        "--boundary-policy",
        action="store_true",
        help="the organization's permissions boundary exists as a managed policy",
    )
    parser.add_argument(
        "--scp", action="append", default=None, metavar="FILE", help="an SCP (repeatable)"
    )
    parser.add_argument("--enforce-iam", action="store_true", help="evaluate every call")
    parser.add_argument(
        "--governed", action="store_true", help="a landing zone's account (all of the above)"
    )
    parser.add_argument(
        "--latency-ms",
        action="append",
        default=[],
        metavar="[SERVICE=]MS",
        help="delay every AWS answer (or one service's) by MS milliseconds; repeatable",
    )
    args = parser.parse_args(argv)
    try:
        latency = emulator_latency.parse(args.latency_ms)
    except emulator_latency.LatencyError as err:
        parser.error(str(err))
    posture = Posture(
        no_default_vpc=args.no_default_vpc,
        imds_required=args.imds_required,
        boundary_policy=args.boundary_policy,
    )
    try:
        scps = None if args.scp is None else load_scp_files(args.scp)
    except ValueError as err:
        parser.exit(2, f"annex-emulator: {err}\n")
    if args.governed:
        posture, built_in = governed_account()
        scps = [*built_in, *(scps or [])]
    configure(posture)
    account = AccountPolicy(scps, args.enforce_iam)
    if args.exit_with_parent:
        _exit_with_parent(os.getppid())
    signal.signal(signal.SIGTERM, _exit_now)

    def ready(port: int) -> None:
        print(port, flush=True)
        if args.ready_file is not None:
            _write_atomically(args.ready_file, f"{port}\n")

    with contextlib.suppress(KeyboardInterrupt):
        run(args.host, args.port, on_ready=ready, account=account, latency=latency)


def _stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


class EmulatorProcess:
    """The emulator as a subprocess on a free loopback port.

    >>> with EmulatorProcess() as emulator:
    ...     boto3.client("s3", endpoint_url=emulator.endpoint_url, ...)
    ...     subprocess.run([...], env=emulator.environ())

    `start()` returns once the server answers HTTP (about 0.7 s); it goes on loading and
    teaching moto in the background (about 1.3 s more), and AWS calls made meanwhile wait for
    that, so the caller's own start-up overlaps the emulator's. ``start(wait=False)`` returns
    at once; `wait_ready(loaded=True)` waits for moto too. The subprocess's own output
    (moto's and werkzeug's request log) goes to `log_path`, never to the caller's terminal.
    With `latency_ms` ({"*": 100, "s3": 30}) every AWS answer waits as an account's would
    (`annex_emulator.latency`).
    """

    def __init__(
        self,
        *,
        region: str = DEFAULT_REGION,
        log_path: str | os.PathLike[str] | None = None,
        startup_timeout: float = 60.0,
        python: str | None = None,
        posture: Posture | None = None,
        scps: Sequence[Mapping[str, Any]] | None = None,
        enforce_iam: bool = False,
        governed: bool = False,
        latency_ms: Mapping[str, float] | None = None,
    ) -> None:
        self.region = region
        #: Milliseconds every AWS answer waits, by service (`annex_emulator.latency`).
        self.latency_ms = dict(latency_ms or {})
        if governed:  # a landing zone's account, its SCPs before any of `scps`
            posture, built_in = governed_account()
            scps = [*built_in, *(scps or [])]
        #: The account the emulator plays (default: a pristine one, with a default VPC).
        self.posture = posture or Posture()
        #: How the account is governed from start-up, and again after every reset().
        self.account = AccountPolicy(scps, enforce_iam)
        self.startup_timeout = startup_timeout
        self._python = python or sys.executable
        self._own_dir: Path | None = None
        self._log_path = Path(log_path) if log_path is not None else None
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._ready_file: Path | None = None
        self._started_at = 0.0
        #: Seconds from start() until the emulator answered (None until then).
        self.startup_seconds: float | None = None
        #: Seconds from start() until moto was loaded, as far as wait_ready(loaded=True) saw.
        self.loaded_seconds: float | None = None
        self._finalizer: weakref.finalize[..., EmulatorProcess] | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, *, wait: bool = True) -> EmulatorProcess:
        if self._process is not None:
            raise EmulatorError("the emulator is already started")
        self._own_dir = Path(tempfile.mkdtemp(prefix="annex-emulator-"))
        if self._log_path is None:
            self._log_path = self._own_dir / "emulator.log"
        self._ready_file = self._own_dir / "port"
        command = [
            self._python,
            "-m",
            "annex_emulator.server",
            "--port",
            "0",
            "--ready-file",
            str(self._ready_file),
            "--exit-with-parent",
            *self.posture.argv(),
            *emulator_latency.as_args(self.latency_ms),
        ]
        if self.account.enforce_iam:
            command.append("--enforce-iam")
        for n, document in enumerate(self.account.scps or []):
            scp_file = self._own_dir / f"scp-{n}.json"
            scp_file.write_text(json.dumps(document))
            command += ["--scp", str(scp_file)]
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"  # the log shows what happened up to a crash
        env["AWS_DEFAULT_REGION"] = self.region  # the region whose backends it warms up
        self._started_at = time.monotonic()
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal is for the caller
            )
        # Never leave an emulator behind, even if the caller forgets stop().
        self._finalizer = weakref.finalize(self, _stop_process, self._process, 5.0)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float | None = None, *, loaded: bool = False) -> None:
        """Block until the emulator answers HTTP (with `loaded`: until moto is loaded, too).

        Without `loaded` this returns after about 0.7 s; AWS calls made then simply wait for
        moto. Raises EmulatorError if the emulator dies, fails to load moto, or times out.
        """
        process = self._require_process()
        deadline = time.monotonic() + (self.startup_timeout if timeout is None else timeout)
        assert self._ready_file is not None
        while self._port is None:
            if process.poll() is not None:
                self._fail(f"the emulator exited with status {process.returncode}")
            if self._ready_file.exists():
                self._port = int(self._ready_file.read_text().strip())
                break
            if time.monotonic() > deadline:
                self._fail("the emulator did not start in time")
            time.sleep(0.01)
        while self.startup_seconds is None or (loaded and self.loaded_seconds is None):
            state = self._health()
            if state is not None and self.startup_seconds is None:
                self.startup_seconds = time.monotonic() - self._started_at
            if state == "ready":
                self.loaded_seconds = time.monotonic() - self._started_at
            elif state == "failed":
                self._fail("the emulator could not load moto")
            elif process.poll() is not None or time.monotonic() > deadline:
                self._fail("the emulator does not answer")
            else:
                time.sleep(0.01)

    def _health(self) -> str | None:
        """The emulator's loading state, or None if it does not answer (yet)."""
        try:
            with _direct.open(self.endpoint_url + HEALTH_PATH, timeout=5) as reply:
                return str(json.loads(reply.read())["moto"])
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, KeyError):
            return None

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the emulator (kill it if it does not exit within `timeout`). Idempotent;
        `start()` may be called again afterwards (a fresh, empty emulator)."""
        if self._process is not None:
            _stop_process(self._process, timeout)
            self._process = None
        self._port = None
        self.startup_seconds = self.loaded_seconds = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._own_dir is not None:
            if self._log_path is not None and self._log_path.parent == self._own_dir:
                self._log_path = None  # it goes with the directory
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> EmulatorProcess:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- where it is, and how to use it ---------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._require_process().pid

    @property
    def port(self) -> int:
        if self._port is None:
            self.wait_ready()
        assert self._port is not None
        return self._port

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def endpoint_url(self) -> str:
        """For boto3 and other Python clients: the address the server is bound to."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def localhost_url(self) -> str:
        """For the Node CDK CLI (and its AWS SDK), which needs ``localhost`` rather than an IP.

        Node resolves ``localhost`` to both ::1 and 127.0.0.1 and connects to whichever answers.
        """
        return f"http://localhost:{self.port}"

    @property
    def log_path(self) -> Path | None:
        """The subprocess's stdout and stderr (moto's warnings, werkzeug's request log)."""
        return self._log_path

    def log_tail(self, lines: int = 40) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "(no log)"
        text = self._log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def env(self, *, url: str | None = None) -> dict[str, str]:
        """The variables to set so that an AWS SDK, the AWS CLI or the CDK CLI uses the emulator.

        Only what to *set*: a child environment must also drop `CLEARED_VARIABLES` (and any
        ``AWS_ENDPOINT_URL_<SERVICE>``), which a profile or session token would otherwise win
        with; `environ()` does both. The endpoint is `localhost_url` unless `url` says
        otherwise: it suits both boto3 and the Node CDK CLI.
        """
        return _overrides(url or self.localhost_url, self.region)

    def environ(
        self, base: Mapping[str, str] | None = None, *, url: str | None = None
    ) -> dict[str, str]:
        """A complete environment for a child process that must use the emulator.

        `base` (default: os.environ) without the variables that could send the child to a real
        account (profiles, session tokens, service-specific endpoints), plus `env()`, plus
        loopback in NO_PROXY.
        """
        environment = {
            key: value
            for key, value in (os.environ if base is None else base).items()
            if not is_cleared(key)
        }
        environment.update(self.env(url=url))
        for key in ("NO_PROXY", "no_proxy"):  # a proxy must not swallow loopback calls
            environment[key] = ",".join(filter(None, (environment.get(key), _NO_PROXY)))
        return environment

    def boto3_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``boto3.client(service, **emulator.boto3_kwargs())``."""
        return {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": ACCESS_KEY_ID,
            "aws_secret_access_key": SECRET_ACCESS_KEY,
            "region_name": self.region,
        }

    def reset(self) -> None:
        """Forget every resource in every account and region (moto's POST /moto-api/reset),
        and switch every injected fault off."""
        request = urllib.request.Request(self.endpoint_url + "/moto-api/reset", method="POST")
        with _direct.open(request, timeout=30) as reply:
            reply.read()
        self.faults(clear=True)
        self.calls(clear=True)
        self.enforce_iam(self.account.enforce_iam)
        self.set_scps(self.account.scps)
        self._clock("DELETE")

    def calls(self, *, clear: bool = False) -> dict[str, int]:
        """The AWS calls answered so far (or, with `clear`, since now), by `service:Action`
        (`annex_emulator.calls`)."""
        request = urllib.request.Request(
            self.endpoint_url + emulator_calls.CALLS_PATH, method="DELETE" if clear else "GET"
        )
        with _direct.open(request, timeout=30) as reply:
            return {str(k): int(v) for k, v in json.loads(reply.read()).items()}

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the emulator's clock forward; every schedule due meanwhile fires. The reply
        says what fired and what each target answered (annex_emulator.clock)."""
        return self._clock("POST", {"advance": seconds})

    def _clock(self, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.endpoint_url + clock.CLOCK_PATH,
            data=json.dumps(body or {}).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with _direct.open(request, timeout=600) as reply:
            return dict(json.loads(reply.read()))

    def enforce_iam(self, on: bool) -> None:
        """Switch IAM enforcement on (every later request is signed by an IAM user's or role's
        key and allowed by its policies, with resources and conditions: annex_emulator.
        iam_enforcement) or off (moto's default: anything goes)."""
        count = b"0" if on else b"inf"  # moto's INITIAL_NO_AUTH_ACTION_COUNT
        # Not form-encoded (urllib's default), or werkzeug leaves moto an empty body.
        request = urllib.request.Request(
            self.endpoint_url + "/moto-api/reset-auth",
            data=count,
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with _direct.open(request, timeout=30) as reply:
            reply.read()

    def set_scps(self, scps: Sequence[Mapping[str, Any]] | None) -> None:
        """The organization's SCPs from now on (None: no organization). They apply only while
        IAM is enforced: start with `scps=` (which enforces it), or call enforce_iam(True)."""
        request = urllib.request.Request(
            self.endpoint_url + ORGANIZATION_PATH,
            data=json.dumps({"scps": None if scps is None else list(scps)}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with _direct.open(request, timeout=30) as reply:
            reply.read()

    def faults(
        self,
        *,
        clear: bool = False,
        fail_types: Mapping[str, str] | None = None,
        expired_keys: Sequence[str] | None = None,
        stall_actions: Sequence[str] | None = None,
        hold_actions: Sequence[str] | None = None,
        release_held: bool = False,
        image_states: Mapping[str, str] | None = None,
        rollback_failed: Mapping[str, str] | None = None,
    ) -> dict[str, object]:
        """Switch on faults for the tests (see `annex_emulator.faults`); returns them all."""
        update: dict[str, object] = {}
        if rollback_failed is not None:
            update["rollback_failed"] = dict(rollback_failed)
        if image_states is not None:
            update["image_states"] = dict(image_states)
        if fail_types is not None:
            update["fail_types"] = dict(fail_types)
        if expired_keys is not None:
            update["expired_keys"] = list(expired_keys)
        if stall_actions is not None:
            update["stall_actions"] = list(stall_actions)
        if hold_actions is not None:
            update["hold_actions"] = list(hold_actions)
        if release_held:
            update["release_held"] = True
        request = urllib.request.Request(
            self.endpoint_url + emulator_faults.FAULTS_PATH,
            data=json.dumps(update).encode(),
            method="DELETE" if clear else "POST",
            headers={"Content-Type": "application/json"},
        )
        with _direct.open(request, timeout=30) as reply:
            answer: dict[str, object] = json.loads(reply.read())
        return answer

    def _fail(self, what: str) -> NoReturn:
        tail = self.log_tail()  # read before stop() removes a log in our temporary directory
        self.stop()
        raise EmulatorError(f"{what}; its log ends:\n{tail}")

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise EmulatorError("the emulator is not started")
        return self._process


if __name__ == "__main__":
    main()
