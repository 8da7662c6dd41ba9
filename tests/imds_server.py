"""An EC2 instance-metadata server on loopback, speaking AWS's documented protocol.

EC2 User Guide, "Use the Instance Metadata Service to access instance metadata": a session
token comes from ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` (1 to
21600 seconds; without it, 400 Bad Request) and goes with every GET as
``X-aws-ec2-metadata-token``; where IMDSv2 is required, a GET without a valid token gets 401
Unauthorized. ``v1_only`` plays an instance where no token can be had (the PUT is refused, as
when the hop limit stops it), ``v2_only`` one where IMDSv2 is required. Every request is
recorded, so a test can tell which carried a token.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TTL = 21600


@dataclass
class Instance:
    """What the metadata of one annex instance says (IMDS's own formatting of the documents)."""

    instance_id: str = "i-0a1b2c3d4e5f67890"
    public_ip: str = "203.0.113.7"
    region: str = "us-east-1"
    profile_arn: str = "arn:aws:iam::123456789012:instance-profile/annex-instance-profile"

    def paths(self) -> dict[str, str]:
        document = (
            "{\n"
            '  "accountId" : "123456789012",\n'
            '  "architecture" : "x86_64",\n'
            '  "availabilityZone" : "' + self.region + 'a",\n'
            '  "instanceId" : "' + self.instance_id + '",\n'
            '  "region" : "' + self.region + '"\n'
            "}"
        )
        info = (
            "{\n"
            '  "Code" : "Success",\n'
            '  "LastUpdated" : "2026-12-05T09:00:00Z",\n'
            '  "InstanceProfileArn" : "' + self.profile_arn + '",\n'
            '  "InstanceProfileId" : "AIPAEXAMPLE"\n'
            "}"
        )
        return {
            "/latest/meta-data/instance-id": self.instance_id,
            "/latest/meta-data/public-ipv4": self.public_ip,
            "/latest/dynamic/instance-identity/document": document,
            "/latest/meta-data/iam/info": info,
        }


@dataclass
class Seen:
    method: str
    path: str
    token: str | None
    status: int


@dataclass
class MetadataServer:
    mode: str  # "v2_only" or "v1_only"
    instance: Instance = field(default_factory=Instance)
    requests: list[Seen] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    url: str = ""

    def gets(self) -> list[Seen]:
        return [r for r in self.requests if r.method == "GET"]


def _handler(server: MetadataServer) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, status: int, body: str = "") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            with lock:
                token = self.headers.get(TOKEN_HEADER)
                server.requests.append(Seen(self.command, self.path, token, status))

        def do_PUT(self) -> None:
            if self.path != TOKEN_PATH:
                return self._reply(404)
            if server.mode == "v1_only":
                return self._reply(403)
            ttl = self.headers.get(TTL_HEADER, "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL:
                return self._reply(400)
            token = secrets.token_urlsafe(32)
            with lock:
                server.tokens.add(token)
            self._reply(200, token)

        def do_GET(self) -> None:
            token = self.headers.get(TOKEN_HEADER)
            if server.mode == "v2_only" and token not in server.tokens:
                return self._reply(401)
            body = server.instance.paths().get(self.path)
            self._reply(404 if body is None else 200, body or "")

    return Handler


@contextmanager
def metadata_server(mode: str, instance: Instance | None = None) -> Iterator[MetadataServer]:
    state = MetadataServer(mode, instance or Instance())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
