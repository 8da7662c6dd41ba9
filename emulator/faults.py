"""Faults the emulator can be told to play, so tests can show how annex-cdk meets real failures.

Real AWS fails in ways moto never does by itself: credentials expire, a resource's creation is
rejected, a deployment takes long enough to be interrupted or raced. Tests switch these on with
`POST FAULTS_PATH` (JSON: `fail_types` {resource type: reason}, `expired_keys`,
`stall_actions`, `hold_actions`, `release_held`, `image_states` {image id: EC2 image state},
`rollback_failed` {stack name: reason}: the stack's update rollback failed);
`DELETE` switches them off (image states stay as set: they are the images' own). This runs inside
the emulator process only.

`stall_actions` lists API actions (`PutParameter`, `DescribeStacks`, ...) whose requests are
accepted and then never answered, as a hung proxy or endpoint does; `"*"` stalls every action
but STS GetCallerIdentity: an endpoint that says who you are and then hangs. Stalled requests
are let go (with an error reply) when the faults are switched off.

`hold_actions` lists API actions whose requests wait inside the emulator until a test lets them
go (`"release_held": true`, or switching the faults off), then are answered as usual. Every reply
of `FAULTS_PATH` counts the requests waiting now (`held`), so a test can act at the moment a run
is inside, say, CreateStack: an event, where a fixed delay is a time window that a loaded
machine can miss. Work the emulator does in the background holds the same way at its named
hold points (`hold_point`: `StackSetInstance`, each instance step of a StackSet operation).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

FAULTS_PATH = "/annex-emulator/faults"

_lock = threading.Lock()
_faults: dict[str, Any] = {
    "fail_types": {},
    "expired_keys": [],
    "stall_actions": [],
    "hold_actions": [],
}
#: Requests waiting in a hold now; reported, never set by a client.
_held = 0
#: Set when the faults are switched off: stalled requests wait on it (never longer than this).
_released = threading.Event()
#: Set when held requests may go on (never later than the stall limit).
_hold_released = threading.Event()
_STALL_LIMIT_S = 600
_ALL_BUT_IDENTITY = "*"


def failing_reason(resource_type: str) -> str | None:
    """Why the creation of `resource_type` must fail now, if a test asked for that."""
    with _lock:
        reason: str | None = _faults["fail_types"].get(resource_type)
    return reason


def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    method = environ.get("REQUEST_METHOD", "GET")
    with _lock:
        if method == "POST":
            update = json.loads(_read_body(environ) or b"{}")
            for key in _faults:
                if key in update:
                    _faults[key] = update[key]
            if "image_states" in update:
                _set_image_states(update["image_states"])
            if "rollback_failed" in update:
                from moto.core.models import DEFAULT_ACCOUNT_ID

                from annex_emulator.update_rollback import fail_rollback

                fail_rollback(DEFAULT_ACCOUNT_ID, update["rollback_failed"])
            if update.get("release_held"):
                _faults["hold_actions"] = []
                _release_held()
        elif method == "DELETE":
            _faults.update(fail_types={}, expired_keys=[], stall_actions=[], hold_actions=[])
            _release_stalled()
            _release_held()
        body = json.dumps({**_faults, "held": _held}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def intercept(environ: dict[str, Any]) -> Callable[[Callable[..., Any]], list[bytes]] | None:
    """Play the faults that apply to this request; a reply to send instead of moto's, or None."""
    with _lock:
        expired = list(_faults["expired_keys"])
        stalled = set(_faults["stall_actions"])
        holding = set(_faults["hold_actions"])
        released = _released
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if expired and any(f"Credential={key}/" in auth for key in expired):
        return _expired_token
    if not (stalled or holding) or environ.get("REQUEST_METHOD") != "POST":
        return None
    action = action_of(environ)
    if action in stalled or (_ALL_BUT_IDENTITY in stalled and action != "GetCallerIdentity"):
        released.wait(_STALL_LIMIT_S)
        return _stalled
    if action in holding:
        _hold()
    return None


def hold_point(name: str) -> None:
    """Work the emulator does by itself (a StackSet operation's instance step) waits here, as
    a held request does, while `name` is in `hold_actions`."""
    with _lock:
        holding = name in _faults["hold_actions"]
    if holding:
        _hold()


#: EC2's image states (DescribeImages' ImageState enum, botocore's ec2 model).
IMAGE_STATES = frozenset(
    {"pending", "available", "invalid", "deregistered", "transient", "failed", "error", "disabled"}
)


def _set_image_states(states: dict[str, str]) -> None:
    """Put images in the states EC2 reports while one builds, after a failed build, etc.
    (moto's images are always available): {image id: state}, in every region's backend."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    for image_id, state in states.items():
        if state not in IMAGE_STATES:
            raise ValueError(f"{state!r} is not an EC2 image state")
        for backend in ec2_backends[DEFAULT_ACCOUNT_ID].values():
            if image := backend.amis.get(image_id):
                image.state = state


def action_of(environ: dict[str, Any]) -> str:
    """The API action: `X-Amz-Target: AmazonSSM.PutParameter` (JSON APIs), else `Action=`."""
    if target := environ.get("HTTP_X_AMZ_TARGET"):
        return str(target).rpartition(".")[2]
    body = _read_body(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    return parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]


def _release_stalled() -> None:
    """Let every stalled request go, and stall later ones on a fresh event."""
    global _released
    _released.set()
    _released = threading.Event()


def _hold() -> None:
    """Wait, counted in `held`, until the test releases held requests."""
    global _held
    with _lock:
        _held += 1
        release = _hold_released
    try:
        release.wait(_STALL_LIMIT_S)
    finally:
        with _lock:
            _held -= 1


def _release_held() -> None:
    """Let every held request go on (the caller holds `_lock`); later ones wait afresh."""
    global _hold_released
    _hold_released.set()
    _hold_released = threading.Event()


def _stalled(start_response: Callable[..., Any]) -> list[bytes]:
    body = b"stall released"
    start_response(
        "503 Service Unavailable",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]


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
