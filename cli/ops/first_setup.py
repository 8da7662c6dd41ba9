"""A first setup here starts loading CDK as soon as its targets are found.

With no record of any setup (any endpoint, any region: `deployed_record`) and nothing in the
synthesis cache, a setup synthesizes. Loading CDK (its modules, jsii's Node process,
aws-cdk-lib's assembly: about a second) is the longest part of a first setup, and it waited
for the use case's import and the start of the run (about a fifth of a second) as well as for
the targets. Judged from the cache directory alone, so this module imports no AWS client nor
the use case. A wrong guess costs a second of CPU, never a result. Not before the targets are
found: a run they stop (a key file HTCondor's config names is missing, say) would have waited
for the loading before it exits (on a machine's first CDK app, jsii unpacking aws-cdk-lib:
seconds).
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future
from typing import Any

from annex_cdk.local_cache import DEPLOYED_DIR, SYNTH_DIR, holds_json
from annex_stacks.facade import warm_up


def nothing_kept() -> bool:
    """No record of a setup and no synthesized templates under the user's cache."""
    return not holds_json(DEPLOYED_DIR) and not holds_json(SYNTH_DIR)


def load_cdk_if_first() -> bool:
    """Start loading CDK if this looks like the first setup here; whether it did."""
    if nothing_kept():
        warm_up()
        return True
    return False


def once_found(targets: Future[Any]) -> None:
    """`load_cdk_if_first` once the targets are found, in the thread that found them; nothing
    if finding them failed. A guess: whatever goes wrong here is left to the run."""
    if targets.cancelled() or targets.exception() is not None:
        return
    with contextlib.suppress(Exception):
        load_cdk_if_first()
