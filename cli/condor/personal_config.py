"""The personal HTCondor's local config file, what its configuration says before annex-cdk
changes it, how a candidate text is validated where HTCondor reads it, and running its tools
(condor_config_val, condor_restart)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from annex_cdk.condor.files import encode_exact
from annex_cdk.condor.parser import (
    FILES_PART_NAME,
    check_config,
    daemon_values,
    validate_syntax,
)
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.condor.syntax import ConfigError
from annex_cdk.errors import AnnexError, LocalFilesError, UsageError
from annex_stacks import names

#: Seconds for one HTCondor tool run (condor_store_cred, condor_restart, condor_config_val).
TOOL_TIMEOUT = 60.0


LIST_SPLIT_RE = re.compile(r"[,\s]+")


class CondorToolError(AnnexError):
    """An HTCondor command-line tool is missing or failed."""


@dataclass(frozen=True)
class ConfigLocation:
    """The personal HTCondor's local config file and the configuration that reads it."""

    path: Path
    source: str  # how it was found, for the user
    base_config: Path | None  # CONDOR_CONFIG (or /etc/condor/condor_config), if any
    others: tuple[Path, ...] = ()  # other LOCAL_CONFIG_FILE entries, read before it


def _split_list(value: str | None) -> list[str]:
    """An HTCondor list value (comma/space separated), without _run_htcondor's own file."""
    items = [x for x in LIST_SPLIT_RE.split(value or "") if x]
    return [x for x in items if Path(x).name != FILES_PART_NAME]


def run_tool(
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


def last_line(*outputs: bytes) -> str:
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
        proc = run_tool([tool, "LOCAL_CONFIG_FILE"])
        source = f"{names.TOOL_CONFIG_VAL} LOCAL_CONFIG_FILE"
        if proc.returncode != 0:
            raise UsageError(f"{source} failed: {last_line(proc.stderr, proc.stdout)}", hint=hint)
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
class ConfigContext:
    """What HTCondor's configuration says before annex-cdk changes anything."""

    local_files: tuple[str, ...]  # the base's LOCAL_CONFIG_FILE entries
    reads_file: bool | None  # None: no base configuration to ask
    local_dir: str | None
    full_hostname: str | None
    bin_dir: str | None = None
    release_dir: str | None = None


def same_file(a: str | Path, b: str | Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def user_configs() -> list[Path]:
    # HTCondor reads ~/.condor/user_config after everything else, except as root.
    return [] if os.geteuid() == 0 else [LocalPaths(Path.home()).user_config]


def read_context(location: ConfigLocation) -> ConfigContext:
    keys = ["LOCAL_CONFIG_FILE", "LOCAL_CONFIG_DIR", "LOCAL_DIR", "FULL_HOSTNAME", "BIN"]
    keys.append("RELEASE_DIR")
    if location.base_config is None:
        got = daemon_values([location.path], keys, subsystem="MASTER")
        return ConfigContext(
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
        reads = any(same_file(f, location.path) for f in local_files) or any(
            same_file(d, location.path.parent) for d in dirs
        )
        if not reads:
            # Then it is read after the base's local files, if at all: ask again with it there.
            got = daemon_values([location.path], keys, subsystem="MASTER", base_config=base)
    return ConfigContext(
        local_files, reads, got["LOCAL_DIR"], got["FULL_HOSTNAME"], got["BIN"], got["RELEASE_DIR"]
    )


def files_after_base(location: ConfigLocation, context: ConfigContext) -> list[Path]:
    """The files to read after the base configuration to get what HTCondor gets."""
    mine = [] if context.reads_file else [location.path]
    return mine + user_configs()


def validator(location: ConfigLocation, context: ConfigContext) -> Callable[[str], None]:
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
                str(candidate) if same_file(f, location.path) else f for f in context.local_files
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


def tool_or_fail(tool_name: str, which: Callable[[str], str | None], why: str) -> str:
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
    proc = run_tool([tool])
    if proc.returncode != 0:
        raise CondorToolError(
            f"{names.TOOL_RESTART} failed (exit {proc.returncode}): "
            f"{last_line(proc.stderr, proc.stdout)}"
        )
    return last_line(proc.stdout, proc.stderr)
