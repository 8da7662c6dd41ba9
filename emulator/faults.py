"""Faults the emulator can be told to play, so tests can show how annex-cdk meets real failures.

Real AWS fails in ways moto never does by itself: credentials expire, a resource's creation is
rejected, a deployment takes long enough to be interrupted or raced. Tests switch these on with
`POST FAULTS_PATH` (JSON: `fail_types` {resource type: reason}, `delay_s`, `expired_keys`);
`DELETE` switches them off. This runs inside the emulator process only.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

FAULTS_PATH = "/annex-emulator/faults"
#: Only deployments are slowed down: the reads around them stay fast.
_DELAYED_ACTIONS = frozenset({"CreateStack", "UpdateStack", "DeleteStack"})

_lock = threading.Lock()
_faults: dict[str, Any] = {"fail_types": {}, "delay_s": 0.0, "expired_keys": []}


def failing_reason(resource_type: str) -> str | None:
    """Why the creation of `resource_type` must fail now, if a test asked for that."""
    with _lock:
        return _faults["fail_types"].get(resource_type)


def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    method = environ.get("REQUEST_METHOD", "GET")
    with _lock:
        if method == "POST":
            update = json.loads(_read_body(environ) or b"{}")
            for key in _faults:
                if key in update:
                    _faults[key] = update[key]
        elif method == "DELETE":
            _faults.update(fail_types={}, delay_s=0.0, expired_keys=[])
        body = json.dumps(_faults).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def intercept(environ: dict[str, Any]) -> Callable[[Callable[..., Any]], list[bytes]] | None:
    """Play the faults that apply to this request; a reply to send instead of moto's, or None."""
    with _lock:
        expired = list(_faults["expired_keys"])
        delay = float(_faults["delay_s"])
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if expired and any(f"Credential={key}/" in auth for key in expired):
        return _expired_token
    if delay and environ.get("REQUEST_METHOD") == "POST":
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        if action in _DELAYED_ACTIONS:
            time.sleep(delay)
    return None


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _expired_token(start_response: Callable[..., Any]) -> list[bytes]:
    body = (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code>"
        b"<Message>The security token included in the request is expired</Message>"
        b"</Error><RequestId>annex-emulator</RequestId></ErrorResponse>"
    )
    start_response(
        "403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
    )
    return [body]
