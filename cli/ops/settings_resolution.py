"""Settings as a run resolves them: flag > what the deployed stacks record > the local
HTCondor config > default (the collector's address read from COLLECTOR_HOST)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from typing import Any

from annex_cdk import console
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.errors import UsageError
from annex_stacks import names
from annex_stacks.settings import (
    SETTINGS,
    AnnexSettings,
    SettingsError,
    SettingsFlags,
    host_bits_warnings,
)


def collector_cidr(collector_host: str) -> tuple[str, int | None]:
    """The collector's public address as a /32 (or /128), and the port COLLECTOR_HOST names."""
    host, port = _split_host_port(collector_host)
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        raise UsageError(
            f"cannot resolve the collector host {host!r}",
            hint="pass --allow-from CIDR with the address annex instances will see",
        ) from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    public = [a for a in addresses if a.is_global]
    if not public:
        raise UsageError(
            f"the collector host {host} resolves to {addresses[0]}, which is not a public "
            "address: annex instances could not reach it there",
            hint="pass --allow-from CIDR with the public address or network of your collector",
        )
    addr = next((a for a in public if a.version == 4), public[0])
    return f"{addr}/{addr.max_prefixlen}", port


def _split_host_port(value: str) -> tuple[str, int | None]:
    value = value.strip()
    # HTCondor sinful strings: <host:port?...>
    value = value.strip("<>").split("?", 1)[0]
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.lstrip(":")
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
    try:
        return host, int(port) if port else None
    except ValueError:
        raise UsageError(f"COLLECTOR_HOST {value!r} has a port that is not a number") from None


def resolve_settings(
    flags: SettingsFlags,
    *,
    region: str,
    recorded: Mapping[str, Any],
    paths: LocalPaths | None,
    quiet: bool = False,
) -> AnnexSettings:
    """flag > what the deployed stacks record > the local HTCondor config > default.

    paths None (--no-local): no HTCondor config is read, so the CIDR must come from a flag or
    from what the deployed stacks record. `quiet`: say nothing (a first, tentative resolution
    that the run may do again and then report)."""
    overrides: dict[str, Any] = {"region": region, **flags.given}
    ctx = dict(recorded)
    # An explicit --collector-host is a flag like any other: it wins over what the deployed
    # stacks record (a moved collector must move the security group's /32 with it). A CIDR
    # that was derived from COLLECTOR_HOST is derived again from COLLECTOR_HOST as it is now.
    configured = None
    if ctx.get(names.CTX_CIDRS_FROM_COLLECTOR) and paths is not None and not flags.collector_host:
        configured = paths.effective([names.KEY_COLLECTOR_HOST], region)[names.KEY_COLLECTOR_HOST]
    told = flags.collector_host is not None or bool(configured)
    needs_cidr = "allowed_cidrs" not in flags.given and (told or names.CTX_ALLOWED_CIDRS not in ctx)
    needs_port = "collector_port" not in flags.given and (
        told or names.CTX_COLLECTOR_PORT not in ctx
    )
    if needs_cidr or (needs_port and flags.collector_host):
        host = flags.collector_host or configured
        if not host and paths is not None:
            host = paths.effective([names.KEY_COLLECTOR_HOST], region)[names.KEY_COLLECTOR_HOST]
        if not host:
            raise UsageError(
                "no --allow-from given and no COLLECTOR_HOST in the local HTCondor config"
                if paths is not None
                else "no --allow-from given, none deployed, and --no-local reads no HTCondor "
                "config",
                hint="pass --allow-from CIDR (the network annex instances accept HTCondor from) "
                "or --collector-host HOST",
            )
        overrides.update(from_collector(host, flags, cidr=needs_cidr, port=needs_port, quiet=quiet))
        if needs_cidr:
            overrides["cidrs_from_collector"] = host
    for warning in () if quiet else host_bits_warnings(flags.given.get("allowed_cidrs", ())):
        console.warn(warning)
    if "allowed_cidrs" in flags.given:
        ctx.pop(names.CTX_CIDRS_FROM_COLLECTOR, None)  # the CIDRs come from the flag now
    try:
        settings = AnnexSettings.from_context(ctx, **overrides)
    except SettingsError as err:
        raise UsageError(f"invalid setting {err}") from None
    _refuse_flags_without_effect(flags, settings)
    return settings


#: Settings that only shape an add-on stack, by the switch that deploys it.
_ONLY_WITH = {
    "image_htcondor": "build_image",
    "image_arch": "build_image",
    "image_version": "build_image",
    "ci_repository": "ci_roles",
    "ci_environment": "ci_roles",
    "ci_oidc_provider_arn": "ci_roles",
}


def _refuse_flags_without_effect(flags: SettingsFlags, settings: AnnexSettings) -> None:
    """A flag for an add-on that is not deployed would be ignored without a word."""
    flag_of = {s.field: s.flag.split("/")[0] for s in SETTINGS if s.flag}
    for field, switch in _ONLY_WITH.items():
        if field in flags.given and not getattr(settings, switch):
            raise UsageError(
                f"{flag_of[field]} has no effect without {flag_of[switch]}",
                hint=f"add {flag_of[switch]}, or drop {flag_of[field]}",
            )


def from_collector(
    host: str, flags: SettingsFlags, *, cidr: bool, port: bool, quiet: bool = False
) -> dict[str, Any]:
    """The allowed CIDR and the collector port that the collector host gives, as asked for."""
    found: dict[str, Any] = {}
    address, host_port = collector_cidr(host)
    if cidr:
        found["allowed_cidrs"] = (address,)
        ssh = "" if flags.given.get("ssh") is False else " and SSH"
        if not quiet:
            console.info(f"Allowing HTCondor{ssh} from {address} (the collector host).")
    if port and host_port:
        found["collector_port"] = host_port
    return found
