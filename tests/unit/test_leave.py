"""A run leaves as the interpreter would (threads joined, atexit handlers run, streams flushed,
the same exit status) without its teardown, where a module's objects are freed one by one
(annex_cdk.commands.leave)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROGRAM = r"""
import atexit, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from annex_cdk.commands.leave import leave

class Heap:
    def __del__(self):
        print("torn down")  # the interpreter's teardown, which leave skips

heap = Heap()

def late():
    time.sleep(0.3)
    print("thread done", flush=True)

ThreadPoolExecutor(2).submit(print, "pooled", flush=True).result()  # a pool never shut down
threading.Thread(target=late).start()  # not a daemon: joined before the process ends
atexit.register(lambda: print("atexit ran"))  # buffered (stdout is a pipe): flushed at exit
sys.stdout.write("buffered\n")
leave(CODE)
print("not reached")
"""


@pytest.mark.parametrize(
    ("code", "status", "stderr"), [("3", 3, ""), ("None", 0, ""), ("'gone'", 1, "gone\n")]
)
def test_leave_exits_as_the_interpreter_does(code: str, status: int, stderr: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM.replace("CODE", code)],
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == status, proc.stderr
    assert proc.stderr == stderr
    assert proc.stdout.splitlines() == ["pooled", "buffered", "thread done", "atexit ran"]
