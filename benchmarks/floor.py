"""The floor of a command's AWS calls, measured: the same calls, made by a bare botocore program.

A run of annex-cdk is recorded once (every botocore call: service, region, operation,
parameters, when it started and ended, the error code it got). `rounds` puts the calls in the
rounds they depend on each other by: all at once, or the services asked first, with what the
command knows at its start, then the calls that need their answers. The floor program then makes exactly those
calls, each round's at once, from a fresh interpreter with nothing but botocore: it creates the
first round's clients, sends the round, creates the next round's clients while it is answered,
and leaves as soon as the last answer is in. Its time is what the calls cost a Python program
with the SDK annex-cdk uses: the interpreter, botocore, its clients, the rounds of answers.

`python benchmarks/floor.py record OUT.json -- ARGS...` records `annex-cdk ARGS...`;
`python benchmarks/floor.py replay CALLS.json [SERVICE...]` is the floor program, the services
of the first round given (none: one round).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Call:
    service: str
    region: str
    operation: str
    params: dict[str, Any]
    start: float
    end: float
    error: str | None  # the ClientError code it was answered with, if any

    @classmethod
    def load_all(cls, path: Path) -> list[Call]:
        return [cls(**entry) for entry in json.loads(path.read_text())]


def rounds(calls: Sequence[Call], first: Collection[str] = ()) -> list[list[Call]]:
    """The calls in the rounds they depend on each other by: with `first`, two rounds, those
    of the services in `first` (asked with what the command knows at its start), then the
    others (asked with their answers); without, one round. Each in the order made. Declared
    rather than read from the times: a call that the command's own threads started late is
    still of its round, and the floor must not wait for it."""
    ordered = sorted(calls, key=lambda c: c.start)
    if not first:
        return [ordered] if ordered else []
    grouped = [
        [c for c in ordered if c.service in first],
        [c for c in ordered if c.service not in first],
    ]
    return [r for r in grouped if r]


def describe(grouped: Sequence[Sequence[Call]]) -> str:
    """`2 rounds: 11 calls (cloudformation 10, sts 1); 14 calls (iam 4, ...)`."""

    def one(calls: Sequence[Call]) -> str:
        counts: dict[str, int] = {}
        for call in calls:
            counts[call.service] = counts.get(call.service, 0) + 1
        by = ", ".join(f"{svc} {n}" for svc, n in sorted(counts.items(), key=lambda i: -i[1]))
        return f"{len(calls)} calls ({by})"

    count = f"{len(grouped)} round{'' if len(grouped) == 1 else 's'}"
    return f"{count}: " + "; then ".join(one(r) for r in grouped)


def _record(out: Path, argv: list[str]) -> None:
    """Run the annex-cdk console script in this process, recording its botocore calls."""
    import atexit

    import botocore.client
    import botocore.exceptions

    made: list[dict[str, Any]] = []
    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def recorded(self: Any, operation: str, params: dict[str, Any]) -> Any:
        started, error = time.monotonic(), None
        try:
            return original(self, operation, params)
        except botocore.exceptions.ClientError as err:
            error = str(err.response.get("Error", {}).get("Code"))
            raise
        finally:
            entry = {
                "service": self.meta.service_model.service_name,
                "region": self.meta.region_name,
                "operation": operation,
                "params": params,
                "start": started,
                "end": time.monotonic(),
                "error": error,
            }
            with lock:
                made.append(entry)

    botocore.client.BaseClient._make_api_call = recorded  # type: ignore[method-assign]
    atexit.register(lambda: out.write_text(json.dumps(made)))  # before the command leaves
    from annex_cdk.commands.app import run

    sys.argv = ["annex-cdk", *argv]
    run()


def _replay(path: Path, first: Collection[str]) -> None:
    """The floor program: the recorded calls, round by round, then leave."""
    from concurrent.futures import ThreadPoolExecutor

    import botocore.exceptions
    import botocore.session

    grouped = rounds(Call.load_all(path), first)
    session = botocore.session.get_session()
    clients: dict[tuple[str, str], Any] = {}

    def client(call: Call) -> Any:
        key = (call.service, call.region)
        if key not in clients:
            clients[key] = session.create_client(call.service, region_name=call.region)
        return clients[key]

    def make(call: Call) -> str | None:
        method = getattr(client(call), botocore.xform_name(call.operation))
        try:
            method(**call.params)
        except botocore.exceptions.ClientError as err:
            return str(err.response.get("Error", {}).get("Code"))
        return None

    with ThreadPoolExecutor(max_workers=max(len(r) for r in grouped)) as pool:
        for call in grouped[0]:
            client(call)
        for number, calls in enumerate(grouped):
            answers = [pool.submit(make, call) for call in calls]
            for later in grouped[number + 1 :]:  # while this round is answered
                for call in later:
                    client(call)
            for call, answer in zip(calls, answers, strict=True):
                if answer.result() != call.error:
                    sys.exit(
                        f"{call.service}:{call.operation} answered {answer.result()}, "
                        f"recorded {call.error}"
                    )
        sys.stdout.flush()
        os._exit(0)  # as annex-cdk leaves: no teardown of botocore's modules


def main(argv: Sequence[str]) -> None:
    if len(argv) >= 3 and argv[0] == "record" and argv[2] == "--":
        _record(Path(argv[1]), list(argv[3:]))
    elif len(argv) >= 2 and argv[0] == "replay":
        _replay(Path(argv[1]), set(argv[2:]))
    else:
        sys.exit("usage: floor.py record OUT.json -- ARGS... | replay CALLS.json [SERVICE...]")


if __name__ == "__main__":
    main(sys.argv[1:])
