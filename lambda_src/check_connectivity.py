"""HTCondorAnnex-CheckConnectivity: can AWS reach the collector, and is it the right one?

condor_annex wants success == "1" and result == the collector's instance ID. Stdlib only.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from typing import Any

log = logging.getLogger("annex.check_connectivity")
log.setLevel(logging.INFO)

DC_QUERY_INSTANCE = 60045
# One raw CEDAR frame: end-of-message header 1, payload length 8, the command as a 64-bit int.
REQUEST = struct.pack(">BIq", 1, 8, DC_QUERY_INSTANCE)
# The answer is a 16-character ID; anything far larger is not a collector.
_MAX_PAYLOAD = 4096


def _reply(success: bool, description: str, result: str = "") -> dict[str, str]:
    return {"description": description, "result": result, "success": "1" if success else "0"}


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = b""
    while len(buf) < n:
        # The timeout bounds the whole exchange, so a trickling peer cannot stall us.
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def check_collector(host: str, port: int, timeout: float) -> dict[str, str]:
    where = f"{host}:{port}"
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(REQUEST)
            _header, length = struct.unpack(">BI", _recv_exact(sock, 5, deadline))
            if length > _MAX_PAYLOAD:
                return _reply(False, f"{where} sent an implausible length {length}")
            payload = _recv_exact(sock, length, deadline)
    except socket.gaierror as e:
        return _reply(False, f"cannot resolve {host}: {e}")
    except TimeoutError:
        return _reply(False, f"no answer from {where} within {timeout} seconds")
    except (OSError, UnicodeError) as e:
        return _reply(False, f"cannot talk to {where}: {e}")
    # latin-1 maps every byte, and the Lambda runtime cannot JSON-encode bytes.
    instance_id = payload.decode("latin-1")
    log.info("%s answered with instance ID %s", where, instance_id)
    return _reply(True, f"collector at {where} answered", instance_id)


def condor_ping_handler(event: Any, context: Any) -> dict[str, str]:
    if not isinstance(event, dict):
        return _reply(False, "event must be a JSON object")
    # condor_annex always sends all three; the defaults are what it would send.
    host = event.get("condor_host")
    port = event.get("condor_port", 9618)
    timeout = event.get("timeout", 5)
    if not isinstance(host, str) or not host.strip():
        return _reply(False, "condor_host is missing or empty")
    try:
        if isinstance(port, bool) or not 0 < int(port) < 65536:
            raise ValueError
        port = int(port)
    except (TypeError, ValueError):
        return _reply(False, f"condor_port is not a valid port: {port!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        return _reply(False, f"timeout is not a positive number: {timeout!r}")
    return check_collector(host.strip(), port, float(timeout))
