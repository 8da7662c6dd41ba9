"""Loading CDK in the background (facade.warm_up) while a run reads AWS: a run that ends
before it synthesizes exits cleanly, whatever the loading was doing."""

from __future__ import annotations

import subprocess
import sys

#: Exits at once after starting the loading, at several points of it.
_EXIT_EARLY = """
import sys, time
from annex_stacks import facade
facade.warm_up()
time.sleep(float(sys.argv[1]))
"""


def test_a_run_that_ends_while_cdk_loads_exits_without_a_traceback() -> None:
    for delay in ("0", "0.3", "1.0"):
        proc = subprocess.run(
            [sys.executable, "-c", _EXIT_EARLY, delay],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr


def test_the_loading_is_waited_for_at_exit() -> None:
    """jsii writes its runtime's files into a temporary directory the interpreter's exit
    removes: the loading thread is no daemon, so the exit waits for it instead of removing
    the directory under it ("Directory not empty")."""
    from annex_stacks import facade

    facade.warm_up()
    facade._warmed_up()
    assert facade._warming is not None and not facade._warming.daemon
