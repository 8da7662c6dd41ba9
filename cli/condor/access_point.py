"""The access-point side (HTCondor >= 24.11.2): what `htcondor annex create` needs locally.

Facts with their sources: shared/reference/htcondor_24_11_annex.md. The block is
``use feature:HPC_ANNEX`` (param_info.in:7573-7666), ``NETWORK_INTERFACE`` and
``TCP_FORWARDING_HOST`` (the public name the execution points reach the access point by). No
pool password and nothing that limits daemon authentication to PASSWORD: the execution points
authenticate with an IDTOKEN fetched from the local schedd. This module is pure logic on the
values HTCondor's parser returns; personal.py reads them and writes the block.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass

from annex_stacks import names

_LIST_RE = re.compile(r"[,\s]+")
#: The knobs read back for the checks, per subsystem (names.ACCESS_POINT_SUBSYSTEMS).
CHECK_KEYS: tuple[str, ...] = (
    names.KEY_HPC_ANNEX_ENABLED,
    names.KEY_ANNEX_COLLECTOR,
    names.KEY_ANNEX_TOKEN_KEY_NAME,
    names.KEY_ANNEX_TOKEN_DOMAIN,
    names.KEY_TOKEN_FETCH_KEYS,
    names.KEY_USE_SHARED_PORT,
    names.KEY_ALLOW_WRITE,
    names.KEY_ALLOW_READ,
    names.KEY_DEFAULT_AUTH_METHODS,
    *(f"SEC_{level}_AUTHENTICATION_METHODS" for level in names.IDTOKEN_LEVELS),
)


def block_lines(network_interface: str, public_host: str) -> list[str]:
    """The access point's lines, with the comments that say why (block.py adds the markers)."""
    return [
        "# Access point for `htcondor annex create NAME TYPE@aws-ec2` (HTCondor >= 24.11.2):",
        "# the AP collector, annex tokens from the local schedd, jobs routed to their annex",
        names.USE_HPC_ANNEX_LINE,
        "# Execution points on EC2 connect back to this machine's shared port by this name",
        f"{names.KEY_NETWORK_INTERFACE} = {network_interface}",
        f"{names.KEY_TCP_FORWARDING_HOST} = {public_host}",
    ]


def block_values(network_interface: str, public_host: str) -> dict[str, str]:
    return {
        names.KEY_NETWORK_INTERFACE: network_interface,
        names.KEY_TCP_FORWARDING_HOST: public_host,
    }


def is_access_point_block(text: str) -> bool:
    return any(line.strip() == names.USE_HPC_ANNEX_LINE for line in text.splitlines())


def _items(value: object) -> list[str]:
    return [x for x in _LIST_RE.split(str(value or "")) if x]


def _true(value: object) -> bool:
    return str(value).strip().lower() in {"true", "1", "yes"}


def covers(allow: object, identity: str) -> bool:
    """An ALLOW_* list admits ``identity`` (user@domain) from any host (EC2 addresses vary).

    Entries are ``user@domain/host``, ``user@domain`` or a host; ``*`` wildcards. A host-only
    entry other than ``*`` admits only that host, which the execution points are not. An
    unset list admits no one by itself (condor_ipverify.cpp:134-138: only other levels that
    imply WRITE/READ), so it does not cover the user either.
    """
    for entry in _items(allow):
        user, slash, host = entry.partition("/")
        if slash and host != "*":
            continue
        if "@" not in user:
            if user == "*" and not slash:
                return True
            if slash and user == "*":
                return True
            continue
        if fnmatch.fnmatchcase(identity, user):
            return True
    return False


def _methods(got: Mapping[str, object], level: str) -> tuple[str, list[str]]:
    """(the knob that decides, its methods) for one authorization level."""
    key = f"SEC_{level}_AUTHENTICATION_METHODS"
    if got.get(key):
        return key, [x.upper() for x in _items(got.get(key))]
    if level.startswith("ADVERTISE_"):
        return _methods(got, "DAEMON")
    key = names.KEY_DEFAULT_AUTH_METHODS
    return key, [x.upper() for x in _items(got.get(key))]


@dataclass(frozen=True)
class Finding:
    key: str  # the knob to look for (where it is set)
    subsystems: tuple[str, ...]
    message: str


def check(
    effective: Mapping[str, Mapping[str, object]], public_host: str, user: str
) -> list[Finding]:
    """What stops `htcondor annex create` or the execution points, from each program's values."""
    found: dict[tuple[str, str], list[str]] = {}

    def add(key: str, subsystem: str, message: str) -> None:
        found.setdefault((key, message), []).append(subsystem)

    tool = effective.get("TOOL", {})
    if not _true(tool.get(names.KEY_HPC_ANNEX_ENABLED)):
        add(
            names.KEY_HPC_ANNEX_ENABLED, "TOOL",
            "HPC_ANNEX_ENABLED is not true, so `htcondor annex create` refuses ("
            "\"HPC Annex functionality has not been enabled\")",
        )  # fmt: skip
    collector = str(tool.get(names.KEY_ANNEX_COLLECTOR) or "")
    host = collector.split("?", 1)[0].rsplit(":", 1)[0]
    if host != public_host:
        add(
            names.KEY_ANNEX_COLLECTOR, "TOOL",
            f"ANNEX_COLLECTOR is {collector or 'unset'!r}, not on the public name "
            f"{public_host!r} the execution points must reach",
        )  # fmt: skip
    key_name = str(tool.get(names.KEY_ANNEX_TOKEN_KEY_NAME) or "")
    domain = str(tool.get(names.KEY_ANNEX_TOKEN_DOMAIN) or "")
    identity = f"{user}@{domain}"
    for subsystem, got in effective.items():
        if subsystem == "TOOL":
            continue
        if subsystem == "SCHEDD" and key_name not in _items(got.get(names.KEY_TOKEN_FETCH_KEYS)):
            add(
                names.KEY_TOKEN_FETCH_KEYS, subsystem,
                f"SEC_TOKEN_FETCH_ALLOWED_SIGNING_KEYS "
                f"({got.get(names.KEY_TOKEN_FETCH_KEYS) or 'unset'}) does not allow the annex "
                f"token key {key_name!r}, so the schedd will not sign the annex's token",
            )  # fmt: skip
        if not _true(got.get(names.KEY_USE_SHARED_PORT)):
            add(
                names.KEY_USE_SHARED_PORT, subsystem,
                "USE_SHARED_PORT is off; the annex collector is a shared-port socket",
            )  # fmt: skip
        for level in names.IDTOKEN_LEVELS:
            key, methods = _methods(got, level)
            if not names.IDTOKEN_METHODS & set(methods):
                add(
                    key, subsystem,
                    f"IDTOKENS is not among the {level} authentication methods "
                    f"({key} = {', '.join(methods) or 'none'}), so the execution points "
                    "cannot authenticate with their annex token",
                )  # fmt: skip
        for key in (names.KEY_ALLOW_WRITE, names.KEY_ALLOW_READ):
            if not covers(got.get(key), identity):
                add(
                    key, subsystem,
                    f"{key} ({got.get(key) or 'unset'}) does not admit {identity} from any "
                    "host, the identity of the annex's token",
                )  # fmt: skip
    return [Finding(key, tuple(who), message) for (key, message), who in found.items()]
