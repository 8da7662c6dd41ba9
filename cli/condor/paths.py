"""Where annex-cdk reads and writes on this machine: files under one HOME, HTCondor's config."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from annex_cdk.condor.files import encode_exact, read_optional
from annex_cdk.condor.parser import (
    effective_values,
    effective_values_by_region,
    user_config_setting,
)
from annex_cdk.condor.syntax import ConfigError, HTCondorUnavailableError
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

    @cached_property
    def user_config(self) -> Path:
        """The user config condor_annex reads: USER_CONFIG_FILE as HTCondor resolves it.

        As find_user_file does (condor_config.cpp, v24.11.2 lines 1449-1470): an absolute
        name as it is, a relative one inside ~/.condor of this HOME (HTCondor takes the
        account's home from the password database; annex-cdk's HOME stands for it, so a
        scratch HOME gives a scratch world). Default: ~/.condor/user_config.
        """
        base = self.base_config()
        try:
            setting = user_config_setting(base)
        except HTCondorUnavailableError as err:  # our Python, not the config, is the fault
            raise LocalFilesError(
                f"cannot find the user config: {err}",
                hint=f"make {sys.executable} runnable by you (it runs HTCondor's parser)",
            ) from None
        except ConfigError as err:
            raise LocalFilesError(
                f"cannot find the user config: {err}",
                hint=f"fix {base or 'the HTCondor config'} so that HTCondor can read it",
            ) from None
        if not setting:
            raise LocalFilesError(
                f"{base} sets {names.USER_CONFIG_KNOB} empty, so HTCondor (and condor_annex) "
                "reads no user config and would not see annex-cdk's settings",
                hint=f"remove that {names.USER_CONFIG_KNOB} line, or name a file there",
            )
        # HTCondor's fullpath() on Unix: a leading slash; no ~ or other expansion.
        path = Path(setting)
        return path if setting.startswith("/") else self.condor_dir / path

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
            return self.effective_by_region({region: keys})[region]
        with tempfile.TemporaryDirectory(prefix="annex-cdk-") as tmp:
            stand_in = Path(tmp) / names.USER_CONFIG_FILE
            stand_in.write_bytes(encode_exact(text))  # foreign bytes as they are
            return effective_values([stand_in], keys, region, base_config=self.base_config())

    def effective_by_region(self, keys: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Any]]:
        """`effective` for several regions (`keys` by region), in one run of HTCondor's parser.

        What was read before is not read again while user_config and the base config hold the
        same bytes: the several reads of one command (each region's key files, then its image
        and collector) are one run, made at its start (`AwsOptions.targets`).
        """
        base = self.base_config()
        read = self._read
        with read.lock:
            stamp = _stamp(base, self.user_config)
            if stamp is None or stamp != read.stamp:
                read.values.clear()
                read.stamp = stamp
            missing = {
                region: [k for k in wanted if (region, k) not in read.values]
                for region, wanted in keys.items()
            }
            missing = {region: wanted for region, wanted in missing.items() if wanted}
            if missing:
                found = effective_values_by_region([self.user_config], missing, base_config=base)
                for region, values in found.items():
                    read.values.update({(region, k): v for k, v in values.items()})
            answer = {
                region: {k: read.values[(region, k)] for k in wanted}
                for region, wanted in keys.items()
            }
            if stamp is None:
                read.values.clear()  # files it could not read: nothing kept
            return answer

    @cached_property
    def _read(self) -> _Read:
        return _Read()


def _stamp(base: Path | None, user_config: Path) -> tuple[object, ...] | None:
    """What HTCondor's answers depend on, as far as a look at the bytes tells (None: a file
    that cannot be read, which HTCondor is left to report)."""
    try:
        return (base, read_optional(base) if base else None, read_optional(user_config))
    except LocalFilesError:
        return None


@dataclass
class _Read:
    """What HTCondor read (by region and key), and the files' bytes it read then."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    stamp: tuple[object, ...] | None = None
    values: dict[tuple[str, str], Any] = field(default_factory=dict)
