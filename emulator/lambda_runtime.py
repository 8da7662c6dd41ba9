"""Lambda Invoke runs a Python function's deployed code (moto would need docker, which the
emulator cannot use).

The function's zip (index.py from inline ZipFile code) is unpacked into a scratch directory and
its handler runs in a child Python process, as Lambda runs it: the function's environment
variables, its region, and credentials of its own execution role (STS AssumeRole, so that with
IAM enforcement on, the function can do exactly what its role allows), with the AWS endpoint
pointed back at the emulator. The child's `time.time()` reads the emulator's clock
(`annex_emulator.clock`), so a function run after the clock was advanced sees that time. The
function's timeout is enforced; Python start-up is not counted against it, as Lambda's init is
not. The log lines come back as Lambda's LogResult.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from typing import Any

from annex_emulator import clock

#: Set by the server once it listens: where a function's AWS calls must go.
ENDPOINT_ENV = "ANNEX_EMULATOR_ENDPOINT"
_RESULT_MARK = "\x1eANNEX-LAMBDA-RESULT "
_START_UP_ALLOWANCE_S = 60
#: Lambda's own runtime logs INFO from the root logger; the child does as well.
_RUNNER = r"""
import importlib, json, logging, sys, time
code_dir, handler, at = sys.argv[1], sys.argv[2], float(sys.argv[3])
_offset, _real = at - time.time(), time.time
time.time = lambda: _real() + _offset
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
sys.path.insert(0, code_dir)
module_name, func = handler.rsplit(".", 1)
event = json.loads(sys.stdin.read() or "{}")
try:
    out = {"result": getattr(importlib.import_module(module_name), func)(event, None)}
except Exception as err:
    logging.exception("handler failed")
    out = {"error": {"errorMessage": str(err), "errorType": type(err).__name__}}
sys.stdout.write(MARK + json.dumps(out, default=str))
"""


def _credentials(function: Any) -> dict[str, str]:
    from moto.sts.models import sts_backends

    backend = sts_backends[function.account_id]["aws"]
    role = backend.assume_role(
        region_name=function.region,
        role_session_name=function.function_name[:64],
        role_arn=function.role,
        policy=None,
        duration=900,
        external_id=None,
    )
    return {
        "AWS_ACCESS_KEY_ID": role.access_key_id,
        "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
        "AWS_SESSION_TOKEN": role.session_token,
    }


def _environment(function: Any, home: str) -> dict[str, str]:
    endpoint = os.environ.get(ENDPOINT_ENV, "")
    return {
        **{str(k): str(v) for k, v in (function.environment_vars or {}).items()},
        **_credentials(function),
        "AWS_REGION": function.region,
        "AWS_DEFAULT_REGION": function.region,
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_ENDPOINT_URL": endpoint,
        # Nothing of the emulator's own user may leak in: no profile, no config files.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "HOME": home,
        "PATH": os.environ.get("PATH", ""),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }


def run_function(
    function: Any, event: str | dict[str, Any] | None, *, at: float | None = None
) -> tuple[str, bool, str]:
    """(payload, errored, log) of one run of `function` (a moto LambdaFunction) on `event`,
    its clock reading `at` (default: the emulator's clock now)."""
    if not str(function.run_time or "").startswith("python"):
        message = f"the emulator runs Python functions only, not {function.run_time}"
        return json.dumps({"errorMessage": message, "errorType": "Runtime.Unsupported"}), True, ""
    with tempfile.TemporaryDirectory(prefix="annex-lambda-") as scratch:
        code_dir = os.path.join(scratch, "task")
        with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
            archive.extractall(code_dir)
        runner = _RUNNER.replace("MARK", repr(_RESULT_MARK))
        try:
            child = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    runner,
                    code_dir,
                    function.handler,
                    str(clock.now() if at is None else at),
                ],
                input=event if isinstance(event, str) else json.dumps(event or {}),
                env=_environment(function, scratch),
                cwd=code_dir,
                capture_output=True,
                text=True,
                timeout=float(function.timeout) + _START_UP_ALLOWANCE_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            message = f"Task timed out after {float(function.timeout):.2f} seconds"
            return json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}), True, ""
    logs = child.stderr
    head, _, tail = child.stdout.rpartition(_RESULT_MARK)
    if not _:
        message = f"Runtime exited with status {child.returncode}"
        return json.dumps({"errorMessage": message, "errorType": "Runtime.ExitError"}), True, logs
    out = json.loads(tail)
    logs = head + logs
    if "error" in out:
        return json.dumps(out["error"]), True, logs
    return json.dumps(out["result"]), False, logs


def invoke_lambda(self: Any, event: str | None = None) -> tuple[str, bool, str]:
    """Replaces LambdaFunction._invoke_lambda (docker)."""
    return run_function(self, event)
