"""The check-connectivity function against a local stand-in for the collector."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from annex_lambda_src.check_connectivity import (
    REQUEST,
    check_collector,
    condor_ping_handler,
)

INSTANCE_ID = "0123456789abcdef"
# The frame condor_annex's Lambda sends: header 1, length 8, DC_QUERY_INSTANCE (60045).
EXPECTED_REQUEST = b"\x01\x00\x00\x00\x08" + (60045).to_bytes(8, "big")
Serve = Callable[[socket.socket], object]


def _read(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n and (chunk := conn.recv(n - len(buf))):
        buf += chunk
    return buf


class FakeCollector:
    """Accepts one connection on 127.0.0.1 and hands it to `serve`."""

    def __init__(self, serve: Serve) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._serve = serve
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(5)
            self.requests.append(_read(conn, len(EXPECTED_REQUEST)))
            self._serve(conn)

    def close(self) -> None:
        self._thread.join(5)
        self.sock.close()


Start = Callable[[Serve], FakeCollector]


@pytest.fixture
def collector() -> Iterator[Start]:
    started: list[FakeCollector] = []

    def start(serve: Serve) -> FakeCollector:
        started.append(FakeCollector(serve))
        return started[-1]

    yield start
    for c in started:
        c.close()


def _answer(payload: bytes, *, split: bool = False) -> Serve:
    def serve(conn: socket.socket) -> None:
        frame = struct.pack(">BI", 1, len(payload)) + payload
        if not split:
            conn.sendall(frame)
            return
        for i in range(len(frame)):  # one byte at a time: the client must loop on recv
            conn.sendall(frame[i : i + 1])
            time.sleep(0.005)

    return serve


def test_request_frame_is_the_cedar_dc_query_instance() -> None:
    assert REQUEST == EXPECTED_REQUEST
    assert len(REQUEST) == 13


@pytest.mark.parametrize("split", [False, True])
def test_answering_collector(collector: Start, split: bool) -> None:
    fake = collector(_answer(INSTANCE_ID.encode("ascii"), split=split))

    result = condor_ping_handler(
        {"condor_host": "127.0.0.1", "condor_port": fake.port, "timeout": 5}, None
    )

    assert fake.requests == [EXPECTED_REQUEST]
    assert result == {
        "description": f"collector at 127.0.0.1:{fake.port} answered",
        "result": INSTANCE_ID,
        "success": "1",
    }
    assert json.loads(json.dumps(result)) == result


def test_port_may_be_a_numeric_string(collector: Start) -> None:
    fake = collector(_answer(INSTANCE_ID.encode("ascii")))

    result = condor_ping_handler(
        {"condor_host": "localhost", "condor_port": str(fake.port), "timeout": 5}, None
    )

    assert (result["success"], result["result"]) == ("1", INSTANCE_ID)


def test_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]

    result = check_collector("127.0.0.1", port, 2)

    assert result["success"] == "0"
    assert result["result"] == ""
    assert f"127.0.0.1:{port}" in result["description"]
    assert "refused" in result["description"].lower()


def test_silent_collector_times_out_quickly(collector: Start) -> None:
    # Reads until the client hangs up, never answering.
    fake = collector(lambda conn: conn.recv(1))

    start = time.monotonic()
    result = check_collector("127.0.0.1", fake.port, 0.3)

    # A hang would never return; the margin is for a loaded 2-core machine, not the timeout.
    assert time.monotonic() - start < 15
    assert result["success"] == "0"
    assert "0.3 seconds" in result["description"]
    json.dumps(result)


def test_short_read_fails(collector: Start) -> None:
    fake = collector(lambda conn: conn.sendall(struct.pack(">BI", 1, 16) + b"0123"))

    result = check_collector("127.0.0.1", fake.port, 2)

    assert result["success"] == "0"
    assert "4 of 16 bytes" in result["description"]


def test_implausible_length_fails(collector: Start) -> None:
    fake = collector(lambda conn: conn.sendall(struct.pack(">BI", 1, 1 << 30)))

    result = check_collector("127.0.0.1", fake.port, 2)

    assert result["success"] == "0"
    assert "length" in result["description"]


def test_unresolvable_host() -> None:
    result = condor_ping_handler(
        {"condor_host": "no-such-host.invalid", "condor_port": 9618, "timeout": 2}, None
    )

    assert result["success"] == "0"
    assert result["result"] == ""
    assert "no-such-host.invalid" in result["description"]
    json.dumps(result)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"condor_port": 9618, "timeout": 5}, "condor_host"),
        ({"condor_host": "", "condor_port": 9618, "timeout": 5}, "condor_host"),
        ({"condor_host": "h", "condor_port": "ninety", "timeout": 5}, "condor_port"),
        ({"condor_host": "h", "condor_port": 70000, "timeout": 5}, "condor_port"),
        ({"condor_host": "h", "condor_port": 9618, "timeout": "5"}, "timeout"),
        ({"condor_host": "h", "condor_port": 9618, "timeout": 0}, "timeout"),
        ("not an object", "event"),
    ],
)
def test_bad_event(event: object, field: str) -> None:
    result = condor_ping_handler(event, None)

    assert result["success"] == "0"
    assert result["result"] == ""
    assert field in result["description"]
    assert set(result) == {"description", "result", "success"}
