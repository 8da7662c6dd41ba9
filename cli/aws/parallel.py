"""Independent AWS calls made at once, their answers in the order they were asked for.

At AWS's latency (~100 ms a call) a check that asks thirty questions one after another takes
seconds; asked at once, they take the time of the slowest. The clients are shared
(AwsTarget.client hands one per service, and boto3's clients are thread-safe).

A failure is raised only after every call has ended, and it is the first one in the order
given, not in time, so that a run fails with the error the same calls made one by one would
have: what comes before it in that order is kept (see `Settled`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")

#: The most calls in flight from one gathering (a re-run with nothing to change reads every
#: stack's resource list and some 13 resources at once). Each client's connection pool holds
#: more (session.MAX_POOL_CONNECTIONS), so that nested gatherings never wait for a connection.
MAX_WORKERS = 24


@dataclass(frozen=True)
class Settled(Generic[T]):
    """How one call ended: its value, or the exception it raised."""

    value: T | None = None
    error: BaseException | None = None

    def get(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # None only where T allows it


def _run(call: Callable[[], T]) -> Settled[T]:
    try:
        return Settled(call())
    except Exception as err:  # kept for the caller, in its place
        return Settled(error=err)


def settle(calls: Iterable[Callable[[], T]], *, name: str = "aws") -> list[Settled[T]]:
    """Run every call at once and wait for them all; how each ended, in the order given."""
    calls = list(calls)
    if len(calls) <= 1:  # no thread for a single call
        return [_run(call) for call in calls]
    workers = min(len(calls), MAX_WORKERS)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        return list(pool.map(_run, calls))


class InBackground(Generic[T]):
    """A call started now in a thread of its own, its answer (or its error) taken later: AWS
    reads made while this thread reads local files. If the caller fails first, the call's
    answer is dropped (the thread is a daemon: it never holds the process)."""

    def __init__(self, call: Callable[[], T], *, name: str = "aws") -> None:
        self._ended: Settled[T] | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), name=name, daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._ended = Settled(call())
        except BaseException as err:  # a synthesis's KeyboardInterrupt too: the caller's to raise
            self._ended = Settled(error=err)

    def result(self) -> T:
        self._thread.join()
        assert self._ended is not None  # set before the thread ends
        return self._ended.get()

    def wait(self) -> None:
        """Wait for the call to end, its answer or error dropped: for a caller that failed
        first and must not leave the call running behind it (a synthesis's temporary files)."""
        self._thread.join()


def gather(calls: Iterable[Callable[[], T]], *, name: str = "aws") -> list[T]:
    """Every call's answer, in the order given; the first failure in that order is raised."""
    return [settled.get() for settled in settle(calls, name=name)]


@overload
def at_once(a: Callable[[], A], b: Callable[[], B], /, *, name: str = ...) -> tuple[A, B]: ...
@overload
def at_once(
    a: Callable[[], A], b: Callable[[], B], c: Callable[[], C], /, *, name: str = ...
) -> tuple[A, B, C]: ...
def at_once(*calls: Callable[[], Any], name: str = "aws") -> tuple[Any, ...]:
    """gather, for calls of different types: their answers as a tuple."""
    return tuple(gather(calls, name=name))
