"""A scratch HOME (as the first-time guide leaves it) pointed at the shared emulator."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from annex_cdk.ops.rehearse import scratch_home
from annex_emulator.server import EmulatorProcess
from benchmarks.measure import ROOT, Run, annex_cdk, base_env, cdk_cli, run

REGION = "us-east-1"
#: A documentation address (RFC 5737) standing in for the collector.
ALLOW = "198.51.100.7/32"
#: What `cdk deploy` needs to build the same stacks as `annex-cdk setup --allow-from ALLOW`.
CDK_CONTEXT = ("-c", f'annex:allowedCidrs=["{ALLOW}"]')


class World:
    """One scratch HOME, its HTCondor config and synthesis cache, and the emulator behind them."""

    def __init__(
        self,
        emu: EmulatorProcess,
        *,
        synth_cache: bool = True,
        cache: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        """`cache`: an XDG_CACHE_HOME to use (default: a new, empty one under the root)."""
        self.emu = emu
        self.root = Path(tempfile.mkdtemp(prefix="annex-bench-"))
        self.paths, self.condor_config, _ = scratch_home(self.root)
        self.cache = cache or self.root / "xdg-cache"
        self.synth_cache = synth_cache
        self.extra_env = dict(extra_env or {})

    @property
    def env(self) -> dict[str, str]:
        base = {
            k: v for k, v in base_env().items() if not k.startswith(("AWS_", "_CONDOR_", "CDK_"))
        }
        base["CDK_DISABLE_VERSION_CHECK"] = "1"
        env = self.emu.environ(base)
        env.update(
            HOME=str(self.paths.home),
            AWS_REGION=REGION,
            CONDOR_CONFIG=str(self.condor_config),
            XDG_CACHE_HOME=str(self.cache),
            COLUMNS="200",
        )
        if not self.synth_cache:
            env["ANNEX_CDK_NO_SYNTH_CACHE"] = "1"
        env.update(self.extra_env)
        return env

    def annex(self, *args: str, check: bool = True) -> Run:
        result = run([annex_cdk(), *args], env=self.env, cwd=self.root)
        return result.check(f"annex-cdk {' '.join(args)}") if check else result

    def python(self, *args: str) -> Run:
        """The venv's Python in this world and its directory, as `annex` runs the command (for
        `-X importtime -m annex_cdk ...` and the floor's recording)."""
        return run([sys.executable, *args], env=self.env, cwd=self.root)

    def cdk(self, *args: str) -> Run:
        """The pinned CDK CLI on this repository's app, writing its assembly under the root."""
        command = [cdk_cli(), *args, "--no-notices", "-o", str(self.root / "cdk.out")]
        return run([*command, *CDK_CONTEXT], env=self.env, cwd=ROOT).check(f"cdk {' '.join(args)}")

    def setup(self, *extra: str) -> tuple[Run, dict[str, Any]]:
        result = self.annex("setup", "--json", *extra)
        return result, json.loads(result.stdout)

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def has_option(command: str, option: str) -> bool:
    """Whether `annex-cdk COMMAND --help` lists `option` (features land concurrently)."""
    result = run([annex_cdk(), command, "--help"], env={**base_env(), "COLUMNS": "200"})
    return result.returncode == 0 and option in result.stdout
