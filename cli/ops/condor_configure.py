"""`annex-cdk condor configure|unconfigure`: write the guide's block for this HTCondor's side,
read back what its daemons get, store the pool password (classic side), restart."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from annex_cdk.condor import access_point as ap
from annex_cdk.condor.block import BlockChange
from annex_cdk.condor.key_files import Secret
from annex_cdk.condor.personal import (
    BLOCK_ID,
    GuideOptions,
    block_changes,
    classic_lines,
    heartbeat_lines,
    prepare_hpc_annex_dir,
    read_personal_block_file,
    remove_block,
    write_block,
)
from annex_cdk.condor.personal_checks import check_access_point, check_effective
from annex_cdk.condor.personal_config import (
    ConfigContext,
    ConfigLocation,
    read_context,
    restart,
    tool_or_fail,
    validator,
)
from annex_cdk.condor.pool_password import PasswordMode, PasswordOutcome, password_step
from annex_cdk.condor.syntax import ConfigError
from annex_cdk.condor.version import HTCondorVersion, detect
from annex_cdk.errors import LocalFilesError, UsageError
from annex_stacks import names


@dataclass
class ConfigureReport:
    location: ConfigLocation
    write: BlockChange
    values: dict[str, str] = field(default_factory=dict)
    effective: dict[str, dict[str, str | None]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    password: PasswordOutcome | None = None
    read_by_htcondor: bool | None = None
    restart_output: str | None = None
    htcondor: HTCondorVersion | None = None
    changes: list[str] = field(default_factory=list)  # in annex-cdk's block, "- x" / "+ x"
    hpc_annex_dir: tuple[str, str] | None = None  # (path, "created" | "exists")

    @property
    def restart_needed(self) -> bool:
        return self.write.changed or (
            self.password is not None and self.password.action == "stored"
        )

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        first = next(iter(self.effective.values()), {})
        return {
            "config_file": str(self.location.path),
            "config_file_source": self.location.source,
            "base_config": str(self.location.base_config) if self.location.base_config else None,
            "read_by_htcondor": self.read_by_htcondor,
            "action": self.write.action,
            "backup": str(self.write.backup) if self.write.backup else None,
            "settings": dict(self.values),
            "effective": {key: first.get(key) for key in self.values},
            "effective_by_daemon": self.effective,
            "password": self.password.as_dict() if self.password else None,
            "htcondor": (
                {
                    "version": self.htcondor.text,
                    "source": self.htcondor.source,
                    "side": self.htcondor.side,
                }
                if self.htcondor
                else None
            ),
            "changes": list(self.changes),
            "hpc_annex_dir": (
                {"path": self.hpc_annex_dir[0], "action": self.hpc_annex_dir[1]}
                if self.hpc_annex_dir
                else None
            ),
            "restart": {
                "needed": self.restart_needed and self.restart_output is None,
                "ran": self.restart_output is not None,
                "output": self.restart_output,
            },
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "ok": self.ok,
        }


@dataclass(frozen=True)
class ConfigureRequest:
    """What `condor configure` is asked to do, its flags checked and its password read.

    `ask_password` prompts for the pool password (None: there is no terminal to ask on);
    `htcondor_version` (--htcondor-version) overrides the detected version.
    """

    location: ConfigLocation
    options: GuideOptions
    password_mode: PasswordMode = "auto"
    stdin_password: Secret | None = None
    ask_password: Callable[[], Secret] | None = None
    restart_after: bool = False
    htcondor_version: str | None = None


def run_configure(
    request: ConfigureRequest, *, which: Callable[[str], str | None] = shutil.which
) -> ConfigureReport:
    """Write the block for this HTCondor's side, check what it reads, store the pool password
    (classic side only), restart. `which` finds HTCondor's tools (PATH)."""
    location, options, password_mode = request.location, request.options, request.password_mode
    options.validate()
    store_tool = which(names.TOOL_STORE_CRED)
    if password_mode == "stdin" and store_tool is None:
        tool_or_fail(names.TOOL_STORE_CRED, which, "store the password from --password-stdin")
    restart_tool = (
        tool_or_fail(names.TOOL_RESTART, which, "restart HTCondor (--restart)")
        if request.restart_after
        else None
    )
    try:
        context = read_context(location)
    except ConfigError as err:
        raise LocalFilesError(
            f"{err}; HTCondor cannot read its configuration as it is, so annex-cdk leaves "
            f"{location.path} alone",
            hint="fix the file named above so that HTCondor can read it, then re-run",
        ) from None
    version = detect(
        request.htcondor_version,
        config_dirs=lambda: (context.bin_dir, context.release_dir),
        which=which,
    )
    if version.side == "access-point":
        return _configure_access_point(
            location,
            options,
            context,
            version,
            restart_tool=restart_tool,
            password_mode=password_mode,
        )
    warnings = []
    if options.password_file is None and not context.local_dir:
        raise UsageError(
            "LOCAL_DIR is not defined in HTCondor's configuration, so the guide's "
            f"SEC_PASSWORD_FILE = {names.POOL_PASSWORD_FILE_DEFAULT} would be "
            "/condor_pool_password",
            hint="set CONDOR_CONFIG to the personal HTCondor's condor_config, or pass "
            "--password-file PATH",
        )
    warnings += _hostname_warnings(options, context)
    old_block = read_personal_block_file(location.path).blocks.owned.get(BLOCK_ID)
    write = write_block(location, options, validate=validator(location, context))
    values = options.values()
    check = check_effective(location, context, values, appended=options.appended())
    report = ConfigureReport(
        location,
        write,
        values=values,
        effective=check.effective,
        problems=check.problems,
        warnings=warnings,
        read_by_htcondor=context.reads_file,
        htcondor=version,
        changes=block_changes(old_block.text if old_block else None, classic_lines(options)),
    )
    first = next(iter(check.effective.values()))
    report.password = password_step(
        first.get(names.KEY_PASSWORD_FILE),
        password_mode,
        stdin_password=request.stdin_password,
        ask=request.ask_password,
        tool=store_tool,
    )
    if restart_tool is not None:
        report.restart_output = restart(restart_tool)
    return report


def _hostname_warnings(options: GuideOptions, context: ConfigContext) -> list[str]:
    hostname = context.full_hostname or ""
    if options.host is None and ("." not in hostname or hostname.startswith("localhost")):
        return [
            f"FULL_HOSTNAME is {hostname!r}, which annex instances may not be able to resolve; "
            "pass --collector-host with this machine's public DNS name or address"
        ]
    return []


def _configure_access_point(
    location: ConfigLocation,
    options: GuideOptions,
    context: ConfigContext,
    version: HTCondorVersion,
    *,
    restart_tool: str | None,
    password_mode: PasswordMode = "auto",
) -> ConfigureReport:
    """The access point's block, its read-back, ~/.hpc-annex; no pool password on this side."""
    public_host = options.host or context.full_hostname
    if not public_host:
        raise UsageError(
            "FULL_HOSTNAME is not defined in HTCondor's configuration",
            hint="pass --collector-host with this machine's public DNS name or address",
        )
    warnings = _hostname_warnings(options, context)
    if options.port != names.DEFAULT_COLLECTOR_PORT:
        warnings.append(
            f"--port {options.port} is for the classic path; the access point's execution "
            "points connect to SHARED_PORT_PORT (9618 unless set elsewhere)"
        )
    if options.password_file is not None or password_mode in ("stdin", "replace"):
        warnings.append(
            "the pool password options are for the classic path: the access point needs no "
            "pool password (its execution points use an IDTOKEN), so none was stored"
        )
    hpc_dir = prepare_hpc_annex_dir()  # a local fault stops before any change
    body = ap.block_lines(options.network_interface, public_host) + heartbeat_lines(options)
    old_block = read_personal_block_file(location.path).blocks.owned.get(BLOCK_ID)
    write = write_block(location, options, validate=validator(location, context), body=body)
    values = ap.block_values(options.network_interface, public_host)
    values.update(options.heartbeat_values())
    check = check_effective(location, context, values, appended=options.appended())
    ap_check = check_access_point(location, context, public_host)
    action = "exists" if hpc_dir.is_dir() else "created"
    hpc_dir.mkdir(mode=0o700, exist_ok=True)
    report = ConfigureReport(
        location,
        write,
        values=values,
        effective=check.effective,
        problems=check.problems + ap_check.problems,
        warnings=warnings,
        read_by_htcondor=context.reads_file,
        htcondor=version,
        changes=block_changes(old_block.text if old_block else None, body),
        hpc_annex_dir=(str(hpc_dir), action),
    )
    if restart_tool is not None:
        report.restart_output = restart(restart_tool)
    return report


@dataclass
class UnconfigureReport:
    location: ConfigLocation
    write: BlockChange
    restart_output: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "config_file": str(self.location.path),
            "config_file_source": self.location.source,
            "action": self.write.action,
            "backup": str(self.write.backup) if self.write.backup else None,
            "restart": {
                "needed": self.write.changed and self.restart_output is None,
                "ran": self.restart_output is not None,
                "output": self.restart_output,
            },
            "ok": True,
        }


def run_unconfigure(
    location: ConfigLocation,
    *,
    restart_after: bool = False,
    which: Callable[[str], str | None] = shutil.which,
) -> UnconfigureReport:
    """Remove annex-cdk's block; the pool password file stays (HTCondor may still use it)."""
    restart_tool = (
        tool_or_fail(names.TOOL_RESTART, which, "restart HTCondor (--restart)")
        if restart_after
        else None
    )
    validate: Callable[[str], None] | None = None
    if location.path.exists():
        try:
            validate = validator(location, read_context(location))
        except ConfigError:
            validate = None  # validate_change says whose fault a broken config is
    write = remove_block(location, validate=validate)
    report = UnconfigureReport(location, write)
    if restart_tool is not None:
        report.restart_output = restart(restart_tool)
    return report
