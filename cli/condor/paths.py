"""Where annex-cdk reads and writes on this machine: files under one HOME, HTCondor's config."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annex_cdk.condor.files import encode_exact
from annex_cdk.condor.parser import effective_values
from annex_cdk.errors import LocalFilesError
from annex_stacks import names

#: condor_annex's fallback HTCondor config location when CONDOR_CONFIG is not set.
SYSTEM_CONDOR_CONFIG = Path("/etc/condor/condor_config")


@dataclass(frozen=True)
class LocalPaths:
    """Files under one HOME; a scratch HOME gives a scratch world (rehearse, tests)."""

    home: Path

    @property
    def condor_dir(self) -> Path:
        return self.home / names.CONDOR_USER_DIR

    @property
    def user_config(self) -> Path:
        return self.condor_dir / names.USER_CONFIG_FILE

    def pem(self, region: str, key_name: str) -> Path:
        """The PEM's path, always directly inside ~/.condor whatever the key's name says
        (a name can come from a stack output, not only from a validated flag)."""
        name = names.pem_file_name(region, key_name)
        pem = self.condor_dir / name
        if "/" in name or "\\" in name or "\0" in name or pem.parent != self.condor_dir:
            raise LocalFilesError(
                f"the key pair name {key_name!r} would put its PEM outside {self.condor_dir}",
                hint="use a key name without path separators (--key-name)",
            )
        return pem

    @staticmethod
    def base_config() -> Path | None:
        """The HTCondor config the user's user_config is read on top of, if any."""
        env = os.environ.get("CONDOR_CONFIG")
        if env and env.upper() != "ONLY_ENV":
            return Path(env)
        return SYSTEM_CONDOR_CONFIG if SYSTEM_CONDOR_CONFIG.exists() else None

    def effective(self, keys: list[str], region: str, *, text: str | None = None) -> dict[str, Any]:
        """What HTCondor (condor_annex's lookup) reads for `keys`: user_config on the base config.

        With `text`, that text stands in for user_config's contents.
        """
        if text is None:
            return effective_values(
                [self.user_config], keys, region, base_config=self.base_config()
            )
        with tempfile.TemporaryDirectory(prefix="annex-cdk-") as tmp:
            stand_in = Path(tmp) / names.USER_CONFIG_FILE
            stand_in.write_bytes(encode_exact(text))  # foreign bytes as they are
            return effective_values([stand_in], keys, region, base_config=self.base_config())
