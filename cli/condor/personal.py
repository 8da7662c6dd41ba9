"""The first-time guide's edits to the personal HTCondor: its settings, and the block annex-cdk
owns in the local config file that holds them.

The guide ("Using condor_annex for the First Time", reference §7) has the user add lines to the
personal HTCondor's local config file (public interface, pool password, open port), store a pool
password with ``condor_store_cred`` and run ``condor_restart``. annex-cdk writes those lines into
one marked block it owns in that file (block.py, as for ``~/.condor/user_config``, with markers
of its own). Which file and how HTCondor reads it: personal_config.py; what its daemons then
read: personal_checks.py; the pool password: pool_password.py; the `condor configure` use case
itself: ops/condor_configure.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from annex_cdk.condor import heartbeat_cron
from annex_cdk.condor.block import (
    BlockChange,
    BlockFile,
    BlockStructureError,
    Markers,
    OwnedBlock,
    put_block,
    read_block_file,
    take_block,
)
from annex_cdk.condor.heartbeat_cron import HeartbeatCron
from annex_cdk.condor.personal_config import LIST_SPLIT_RE, ConfigLocation
from annex_cdk.condor.syntax import ConfigError, ConfigValueError, check_value
from annex_cdk.errors import LocalFilesError, UsageError
from annex_stacks import names

PERSONAL_MARKERS = Markers(
    names.PERSONAL_BLOCK_BEGIN,
    names.PERSONAL_BLOCK_END,
    "annex-cdk block for the personal HTCondor",
)


BLOCK_ID = names.PERSONAL_BLOCK_ID


# A host name or an IP address; a bracketed IPv6 address carries its own colons.
_HOST_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)\Z")


@dataclass(frozen=True)
class GuideOptions:
    """The guide's settings, with the options for where its defaults don't fit."""

    port: int = names.DEFAULT_COLLECTOR_PORT
    network_interface: str = names.DEFAULT_NETWORK_INTERFACE
    host: str | None = None  # None: $(FULL_HOSTNAME), as the guide says
    password_file: str | None = None  # None: $(LOCAL_DIR)/condor_pool_password
    #: The spend guardrail's heartbeat cron job (None: none).
    heartbeat: HeartbeatCron | None = None

    def sections(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        """(comment, lines) per section of the guide, in its order, then the heartbeat's."""
        return (*self._guide_sections(), *self.heartbeat_sections())

    def heartbeat_sections(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        return ((heartbeat_cron.COMMENT, self.heartbeat.lines()),) if self.heartbeat else ()

    def _guide_sections(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        host = self.host or names.FULL_HOSTNAME_MACRO
        return (
            (
                "Configure Public Interface: listen on the public interface, not loopback",
                (
                    (names.KEY_NETWORK_INTERFACE, self.network_interface),
                    (names.KEY_CONDOR_HOST, host),
                ),
            ),
            (
                "Configure a Pool Password: daemons, here and on annex instances, authenticate "
                "with it",
                (
                    (
                        names.KEY_PASSWORD_FILE,
                        self.password_file or names.POOL_PASSWORD_FILE_DEFAULT,
                    ),
                    *names.GUIDE_SECURITY_SETTINGS,
                    (names.KEY_ALLOW_DAEMON, names.ALLOW_DAEMON_POOL),
                ),
            ),
            (
                "Tell HTCondor about the Open Port",
                ((names.KEY_COLLECTOR_HOST, f"{host}:{self.port}"),),
            ),
        )

    def values(self) -> dict[str, str]:
        """The keys whose effective value must be exactly the block's."""
        return _exact(self.sections())

    def heartbeat_values(self) -> dict[str, str]:
        """values() of the heartbeat's lines alone (the access point's block adds them)."""
        return _exact(self.heartbeat_sections())

    def appended(self) -> dict[str, str]:
        """List keys the block extends, and the word each must then contain."""
        return {heartbeat_cron.JOBLIST: heartbeat_cron.JOB} if self.heartbeat else {}

    def validate(self) -> None:
        """UsageError for an option HTCondor would read as something else."""
        if not 1 <= self.port <= 65535:
            raise UsageError(f"--port {self.port} is not a TCP port (1-65535)")
        _check_user_value(
            "--network-interface", names.KEY_NETWORK_INTERFACE, self.network_interface
        )
        if self.host is not None:
            bare = self.host.strip("[]")
            if ":" in self.host and not (self.host.startswith("[") and ":" in bare):
                raise UsageError(
                    f"--collector-host {self.host!r} must be a host name or address without a port",
                    hint="give the port with --port",
                )
            if not _HOST_RE.match(self.host):
                raise UsageError(f"--collector-host {self.host!r} is not a host name or address")
        if self.heartbeat is not None:
            self.heartbeat.validate()
        if self.password_file is not None:
            _check_user_value("--password-file", names.KEY_PASSWORD_FILE, self.password_file)
            if not os.path.isabs(self.password_file):
                raise UsageError(
                    f"--password-file {self.password_file!r} must be an absolute path "
                    "(HTCondor's daemons don't run in this directory)"
                )


def _exact(sections: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]) -> dict[str, str]:
    """Every line's key and value, but for a list the block only extends (its own value then
    differs by design; GuideOptions.appended checks those)."""
    return {
        key: value
        for _, lines in sections
        for key, value in lines
        if not heartbeat_cron.appends_itself(key, value)
    }


def _check_user_value(option: str, key: str, value: str) -> None:
    try:
        check_value(key, value)
    except ConfigValueError as err:
        raise UsageError(f"{option}: {err}") from None
    if not value:
        raise UsageError(f"{option} must not be empty")


def _render(sections: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]) -> list[str]:
    out = []
    for comment, lines in sections:
        out.append(f"# {comment}")
        out += [f"{key} = {value}" for key, value in lines]
    return out


def classic_lines(options: GuideOptions) -> list[str]:
    """The classic guide's lines (HTCondor <= 24.10, `condor_annex -count`), with comments,
    and the heartbeat's."""
    return _render(options.sections())


def heartbeat_lines(options: GuideOptions) -> list[str]:
    """The heartbeat's lines alone, with their comment (the access point's block adds them)."""
    return _render(options.heartbeat_sections())


def render_block(
    options: GuideOptions, *, created_file: bool = False, body: Sequence[str] | None = None
) -> str:
    """annex-cdk's block for the personal HTCondor's local config file (ends with a newline).

    ``body`` is the access point's lines; by default, the classic guide's.
    """
    out = [names.PERSONAL_BLOCK_BEGIN.format(region=BLOCK_ID)]
    if created_file:
        out.append(names.PERSONAL_BLOCK_CREATED_NOTE)
    out += classic_lines(options) if body is None else body
    out.append(names.PERSONAL_BLOCK_END.format(region=BLOCK_ID))
    return "\n".join(out) + "\n"


def read_personal_block_file(path: Path) -> BlockFile:
    try:
        return read_block_file(path, PERSONAL_MARKERS)
    except BlockStructureError as err:
        raise LocalFilesError(
            str(err), hint=f"fix or remove the broken annex-cdk marker lines in {path}"
        ) from None


def _unreadable(path: Path, err: ConfigError) -> LocalFilesError:
    return LocalFilesError(str(err), hint=f"fix {path} so that HTCondor can read it, then re-run")


def _file_created_by_annex_cdk(block: OwnedBlock | None) -> bool:
    """The block notes that annex-cdk created its file (so removing it deletes the file)."""
    return block is not None and names.PERSONAL_BLOCK_CREATED_NOTE in block.text.splitlines()


def write_block(
    location: ConfigLocation,
    options: GuideOptions,
    *,
    validate: Callable[[str], None] | None = None,
    body: Sequence[str] | None = None,
) -> BlockChange:
    """Put the guide's lines into annex-cdk's block; no write (nor backup) if nothing changes."""
    file = read_personal_block_file(location.path)
    created = file.data is None or _file_created_by_annex_cdk(file.blocks.owned.get(BLOCK_ID))
    block = render_block(options, created_file=created, body=body)
    try:
        return put_block(file, BLOCK_ID, block, validate=validate)
    except ConfigError as err:
        raise _unreadable(location.path, err) from None


def remove_block(
    location: ConfigLocation, *, validate: Callable[[str], None] | None = None
) -> BlockChange:
    """Take annex-cdk's block out again: the file gets back exactly its bytes from before."""
    file = read_personal_block_file(location.path)
    # annex-cdk created the file and nothing else was added: before, there was no file.
    created = _file_created_by_annex_cdk(file.blocks.owned.get(BLOCK_ID))
    try:
        return take_block(file, BLOCK_ID, validate=validate, delete_if_emptied=created)
    except ConfigError as err:
        raise _unreadable(location.path, err) from None


def _setting_lines(text: str) -> list[str]:
    return [x.strip() for x in text.splitlines() if x.strip() and not x.lstrip().startswith("#")]


def block_changes(old_text: str | None, new_body: Sequence[str]) -> list[str]:
    """What re-configuring changes in annex-cdk's own block: ``- line`` / ``+ line``.

    A removed line that limits authentication to methods without IDTOKENS (the classic
    guide's PASSWORD lines) is marked: it would block the access point's execution points.
    """
    if old_text is None:
        return []
    old, new = _setting_lines(old_text), _setting_lines("\n".join(new_body))
    out = []
    for line in old:
        if line in new:
            continue
        key, _, value = line.partition("=")
        methods = {x.upper() for x in LIST_SPLIT_RE.split(value) if x}
        blocks = key.strip().endswith("_AUTHENTICATION_METHODS") and not (
            names.IDTOKEN_METHODS & methods
        )
        why = " (would block the execution points' IDTOKEN authentication)" if blocks else ""
        out.append(f"- {line}{why}")
    return out + [f"+ {line}" for line in new if line not in old]


def prepare_hpc_annex_dir() -> Path:
    """~/.hpc-annex must be a directory (annex_create.py:649-655); refuse a file there."""
    path = Path.home() / names.HPC_ANNEX_DIR
    if (path.exists() or path.is_symlink()) and not path.is_dir():
        raise LocalFilesError(
            f"{path} exists and is not a directory; `htcondor annex create` needs it to be one",
            hint=f"move {path} aside, then re-run",
        )
    return path
