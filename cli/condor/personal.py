"""`annex-cdk condor configure`: the first-time guide's edits to the personal HTCondor.

The guide ("Using condor_annex for the First Time", reference §7) has the user add lines to the
personal HTCondor's local config file (public interface, pool password, open port), store a pool
password with ``condor_store_cred`` and run ``condor_restart``. annex-cdk writes those lines into
one marked block it owns in that file (block.py, as for ``~/.condor/user_config``, with markers
of its own), checks what HTCondor's daemons then read with the real parser, and
drives ``condor_store_cred`` without ever putting the password on a command line.
"""

from __future__ import annotations

import getpass
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from annex_cdk.condor import access_point as ap
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
from annex_cdk.condor.files import decode_exact, encode_exact
from annex_cdk.condor.key_files import Secret
from annex_cdk.condor.parser import (
    FILES_PART_NAME,
    check_config,
    daemon_values,
    daemons_values,
    validate_syntax,
)
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.condor.syntax import ConfigError, ConfigValueError, check_value, find_assignments
from annex_cdk.condor.version import HTCondorVersion, detect
from annex_cdk.errors import AnnexError, LocalFilesError, UsageError
from annex_stacks import names

PERSONAL_MARKERS = Markers(
    names.PERSONAL_BLOCK_BEGIN,
    names.PERSONAL_BLOCK_END,
    "annex-cdk block for the personal HTCondor",
)
BLOCK_ID = names.PERSONAL_BLOCK_ID
#: Seconds for one HTCondor tool run (condor_store_cred, condor_restart, condor_config_val).
TOOL_TIMEOUT = 60.0
#: condor_store_cred reads at most MAX_PASSWORD_LENGTH - 1 = 254 characters (older releases;
#: newer ones take 255), so longer passwords would be cut silently.
MAX_POOL_PASSWORD = 254
# condor_store_cred reads the password with getchar() up to '\n': '\b' deletes a character,
# Ctrl-C ('\x03') aborts, and a NUL would end the C string.
_BAD_PASSWORD_CHARS = re.compile(r"[\x00\x03\x08\n\r]")
# A host name or an IP address; a bracketed IPv6 address carries its own colons.
_HOST_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)\Z")
_MACRO_REF_RE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_LIST_SPLIT_RE = re.compile(r"[,\s]+")


class CondorToolError(AnnexError):
    """An HTCondor command-line tool is missing or failed."""


# --- The guide's settings -----------------------------------------------------------------------


@dataclass(frozen=True)
class GuideOptions:
    """The guide's settings, with the options for where its defaults don't fit."""

    port: int = names.DEFAULT_COLLECTOR_PORT
    network_interface: str = names.DEFAULT_NETWORK_INTERFACE
    host: str | None = None  # None: $(FULL_HOSTNAME), as the guide says
    password_file: str | None = None  # None: $(LOCAL_DIR)/condor_pool_password

    def sections(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        """(comment, lines) per section of the guide, in its order."""
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
        return {key: value for _, lines in self.sections() for key, value in lines}

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
        if self.password_file is not None:
            _check_user_value("--password-file", names.KEY_PASSWORD_FILE, self.password_file)
            if not os.path.isabs(self.password_file):
                raise UsageError(
                    f"--password-file {self.password_file!r} must be an absolute path "
                    "(HTCondor's daemons don't run in this directory)"
                )


def _check_user_value(option: str, key: str, value: str) -> None:
    try:
        check_value(key, value)
    except ConfigValueError as err:
        raise UsageError(f"{option}: {err}") from None
    if not value:
        raise UsageError(f"{option} must not be empty")


def classic_lines(options: GuideOptions) -> list[str]:
    """The classic guide's lines (HTCondor <= 24.10, `condor_annex -count`), with comments."""
    out = []
    for comment, lines in options.sections():
        out.append(f"# {comment}")
        out += [f"{key} = {value}" for key, value in lines]
    return out


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


# --- Which file, read by which configuration ----------------------------------------------------


@dataclass(frozen=True)
class ConfigLocation:
    """The personal HTCondor's local config file and the configuration that reads it."""

    path: Path
    source: str  # how it was found, for the user
    base_config: Path | None  # CONDOR_CONFIG (or /etc/condor/condor_config), if any
    others: tuple[Path, ...] = ()  # other LOCAL_CONFIG_FILE entries, read before it


def _split_list(value: str | None) -> list[str]:
    """An HTCondor list value (comma/space separated), without _run_htcondor's own file."""
    items = [x for x in _LIST_SPLIT_RE.split(value or "") if x]
    return [x for x in items if Path(x).name != FILES_PART_NAME]


def _run_tool(
    argv: Sequence[str], *, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            list(argv), input=stdin, capture_output=True, timeout=TOOL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise CondorToolError(
            f"{Path(argv[0]).name} did not finish in {TOOL_TIMEOUT:.0f} s"
        ) from None
    except OSError as err:
        raise CondorToolError(f"cannot run {argv[0]}: {err.strerror or err}") from None


def _last_line(*outputs: bytes) -> str:
    lines = [x.strip() for out in outputs for x in out.decode("utf-8", "replace").splitlines()]
    lines = [x for x in lines if x]
    return lines[-1] if lines else "no output"


def locate(
    config_file: Path | None, *, which: Callable[[str], str | None] = shutil.which
) -> ConfigLocation:
    """--config-file, else HTCondor's LOCAL_CONFIG_FILE (condor_config_val or CONDOR_CONFIG)."""
    base = LocalPaths.base_config()
    if config_file is not None:
        return ConfigLocation(
            Path(os.path.abspath(config_file.expanduser())), "--config-file", base
        )
    hint = (
        "pass --config-file PATH, the personal HTCondor's local config file "
        "(the guide's ~/condor-8.7.8/local/condor_config.local)"
    )
    tool = which(names.TOOL_CONFIG_VAL)
    env_config = os.environ.get("CONDOR_CONFIG")
    if tool:
        proc = _run_tool([tool, "LOCAL_CONFIG_FILE"])
        source = f"{names.TOOL_CONFIG_VAL} LOCAL_CONFIG_FILE"
        if proc.returncode != 0:
            raise UsageError(f"{source} failed: {_last_line(proc.stderr, proc.stdout)}", hint=hint)
        value: str | None = proc.stdout.decode("utf-8", "replace").strip()
    elif env_config and base is not None and env_config.upper() != "ONLY_ENV":
        source = f"LOCAL_CONFIG_FILE of CONDOR_CONFIG ({base})"
        try:
            value = daemon_values([], ["LOCAL_CONFIG_FILE"], subsystem="TOOL", base_config=base)[
                "LOCAL_CONFIG_FILE"
            ]
        except ConfigError as err:
            raise LocalFilesError(
                f"cannot read HTCondor's configuration: {err}", hint=hint
            ) from None
    else:
        raise UsageError(
            "cannot find the personal HTCondor's local config file: HTCondor's tools are not "
            "on PATH and CONDOR_CONFIG is not set",
            hint=hint,
        )
    files = _split_list(value)
    if not files:
        raise UsageError(f"{source} names no file", hint=hint)
    if files[-1].endswith("|"):
        raise UsageError(
            f"{source} is a command ({files[-1]}), not a file annex-cdk can edit", hint=hint
        )
    # The last file is read last, so its lines win; that is where the guide's lines belong.
    *others, last = files
    return ConfigLocation(Path(last), source, base, tuple(Path(x) for x in others))


@dataclass(frozen=True)
class _Context:
    """What HTCondor's configuration says before annex-cdk changes anything."""

    local_files: tuple[str, ...]  # the base's LOCAL_CONFIG_FILE entries
    reads_file: bool | None  # None: no base configuration to ask
    local_dir: str | None
    full_hostname: str | None
    bin_dir: str | None = None
    release_dir: str | None = None


def _same_file(a: str | Path, b: str | Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _user_configs() -> list[Path]:
    # HTCondor reads ~/.condor/user_config after everything else, except as root.
    return [] if os.geteuid() == 0 else [LocalPaths(Path.home()).user_config]


def _context(location: ConfigLocation) -> _Context:
    keys = ["LOCAL_CONFIG_FILE", "LOCAL_CONFIG_DIR", "LOCAL_DIR", "FULL_HOSTNAME", "BIN"]
    keys.append("RELEASE_DIR")
    if location.base_config is None:
        got = daemon_values([location.path], keys, subsystem="MASTER")
        return _Context(
            (), None, got["LOCAL_DIR"], got["FULL_HOSTNAME"], got["BIN"], got["RELEASE_DIR"]
        )
    with tempfile.TemporaryDirectory(prefix="annex-cdk-personal-") as tmp:
        base = location.base_config
        if not location.path.exists():
            # HTCondor refuses a LOCAL_CONFIG_FILE that is missing; annex-cdk is about to
            # create it, so ask as if it were there and empty.
            base = Path(tmp) / "wrapper.config"
            base.write_text(
                f"include : {location.base_config}\nREQUIRE_LOCAL_CONFIG_FILE = false\n"
            )
        got = daemon_values([], keys, subsystem="MASTER", base_config=base)
        local_files = tuple(_split_list(got["LOCAL_CONFIG_FILE"]))
        dirs = _split_list(got["LOCAL_CONFIG_DIR"])
        reads = any(_same_file(f, location.path) for f in local_files) or any(
            _same_file(d, location.path.parent) for d in dirs
        )
        if not reads:
            # Then it is read after the base's local files, if at all: ask again with it there.
            got = daemon_values([location.path], keys, subsystem="MASTER", base_config=base)
    return _Context(
        local_files, reads, got["LOCAL_DIR"], got["FULL_HOSTNAME"], got["BIN"], got["RELEASE_DIR"]
    )


def _files_after_base(location: ConfigLocation, context: _Context) -> list[Path]:
    """The files to read after the base configuration to get what HTCondor gets."""
    mine = [] if context.reads_file else [location.path]
    return mine + _user_configs()


def _validator(location: ConfigLocation, context: _Context) -> Callable[[str], None]:
    """Reads a candidate text where HTCondor reads the file, with the base config's macros."""

    def validate(text: str) -> None:
        if location.base_config is None:
            validate_syntax(text, source_name=str(location.path))
            return
        with tempfile.TemporaryDirectory(prefix="annex-cdk-personal-") as tmp:
            candidate = Path(tmp) / "candidate.config"
            candidate.write_bytes(encode_exact(text))
            labels = {str(candidate): str(location.path)}
            if not context.reads_file:
                check_config([candidate], base_config=location.base_config, labels=labels)
                return
            # The base names the file in LOCAL_CONFIG_FILE (or LOCAL_CONFIG_DIR): read the
            # candidate in its place, after everything the base reads before it.
            wrapper = Path(tmp) / "wrapper.config"
            entries = [
                str(candidate) if _same_file(f, location.path) else f for f in context.local_files
            ]
            if not any(e == str(candidate) for e in entries):
                entries.append(str(candidate))  # it came from LOCAL_CONFIG_DIR
            if any(re.search(r"[\s,$]", e) for e in entries):
                raise ConfigError("a LOCAL_CONFIG_FILE entry has a space, comma or '$' in its path")
            wrapper.write_text(
                f"include : {location.base_config}\nLOCAL_CONFIG_FILE = {' '.join(entries)}\n"
            )
            check_config([], base_config=wrapper, labels=labels)

    return validate


# --- Writing and removing the block ------------------------------------------------------------


def _read_block_file(path: Path) -> BlockFile:
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
    file = _read_block_file(location.path)
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
    file = _read_block_file(location.path)
    # annex-cdk created the file and nothing else was added: before, there was no file.
    created = _file_created_by_annex_cdk(file.blocks.owned.get(BLOCK_ID))
    try:
        return take_block(file, BLOCK_ID, validate=validate, delete_if_emptied=created)
    except ConfigError as err:
        raise _unreadable(location.path, err) from None


# --- What HTCondor's daemons read ---------------------------------------------------------------


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
    context: _Context,
    values: Mapping[str, str],
    *,
    daemons: Sequence[str] = names.PERSONAL_DAEMONS,
) -> EffectiveCheck:
    """Each daemon's value of each key, against the guide's (expanded in the same config)."""
    files = _files_after_base(location, context)
    macros = sorted({m for v in values.values() for m in _MACRO_REF_RE.findall(v)} - set(values))
    keys = [*values, *macros]

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
    block = _read_block_file(location.path).blocks.owned.get(BLOCK_ID)
    after = block.span.last_line if block else 0

    def definitions(key: str) -> list[_Definition]:
        found = _definitions(location.path, key, after_line=after)
        for extra in _user_configs():  # read after everything else
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


# --- The access point's needs (HTCondor >= 24.11.2) ------------------------------------------


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return getpass.getuser()


def _where_set(location: ConfigLocation, context: _Context, key: str) -> list[str]:
    """Every line of the files HTCondor reads here that sets ``key`` (any daemon prefix)."""
    files = [location.base_config] if location.base_config else []
    files += [Path(f) for f in context.local_files if not _same_file(f, location.path)]
    files += [location.path, *_user_configs()]
    return [d.where for f in files for d in _definitions(f, key, after_line=0)]


def check_access_point(
    location: ConfigLocation, context: _Context, public_host: str
) -> EffectiveCheck:
    """What `htcondor annex create`, the schedd and the collector read, against what the
    access-point path needs (access_point.check); each problem names where the key is set."""
    try:
        effective = daemons_values(
            _files_after_base(location, context),
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
        methods = {x.upper() for x in _LIST_SPLIT_RE.split(value) if x}
        blocks = key.strip().endswith("_AUTHENTICATION_METHODS") and not (
            names.IDTOKEN_METHODS & methods
        )
        why = " (would block the execution points' IDTOKEN authentication)" if blocks else ""
        out.append(f"- {line}{why}")
    return out + [f"+ {line}" for line in new if line not in old]


def _prepare_hpc_annex_dir() -> Path:
    """~/.hpc-annex must be a directory (annex_create.py:649-655); refuse a file there."""
    path = Path.home() / names.HPC_ANNEX_DIR
    if (path.exists() or path.is_symlink()) and not path.is_dir():
        raise LocalFilesError(
            f"{path} exists and is not a directory; `htcondor annex create` needs it to be one",
            hint=f"move {path} aside, then re-run",
        )
    return path


# --- The pool password --------------------------------------------------------------------------


def check_pool_password(password: Secret) -> Secret:
    """Refuse what condor_store_cred would read as a different password (never quoting it)."""
    value = password.reveal()
    if not value:
        raise UsageError("the pool password is empty")
    if _BAD_PASSWORD_CHARS.search(value):
        raise UsageError(
            "the pool password contains a line break or a control character (NUL, Ctrl-C, "
            "backspace) that condor_store_cred would not store as typed"
        )
    if len(value.encode()) > MAX_POOL_PASSWORD:
        raise UsageError(
            f"the pool password is longer than {MAX_POOL_PASSWORD} bytes, which "
            "condor_store_cred would cut short"
        )
    return password


def read_password(stream: IO[str]) -> Secret:
    """--password-stdin: everything on standard input, less one final line break."""
    data = stream.read()
    if data.endswith("\n"):
        data = data[:-1].removesuffix("\r")
    return check_pool_password(Secret(data))


def store_command(password_file: str) -> list[str]:
    """The guide's command, `condor_store_cred -c add -f <SEC_PASSWORD_FILE>`."""
    return [names.TOOL_STORE_CRED, "-c", "add", "-f", password_file]


def store_pool_password(tool: str, password_file: str, password: Secret) -> None:
    """Run condor_store_cred with the password on its standard input, never in its argv.

    Without -p, `condor_store_cred add -f FILE` prints "Enter password: " and reads one line
    with getchar() (echo off only if stdin is a terminal), so a pipe carries the password.
    """
    argv = [tool, *store_command(password_file)[1:]]
    proc = _run_tool(argv, stdin=(password.reveal() + "\n").encode())
    if proc.returncode != 0:
        detail = _last_line(proc.stderr, proc.stdout).replace(password.reveal(), "********")
        raise CondorToolError(
            f"{names.TOOL_STORE_CRED} failed (exit {proc.returncode}): {detail}",
            hint=f"run it yourself: {shlex.join(store_command(password_file))}",
        )
    if not os.path.exists(password_file):
        raise CondorToolError(
            f"{names.TOOL_STORE_CRED} succeeded but {password_file} does not exist"
        )


PasswordMode = Literal["auto", "stdin", "replace", "skip"]
PasswordAction = Literal["stored", "kept", "skipped", "manual"]


@dataclass(frozen=True)
class PasswordOutcome:
    file: str | None
    action: PasswordAction
    command: str | None = None  # what the user should run themselves, if anything

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "action": self.action, "command": self.command}


def _password_step(
    password_file: str | None,
    mode: PasswordMode,
    *,
    stdin_password: Secret | None,
    ask: Callable[[], Secret] | None,
    tool: str | None,
) -> PasswordOutcome:
    if not password_file:
        raise LocalFilesError("HTCondor finds no SEC_PASSWORD_FILE after configuring it")
    command = shlex.join(store_command(password_file))
    exists = os.path.exists(password_file)
    if mode == "skip":
        return PasswordOutcome(password_file, "skipped", None if exists else command)
    if mode == "auto" and exists:
        return PasswordOutcome(password_file, "kept")
    if tool is None:
        return PasswordOutcome(password_file, "manual", command)
    if not Path(password_file).parent.is_dir():
        raise LocalFilesError(
            f"the directory of SEC_PASSWORD_FILE {password_file} does not exist",
            hint="create it (it is the personal HTCondor's LOCAL_DIR), or pass --password-file",
        )
    password = stdin_password
    if password is None:
        if ask is None:
            raise UsageError(
                "the configuration is written, but the pool password is not stored: standard "
                "input is not a terminal to ask on",
                hint=f"re-run with --password-stdin and the password on standard input, or "
                f"run: {command}",
            )
        password = check_pool_password(ask())
    store_pool_password(tool, password_file, password)
    return PasswordOutcome(password_file, "stored")


# --- The two commands ---------------------------------------------------------------------------


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


def _tool_or_fail(tool_name: str, which: Callable[[str], str | None], why: str) -> str:
    tool = which(tool_name)
    if tool is None:
        raise CondorToolError(
            f"{tool_name} is not on PATH, so annex-cdk cannot {why}",
            hint="put HTCondor's bin directory on PATH (source the personal HTCondor's "
            "condor.sh), or leave the option out",
        )
    return tool


def restart(tool: str) -> str:
    """Run condor_restart (the local master restarts every daemon with the new config)."""
    proc = _run_tool([tool])
    if proc.returncode != 0:
        raise CondorToolError(
            f"{names.TOOL_RESTART} failed (exit {proc.returncode}): "
            f"{_last_line(proc.stderr, proc.stdout)}"
        )
    return _last_line(proc.stdout, proc.stderr)


def run_configure(
    location: ConfigLocation,
    options: GuideOptions,
    *,
    password_mode: PasswordMode = "auto",
    stdin_password: Secret | None = None,
    ask_password: Callable[[], Secret] | None = None,
    restart_after: bool = False,
    which: Callable[[str], str | None] = shutil.which,
    htcondor_version: str | None = None,
) -> ConfigureReport:
    """Write the block for this HTCondor's side, check what it reads, store the pool password
    (classic side only), restart.

    ``htcondor_version`` (--htcondor-version) overrides the detected version.
    """
    options.validate()
    store_tool = which(names.TOOL_STORE_CRED)
    if password_mode == "stdin" and store_tool is None:
        _tool_or_fail(names.TOOL_STORE_CRED, which, "store the password from --password-stdin")
    restart_tool = (
        _tool_or_fail(names.TOOL_RESTART, which, "restart HTCondor (--restart)")
        if restart_after
        else None
    )
    try:
        context = _context(location)
    except ConfigError as err:
        raise LocalFilesError(
            f"{err}; HTCondor cannot read its configuration as it is, so annex-cdk leaves "
            f"{location.path} alone",
            hint="fix the file named above so that HTCondor can read it, then re-run",
        ) from None
    version = detect(
        htcondor_version, config_dirs=lambda: (context.bin_dir, context.release_dir), which=which
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
    old_block = _read_block_file(location.path).blocks.owned.get(BLOCK_ID)
    write = write_block(location, options, validate=_validator(location, context))
    values = options.values()
    check = check_effective(location, context, values)
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
    report.password = _password_step(
        first.get(names.KEY_PASSWORD_FILE),
        password_mode,
        stdin_password=stdin_password,
        ask=ask_password,
        tool=store_tool,
    )
    if restart_tool is not None:
        report.restart_output = restart(restart_tool)
    return report


def _hostname_warnings(options: GuideOptions, context: _Context) -> list[str]:
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
    context: _Context,
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
    hpc_dir = _prepare_hpc_annex_dir()  # a local fault stops before any change
    body = ap.block_lines(options.network_interface, public_host)
    old_block = _read_block_file(location.path).blocks.owned.get(BLOCK_ID)
    write = write_block(location, options, validate=_validator(location, context), body=body)
    values = ap.block_values(options.network_interface, public_host)
    check = check_effective(location, context, values)
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
        _tool_or_fail(names.TOOL_RESTART, which, "restart HTCondor (--restart)")
        if restart_after
        else None
    )
    validate: Callable[[str], None] | None = None
    if location.path.exists():
        try:
            validate = _validator(location, _context(location))
        except ConfigError:
            validate = None  # validate_change says whose fault a broken config is
    write = remove_block(location, validate=validate)
    report = UnconfigureReport(location, write)
    if restart_tool is not None:
        report.restart_output = restart(restart_tool)
    return report


def verify_configured(config_file: Path | None = None) -> list[str] | None:
    """For check-setup: the problems with the guide's block that `condor configure` wrote.

    None when there is no such block to check (not configured by annex-cdk, or no local
    config file can be found); [] when HTCondor's daemons read exactly the block's values.
    """
    try:
        location = locate(config_file)
        block = _read_block_file(location.path).blocks.owned.get(BLOCK_ID)
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
    context = _context(location)
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
        context = _context(location)
        host = daemon_values(
            _files_after_base(location, context),
            [names.KEY_TCP_FORWARDING_HOST],
            subsystem="TOOL",
            base_config=location.base_config,
        )[names.KEY_TCP_FORWARDING_HOST]
        return check_access_point(location, context, host or context.full_hostname or "").problems
    except (AnnexError, ConfigError, OSError):
        return None
