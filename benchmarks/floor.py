"""The floor of a command's AWS calls, measured: the same calls, made by a bare botocore program.

A run of annex-cdk is recorded once (every botocore call: service, region, operation,
parameters, the error code it got). The floor program then makes exactly those calls, all at
once as a no-op setup makes them, from a fresh interpreter with nothing but botocore: it
creates their clients, sends every call, and leaves as soon as the last answer is in. Its time
is what the calls cost a Python program with the SDK annex-cdk uses: the interpreter, botocore,
its clients, one round of answers.

`python benchmarks/floor.py record OUT.json -- ARGS...` records `annex-cdk ARGS...`;
`python benchmarks/floor.py replay CALLS.json` is the floor program.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Call:
    service: str
    region: str
    operation: str
    params: dict[str, Any]
    error: str | None  # the ClientError code it was answered with, if any

    @classmethod
    def load_all(cls, path: Path) -> list[Call]:
        return [cls(**entry) for entry in json.loads(path.read_text())]


def describe(calls: Sequence[Call]) -> str:
    """`30 calls (cloudformation 15, iam 4, ...)`."""
    counts: dict[str, int] = {}
    for call in calls:
        counts[call.service] = counts.get(call.service, 0) + 1
    by = ", ".join(f"{svc} {n}" for svc, n in sorted(counts.items(), key=lambda i: -i[1]))
    return f"{len(calls)} calls ({by})"


def _record(out: Path, argv: list[str]) -> None:
    """Run the annex-cdk console script in this process, recording its botocore calls."""
    import atexit

    import botocore.client
    import botocore.exceptions

    made: list[dict[str, Any]] = []
    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def recorded(self: Any, operation: str, params: dict[str, Any]) -> Any:
        error = None
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
                "error": error,
            }
            with lock:
                made.append(entry)

    botocore.client.BaseClient._make_api_call = recorded  # type: ignore[method-assign]
    atexit.register(lambda: out.write_text(json.dumps(made)))  # before the command leaves
    from annex_cdk.commands.app import run

    sys.argv = ["annex-cdk", *argv]
    run()


def _replay(path: Path) -> None:
    """The floor program: the recorded calls, all at once, then leave."""
    from concurrent.futures import ThreadPoolExecutor

    import botocore.exceptions
    import botocore.session

    calls = Call.load_all(path)
    session = botocore.session.get_session()
    clients = {
        key: session.create_client(key[0], region_name=key[1])
        for key in dict.fromkeys((call.service, call.region) for call in calls)
    }

    def make(call: Call) -> str | None:
        method = getattr(clients[call.service, call.region], botocore.xform_name(call.operation))
        try:
            method(**call.params)
        except botocore.exceptions.ClientError as err:
            return str(err.response.get("Error", {}).get("Code"))
        return None

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        answers = [pool.submit(make, call) for call in calls]
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
    elif len(argv) == 2 and argv[0] == "replay":
        _replay(Path(argv[1]))
    else:
        sys.exit("usage: floor.py record OUT.json -- ARGS... | replay CALLS.json")


if __name__ == "__main__":
    main(sys.argv[1:])
