"""`annex-cdk synth`: the templates from the flags alone; no AWS, no credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annex_cdk.errors import UsageError
from annex_cdk.ops.settings_resolution import from_collector
from annex_stacks import facade
from annex_stacks.settings import AnnexSettings, SettingsError, SettingsFlags


def offline_settings(flags: SettingsFlags, *, region: str | None) -> AnnexSettings:
    """The flags over the defaults: no deployed stacks, local config or AWS are read.

    Without --allow-from the templates allow no one; --collector-host is resolved (DNS only).
    """
    overrides: dict[str, Any] = {"region": region, **flags.given}
    if flags.collector_host:
        overrides.update(
            from_collector(
                flags.collector_host,
                flags,
                cidr="allowed_cidrs" not in flags.given,
                port="collector_port" not in flags.given,
            )
        )
    try:
        return AnnexSettings.from_context({}, **overrides)
    except SettingsError as err:
        raise UsageError(f"invalid setting {err}") from None


def run_synth(flags: SettingsFlags, *, region: str | None, out: Path) -> facade.SynthResult:
    """Synthesize into `out` (the cloud assembly), as `cdk synth` would."""
    # Before jsii starts (seconds): CDK would fail deep inside Node with a stack trace.
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"--out {out} is a file, not a directory", hint="pass a directory for --out"
        )
    return facade.synth(offline_settings(flags, region=region), outdir=out)
