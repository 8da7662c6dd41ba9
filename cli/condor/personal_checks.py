"""What the personal HTCondor's daemons read after `condor configure`, with the real parser:
the guide's values (classic side) and what the access point needs (24.11.2+), each problem
named with the line that overrides it; and check-setup's read-only look at both."""

from __future__ import annotations

import getpass
import os
import pwd
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from annex_cdk.condor import access_point as ap
from annex_cdk.condor import personal_config
from annex_cdk.condor.files import decode_exact
from annex_cdk.condor.parser import (
    daemon_values,
    daemons_values,
)
from annex_cdk.condor.personal import (
    BLOCK_ID,
    read_personal_block_file,
)
from annex_cdk.condor.personal_config import (
    LIST_SPLIT_RE,
    ConfigContext,
    ConfigLocation,
    files_after_base,
    locate,
    read_context,
    same_file,
)
from annex_cdk.condor.syntax import ConfigError, find_assignments
from annex_cdk.errors import AnnexError, LocalFilesError
from annex_stacks import names

_MACRO_REF_RE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass(frozen=True)
class EffectiveCheck:
    effective: dict[str, dict[str, str | None]]  # daemon -> key -> value
    problems: list[str]


def _expand(raw: str, got: Mapping[str, str | None]) -> str:
    """The guide's value as HTCondor expands it: $(NAME) replaced by NAME's value there."""
    return _MACRO_REF_RE.sub(lambda m: got.get(m[1]) or "", raw)


@dataclass(frozen=True)
class _Definition:
    where: str  # path:line
    prefix: str  # upper-cased "<DAEMON>" of "<DAEMON>.KEY", or ""


def _definitions(path: Path, key: str, *, after_line: int) -> list[_Definition]:
    """Lines of ``path`` that set ``key`` and can win over the block ending at ``after_line``.

    After the block, any definition wins; anywhere, ``<DAEMON>.KEY`` wins for that daemon.
    """
    try:
        text = decode_exact(path.read_bytes())
    except OSError:
        return []
    return [
        _Definition(f"{path}:{number}", prefix.upper())
        for number, prefix in find_assignments(text, key)
        if number > after_line or prefix
    ]


def check_effective(
    location: ConfigLocation,
    context: ConfigContext,
    values: Mapping[str, str],
    *,
    daemons: Sequence[str] = names.PERSONAL_DAEMONS,
    appended: Mapping[str, str] | None = None,
) -> EffectiveCheck:
    """Each daemon's value of each key, against the guide's (expanded in the same config);
    each `appended` list key must contain its word."""
    appended = appended or {}
    files = files_after_base(location, context)
    macros = sorted({m for v in values.values() for m in _MACRO_REF_RE.findall(v)} - set(values))
    keys = [*values, *macros, *appended]

    try:
        effective = daemons_values(
            files, keys, subsystems=daemons, base_config=location.base_config
        )
    except ConfigError as err:
        raise LocalFilesError(f"cannot read back HTCondor's configuration: {err}") from None
    problems = []
    if context.reads_file is False:
        problems.append(
            f"HTCondor's configuration {location.base_config} does not read {location.path} "
            f"(its LOCAL_CONFIG_FILE is {' '.join(context.local_files) or 'empty'}), so HTCondor "
            "ignores these settings; the values checked are those it would read if it did"
        )
    mismatches: dict[tuple[str, str | None, str], list[str]] = {}
    for daemon, got in effective.items():
        for key, raw in values.items():
            want, have = _expand(raw, got), got.get(key)
            if have != want:
                mismatches.setdefault((key, have, want), []).append(daemon)
        for key, word in appended.items():
            if word not in LIST_SPLIT_RE.split(got.get(key) or ""):
                problems.append(
                    f"HTCondor's {daemon} reads {key} as {got.get(key)!r}, without {word}"
                )
    block = read_personal_block_file(location.path).blocks.owned.get(BLOCK_ID)
    after = block.span.last_line if block else 0

    def definitions(key: str) -> list[_Definition]:
        found = _definitions(location.path, key, after_line=after)
        for extra in personal_config.user_configs():  # read after everything else
            found += _definitions(extra, key, after_line=0)
        return found

    reported: set[tuple[str, str]] = set()
    for (key, have, want), who in mismatches.items():
        subject = "HTCondor" if len(who) == len(daemons) else f"HTCondor's {', '.join(who)}"
        if have is None:
            msg = f"{subject} finds no value for {key}; the guide's is {want!r}"
        else:
            msg = f"{subject} reads {key} as {have!r}, not {want!r} as the guide says"
        where = [d.where for d in definitions(key) if not d.prefix or d.prefix in who]
        msg += (
            f" (set again at {', '.join(where[-3:])})"
            if where
            else f" (see `{names.TOOL_CONFIG_VAL} -verbose {key}` for where)"
        )
        problems.append(msg)
        reported.update((key, d) for d in who)
    # HTCondor's security code looks up <DAEMON>.SEC_* itself, which the bindings' param does
    # not show; so a daemon-prefixed line is reported from the text as well.
    for key in values:
        for found in definitions(key):
            if found.prefix in daemons and (key, found.prefix) not in reported:
                problems.append(
                    f"{found.prefix}.{key} at {found.where} overrides the guide's {key} for "
                    f"HTCondor's {found.prefix}"
                )
                reported.add((key, found.prefix))
    return EffectiveCheck(effective, problems)


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return getpass.getuser()


def _where_set(location: ConfigLocation, context: ConfigContext, key: str) -> list[str]:
    """Every line of the files HTCondor reads here that sets ``key`` (any daemon prefix)."""
    files = [location.base_config] if location.base_config else []
    files += [Path(f) for f in context.local_files if not same_file(f, location.path)]
    files += [location.path, *personal_config.user_configs()]
    return [d.where for f in files for d in _definitions(f, key, after_line=0)]


def check_access_point(
    location: ConfigLocation, context: ConfigContext, public_host: str
) -> EffectiveCheck:
    """What `htcondor annex create`, the schedd and the collector read, against what the
    access-point path needs (access_point.check); each problem names where the key is set."""
    try:
        effective = daemons_values(
            files_after_base(location, context),
            list(ap.CHECK_KEYS),
            subsystems=names.ACCESS_POINT_SUBSYSTEMS,
            base_config=location.base_config,
        )
    except ConfigError as err:
        raise LocalFilesError(f"cannot read back HTCondor's configuration: {err}") from None
    problems = []
    for finding in ap.check(effective, public_host, _user_name()):
        where = _where_set(location, context, finding.key)
        suffix = (
            f" (set at {', '.join(where[-3:])})"
            if where
            else f" (see `{names.TOOL_CONFIG_VAL} -verbose {finding.key}` for where)"
        )
        problems.append(f"HTCondor's {', '.join(finding.subsystems)}: {finding.message}{suffix}")
    return EffectiveCheck(dict(effective), problems)


def verify_configured(config_file: Path | None = None) -> list[str] | None:
    """For check-setup: the problems with the guide's block that `condor configure` wrote.

    None when there is no such block to check (not configured by annex-cdk, or no local
    config file can be found); [] when HTCondor's daemons read exactly the block's values.
    """
    try:
        location = locate(config_file)
        block = read_personal_block_file(location.path).blocks.owned.get(BLOCK_ID)
    except (AnnexError, ConfigError, OSError):
        return None
    if block is None:
        return None
    values = {
        key.strip(): value.strip()
        for line in block.text.splitlines()
        if not line.lstrip().startswith("#") and "=" in line
        for key, _, value in [line.partition("=")]
    }
    context = read_context(location)
    problems = check_effective(location, context, values).problems
    if ap.is_access_point_block(block.text):
        host = values.get(names.KEY_TCP_FORWARDING_HOST, "")
        problems += check_access_point(location, context, host).problems
    return problems


def verify_access_point(config_file: Path | None = None) -> list[str] | None:
    """For check-setup on 24.11.2+ without annex-cdk's block: what the access-point path needs
    (check_access_point), on the public name TCP_FORWARDING_HOST, else FULL_HOSTNAME.

    None when no personal HTCondor configuration can be found or read.
    """
    try:
        location = locate(config_file)
        context = read_context(location)
        host = daemon_values(
            files_after_base(location, context),
            [names.KEY_TCP_FORWARDING_HOST],
            subsystem="TOOL",
            base_config=location.base_config,
        )[names.KEY_TCP_FORWARDING_HOST]
        return check_access_point(location, context, host or context.full_hostname or "").problems
    except (AnnexError, ConfigError, OSError):
        return None
