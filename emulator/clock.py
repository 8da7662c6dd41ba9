"""The emulator's clock: real time plus an offset that tests move forward instead of waiting.

`POST CLOCK_PATH {"advance": seconds}` moves it and then fires every EventBridge Scheduler
schedule that fell due in between (`annex_emulator.schedules`); the reply lists what fired and
what each target answered. `GET` reads it; `DELETE` (and the emulator's reset) sets it back to
real time. Functions the emulator runs read this clock (`annex_emulator.lambda_runtime`).
What fires is registered by `annex_emulator.teach` (`on_advance`): this module knows no moto.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

CLOCK_PATH = "/annex-emulator/clock"

_lock = threading.Lock()
_offset = 0.0
Firing = Callable[[float, float], list[dict[str, Any]]]
_fire: Firing | None = None


def on_advance(fire: Firing | None) -> None:
    """`fire(before, after)` runs whatever fell due when the clock moved; None: nothing."""
    global _fire
    _fire = fire


def now() -> float:
    return time.time() + _offset


def offset() -> float:
    return _offset


def reset() -> None:
    global _offset
    with _lock:
        _offset = 0.0


def advance(seconds: float) -> tuple[float, float]:
    """Move the clock forward; (before, after)."""
    global _offset
    with _lock:
        before = now()
        _offset += seconds
        return before, now()


def _reply(start_response: Callable[..., Any], status: str, body: object) -> list[bytes]:
    data = json.dumps(body, default=str).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    method = environ.get("REQUEST_METHOD", "GET")
    fired: list[dict[str, Any]] = []
    if method == "DELETE":
        reset()
    elif method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        seconds = request.get("advance", 0)
        if not isinstance(seconds, (int, float)) or seconds < 0:
            return _reply(start_response, "400 Bad Request", {"error": "advance: seconds >= 0"})
        before, after = advance(float(seconds))
        fired = _fire(before, after) if _fire else []
    return _reply(start_response, "200 OK", {"now": now(), "offset": _offset, "fired": fired})
