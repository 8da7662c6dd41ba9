"""The per-account overrides file of `annex-cdk org deploy --overrides FILE` (TOML), and the
security group's CIDR slots that carry the defaults and each account's override.

    # Each lab's collector, where it differs from --allow-from.
    [accounts."111111111111"]
    allow-from = ["198.51.100.7/32"]

    [accounts."222222222222"]
    allow-from = ["203.0.113.0/28", "2001:db8::/64"]

An account's `allow-from` replaces the defaults (--allow-from) in that account, in every Region.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from annex_cdk.errors import UsageError
from annex_stacks import names
from annex_stacks.settings import AnnexSettings, SettingsError

_ACCOUNT_RE = re.compile(r"^\d{12}$")
_KEYS = frozenset({"allow-from"})


def read_overrides(path: Path) -> dict[str, tuple[str, ...]]:
    """Account -> its CIDRs, from the file; every fault is one line naming the file."""
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as err:
        raise UsageError(f"--overrides {path}: {err.strerror or err}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"--overrides {path} is not TOML: {err}") from None
    unknown = sorted(set(data) - {"accounts"})
    if unknown:
        raise UsageError(f"--overrides {path}: unknown table(s) {unknown}; only [accounts.ID]")
    accounts = data.get("accounts", {})
    if not isinstance(accounts, dict):
        raise UsageError(f'--overrides {path}: accounts must be tables [accounts."ID"]')
    found: dict[str, tuple[str, ...]] = {}
    for account, entry in accounts.items():
        where = f"--overrides {path}: account {account}"
        if not _ACCOUNT_RE.match(str(account)):
            raise UsageError(f'{where} is not a 12-digit account id (quote it: "0123...")')
        if not isinstance(entry, dict) or set(entry) - _KEYS or not entry:
            raise UsageError(f'{where}: expected only allow-from = ["CIDR", ...]')
        cidrs = entry["allow-from"]
        if not isinstance(cidrs, list) or not all(isinstance(c, str) for c in cidrs):
            raise UsageError(f"{where}: allow-from must be a list of CIDR strings")
        found[str(account)] = checked_cidrs(cidrs, where=where)
    return found


def checked_cidrs(cidrs: Iterable[str], *, where: str) -> tuple[str, ...]:
    """The CIDRs normalised as setup normalises --allow-from, and within the slots."""
    try:
        normal = AnnexSettings(allowed_cidrs=tuple(cidrs)).allowed_cidrs
    except SettingsError as err:
        raise UsageError(f"{where}: {err}") from None
    for version in (4, 6):
        count = sum(ipaddress.ip_network(c).version == version for c in normal)
        if count > names.CIDR_SLOTS:
            raise UsageError(
                f"{where}: {count} IPv{version} CIDRs; a StackSet's security group takes at "
                f"most {names.CIDR_SLOTS} per address family",
                hint="merge them into wider networks",
            )
    return normal


def cidr_slots(cidrs: Iterable[str]) -> dict[str, str]:
    """Every CIDR slot parameter of the template, filled from `cidrs` in order ('' unused)."""
    slots = {names.cidr_parameter(v, i): "" for v in (4, 6) for i in range(1, names.CIDR_SLOTS + 1)}
    used = {4: 0, 6: 0}
    for cidr in cidrs:
        version = ipaddress.ip_network(cidr).version
        used[version] += 1
        slots[names.cidr_parameter(version, used[version])] = cidr
    return slots


def slot_cidrs(parameters: Mapping[str, str]) -> tuple[str, ...]:
    """The CIDRs that slot parameters hold, in slot order."""
    return tuple(
        parameters[p]
        for p in (
            names.cidr_parameter(v, i) for v in (4, 6) for i in range(1, names.CIDR_SLOTS + 1)
        )
        if parameters.get(p)
    )
