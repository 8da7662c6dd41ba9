"""A first setup here starts loading CDK with the command, before its targets are known.

With no record of any setup (any endpoint, any region: `deployed_record`) and nothing in the
synthesis cache, a setup synthesizes. Loading CDK (its modules, jsii's Node process,
aws-cdk-lib's assembly: about a second) is the longest part of a first setup, and it waited
for the targets (HTCondor's parser reads the key files) and the use case's import: about a
fifth of a second. Judged from the cache directory alone, so this module imports no AWS
client nor the use case. A wrong guess costs a second of CPU, never a result; and a first
setup stopped by its targets (a key file HTCondor's config names is missing, say) waits for the
loading before it exits, as every later fault of a first setup did already.
"""

from __future__ import annotations

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
