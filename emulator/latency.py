"""AWS's answer time, played by the emulator: every AWS request waits before it is answered.

moto answers in about a millisecond; an AWS API call from a submit host takes tens to hundreds.
A tool that makes many calls one after another looks fast on the bare emulator and is slow on
an account, so the benchmarks (and anyone who wants to see what a real account costs) run the
emulator with `--latency-ms`: a delay for every service, and one per service where AWS publishes
a figure of its own (`s3=30`). Requests wait in their own server thread, so concurrent calls
overlap as they do against AWS; the health and fault endpoints never wait.

The delay is the time from a request's arrival to its answer, the emulator's own work included:
AWS's figures include the service's work, which AWS does on its side and for many callers at
once. Added on top instead, moto's CPU (one process, one interpreter lock) would make a round of
concurrent calls slower than one call, which on AWS it is not.

The service is read from the request's SigV4 credential scope
(`Credential=AKID/20260101/us-east-1/cloudformation/aws4_request`), which every AWS SDK sends.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

#: The key of the delay for every service without one of its own.
EVERY_SERVICE = "*"

#: What the benchmarks call realistic, in milliseconds per call.
#: - Every service: 100 ms. AWS publishes no per-call latency for its control-plane APIs
#:   (CloudFormation, EC2, IAM, SSM, STS, Lambda, Logs); 100 ms is one HTTPS round trip from a
#:   submit host on the same continent as the region plus the service's own work. Measured
#:   empty HTTP calls between AWS regions take 0.27 s (Oregon-Ireland) to 0.67 s
#:   (Sao Paulo-Sydney) (https://bytecode.tech/aws-latency-index), so for a user far from the
#:   region this is optimistic, never pessimistic.
#: - S3: 30 ms. AWS's S3 performance guide: for requests under 512 KB "median latencies are
#:   often in the tens of milliseconds range"
#:   (https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html).
REALISTIC_MS: Mapping[str, float] = {EVERY_SERVICE: 100.0, "s3": 30.0}

_SPEC = re.compile(r"^(?:(?P<service>[a-z0-9-]+)=)?(?P<ms>[0-9]+(?:\.[0-9]+)?)$")
_SCOPE = re.compile(r"Credential=[^/,\s]+/[0-9]{8}/[^/]+/(?P<service>[^/]+)/aws4_request")


class LatencyError(ValueError):
    """A `--latency-ms` value that is neither `MS` nor `SERVICE=MS`."""


def parse(specs: Sequence[str]) -> dict[str, float]:
    """`["100", "s3=30"]` -> {"*": 100.0, "s3": 30.0}; a later value for a service wins."""
    delays: dict[str, float] = {}
    for spec in specs:
        match = _SPEC.match(spec.strip())
        if match is None:
            raise LatencyError(
                f"--latency-ms {spec!r}: give milliseconds (100) or SERVICE=milliseconds (s3=30)"
            )
        delays[match["service"] or EVERY_SERVICE] = float(match["ms"])
    return delays


def as_args(delays: Mapping[str, float]) -> list[str]:
    """The `--latency-ms` arguments that `parse` reads back as `delays`."""
    args: list[str] = []
    for service, ms in delays.items():
        args += ["--latency-ms", f"{ms:g}" if service == EVERY_SERVICE else f"{service}={ms:g}"]
    return args


def describe(delays: Mapping[str, float]) -> str:
    """`{"*": 100, "s3": 30}` -> "100 ms, s3 30 ms" (no delays: "0 ms")."""
    if not delays:
        return "0 ms"
    return ", ".join(
        f"{ms:g} ms" if name == EVERY_SERVICE else f"{name} {ms:g} ms"
        for name, ms in delays.items()
    )


def service(environ: Mapping[str, Any]) -> str | None:
    """The AWS service a WSGI request is signed for, or None if it is not signed."""
    match = _SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    return match["service"] if match else None


def seconds_for(delays: Mapping[str, float], environ: Mapping[str, Any]) -> float:
    """How long this request waits: its service's delay, else the one for every service."""
    if not delays:
        return 0.0
    name = service(environ)
    ms = delays.get(name, delays.get(EVERY_SERVICE, 0.0)) if name else delays.get(EVERY_SERVICE)
    return (ms or 0.0) / 1000


def deadline(delays: Mapping[str, float], environ: Mapping[str, Any]) -> float:
    """When (time.monotonic) the answer to a request arriving now may leave."""
    return time.monotonic() + seconds_for(delays, environ)


def wait_until(when: float) -> None:
    if (left := when - time.monotonic()) > 0:
        time.sleep(left)
