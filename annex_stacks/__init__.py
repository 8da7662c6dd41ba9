"""CDK stacks, constructs, settings and names for the HTCondorAnnex-* setup.

`build_app`/`synth` are the façade; importing this package does not import aws_cdk.
"""

from annex_stacks.facade import (
    SynthResult,
    build_app,
    recorded_context,
    run_cdk_app,
    settings_from_app_context,
    synth,
)
from annex_stacks.settings import AnnexSettings, SettingsError

__all__ = [
    "AnnexSettings",
    "SettingsError",
    "SynthResult",
    "build_app",
    "recorded_context",
    "run_cdk_app",
    "settings_from_app_context",
    "synth",
]
