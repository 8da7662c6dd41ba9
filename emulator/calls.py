"""The AWS calls the emulator answered, counted by service and action.

What a command costs on a real account is mostly how many calls it makes one after another:
the benchmarks read these counts (`GET CALLS_PATH`, `EmulatorProcess.calls()`) around a run to
print how many calls a command made and what they cost at a given latency. `DELETE` zeroes
them; so does the emulator's reset.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from annex_emulator import latency
from annex_emulator.faults import action_of

CALLS_PATH = "/annex-emulator/calls"

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def count(environ: dict[str, Any]) -> None:
    """Count one AWS request: `service:Action` (S3's REST calls: `s3:GET`, `s3:PUT`, ...)."""
    service = latency.service(environ) or "unsigned"
    action = action_of(environ) if environ.get("REQUEST_METHOD") == "POST" else ""
    name = f"{service}:{action or environ.get('REQUEST_METHOD', '?')}"
    with _lock:
        _counts[name] += 1


def clear() -> None:
    with _lock:
        _counts.clear()


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(sorted(_counts.items()))


def handle(environ: Mapping[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    if environ.get("REQUEST_METHOD") == "DELETE":
        clear()
    body = json.dumps(snapshot()).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
