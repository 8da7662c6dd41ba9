"""How a run leaves: as the interpreter would, but without tearing its heap down.

Python's exit joins the threads that are not daemons, runs the atexit handlers, flushes the
standard streams, and then frees every module and object one by one. After a synthesis that
last step alone took about 0.3 s (CDK's Python modules are tens of megabytes of objects), on
every setup and diff that synthesized. Nothing of ours waits for it: files are written and
closed by then, and whatever must happen at exit is an atexit handler (jsii stopping node,
temporary directories removed, HTCondor's parser ended). So the run does the first three
steps itself and ends the process with the exit status.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def status(code: object) -> int:
    """The process's exit status for `sys.exit(code)`, as the interpreter makes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)  # sys.exit("message"): printed, status 1
    return 1


def leave(code: object) -> NoReturn:
    """Exit with `code` (what sys.exit takes) after the interpreter's exit steps, without its
    teardown. Should a step fail (a reader that closed our stdout, Ctrl-C while a thread is
    joined), the interpreter's own exit takes over, as it would have anyway."""
    try:
        exit_steps()
    except BaseException:
        raise SystemExit(code) from None
    os._exit(status(code))


def exit_steps() -> None:
    """The interpreter's exit before its teardown, in its order."""
    # What Py_FinalizeEx does first: wake the thread pools' workers, join the threads that
    # are not daemons (the SSM lock's release among them).
    threading._shutdown()  # type: ignore[attr-defined]  # private, in every CPython from 3.4 on; the interpreter's own first exit step
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
