"""CDK stacks, constructs, settings and names for the HTCondorAnnex-* setup.

`build_app`/`synth` are the façade. The package imports lazily (PEP 562): `import
annex_stacks.names` stays cheap, and nothing here imports aws_cdk until a synthesis.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "AnnexSettings": "annex_stacks.settings",
    "SettingsError": "annex_stacks.settings",
    "SynthResult": "annex_stacks.facade",
    "build_app": "annex_stacks.facade",
    "recorded_context": "annex_stacks.facade",
    "run_cdk_app": "annex_stacks.facade",
    "settings_from_app_context": "annex_stacks.facade",
    "synth": "annex_stacks.facade",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'annex_stacks' has no attribute {name!r}")
