"""Which HTCondor annex-cdk configures, and so which side of the 24.11.2 line it is on.

HTCondor 24.11.2 withdrew classic ``condor_annex -count`` annexes: from then on (24.12, the
25.0 LTS, 25.x) annexes are made by ``htcondor annex create NAME TYPE@aws-ec2`` and attach to
the access point's schedd (shared/reference/htcondor_24_11_annex.md). The version comes from,
in this order: ``--htcondor-version``; ``condor_version`` on PATH; the local configuration's
facts (``$(BIN)/condor_version``, else a ``condor-X.Y.Z`` release directory, as a tarball
personal HTCondor is unpacked); the Python bindings' own version.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from annex_cdk.condor.parser import bindings_version_line
from annex_cdk.errors import UsageError
from annex_stacks import names

Side = Literal["classic", "access-point"]

#: The first release whose annexes attach to the access point (v24-version.hist:660,679-682).
ACCESS_POINT_SINCE: tuple[int, int, int] = (24, 11, 2)
#: condor_version's first line (src/condor_utils/condor_version.cpp:102):
#: "$CondorVersion: " CONDOR_VERSION " " BUILD_DATE [BuildID ...] [PackageID ...] ... " $".
_VERSION_LINE_RE = re.compile(r"\$CondorVersion:\s+(\d+)\.(\d+)\.(\d+)\s")
_FLAG_RE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?\Z")
_RELEASE_DIR_RE = re.compile(r"condor-(\d+)\.(\d+)\.(\d+)(?:\D|\Z)")
#: condor_version is a local program that answers at once; one that does not is broken or
#: hung, and the next source is asked instead (saying so).
_TIMEOUT = 5.0
BINDINGS_SOURCE = "the HTCondor Python bindings"


@dataclass(frozen=True)
class HTCondorVersion:
    """An HTCondor version and where annex-cdk found it."""

    major: int
    minor: int
    patch: int | None  # None: given as X.Y on the command line
    source: str
    #: Why the sources asked before ``source`` did not decide (a hung condor_version, ...).
    passed_over: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        base = f"{self.major}.{self.minor}"
        return base if self.patch is None else f"{base}.{self.patch}"

    @property
    def side(self) -> Side:
        # X.Y without a patch level is only accepted where the patch cannot matter (parse_flag).
        patch = 0 if self.patch is None else self.patch
        return (
            "access-point" if (self.major, self.minor, patch) >= ACCESS_POINT_SINCE else "classic"
        )

    def describe(self) -> str:
        tool = "htcondor annex create" if self.side == "access-point" else "condor_annex"
        why = "".join(f"; {note}" for note in self.passed_over)
        return f"HTCondor {self.text} (from {self.source}{why}): {self.side} path, {tool}"


def parse_version_line(output: str, source: str) -> HTCondorVersion | None:
    """The version in condor_version's (or htcondor2.version()'s) ``$CondorVersion: ...$``."""
    m = _VERSION_LINE_RE.search(output)
    if m is None:
        return None
    return HTCondorVersion(int(m[1]), int(m[2]), int(m[3]), source)


def parse_flag(value: str) -> HTCondorVersion:
    """``--htcondor-version X.Y[.Z]``."""
    m = _FLAG_RE.match(value.strip())
    if m is None:
        raise UsageError(f"--htcondor-version {value!r} is not X.Y or X.Y.Z (e.g. 24.0 or 25.0.1)")
    patch = int(m[3]) if m[3] is not None else None
    if patch is None and (int(m[1]), int(m[2])) == ACCESS_POINT_SINCE[:2]:
        x, y, z = ACCESS_POINT_SINCE
        raise UsageError(
            f"--htcondor-version {value.strip()} needs its patch level: {x}.{y}.0 and "
            f"{x}.{y}.1 are classic condor_annex, {x}.{y}.{z} and later use htcondor annex create",
            hint=f"pass the full version, e.g. --htcondor-version {x}.{y}.{z} (condor_version "
            "prints it)",
        )
    return HTCondorVersion(int(m[1]), int(m[2]), patch, "--htcondor-version")


def _run_version_tool(path: str) -> HTCondorVersion | str:
    """The version ``path`` prints, or why it gave none."""
    try:
        # Its own process group: a hung wrapper script's children are killed with it (they
        # would hold the pipe open, and the wait with it).
        proc = subprocess.Popen(
            [path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        return f"{path} could not run ({exc.strerror or exc})"
    try:
        out, _ = proc.communicate(timeout=_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"{path} did not answer within {_TIMEOUT:.0f} s"
    if proc.returncode != 0:
        return f"{path} exited with code {proc.returncode}"
    found = parse_version_line(out.decode("utf-8", "replace"), path)
    return found if found is not None else f"{path} printed no $CondorVersion line"


def _from_config(
    bin_dir: str | None, release_dir: str | None, notes: list[str]
) -> HTCondorVersion | None:
    if bin_dir:
        tool = Path(bin_dir) / names.TOOL_VERSION
        if os.access(tool, os.X_OK):
            found = _run_version_tool(str(tool))
            if isinstance(found, str):
                notes.append(found)
            else:
                return HTCondorVersion(found.major, found.minor, found.patch, f"{tool} (BIN)")
    for directory in (release_dir, bin_dir and str(Path(bin_dir).parent)):
        if directory and (m := _RELEASE_DIR_RE.search(Path(directory).name)):
            return HTCondorVersion(
                int(m[1]), int(m[2]), int(m[3]), f"the release directory {directory}"
            )
    return None


def _from_bindings() -> HTCondorVersion | None:
    # In HTCondor's parser process: importing htcondor2 reads a config and exits on an error.
    line = bindings_version_line(_TIMEOUT)
    return None if line is None else parse_version_line(line, BINDINGS_SOURCE)


def detect(
    override: str | None = None,
    *,
    config_dirs: Callable[[], tuple[str | None, str | None]] = lambda: (None, None),
    which: Callable[[str], str | None] = shutil.which,
    bindings: Callable[[], HTCondorVersion | None] = _from_bindings,
) -> HTCondorVersion:
    """The HTCondor to configure: the flag, condor_version, the config's facts, the bindings.

    ``config_dirs`` gives the configuration's (BIN, RELEASE_DIR), read only when needed.
    """
    if override is not None:
        return parse_flag(override)
    notes: list[str] = []  # why a source did not decide, said with the version used instead
    if tool := which(names.TOOL_VERSION):
        found = _run_version_tool(tool)
        if not isinstance(found, str):
            return found
        notes.append(found)
    sources: tuple[Callable[[], HTCondorVersion | None], ...] = (
        lambda: _from_config(*config_dirs(), notes),
        bindings,
    )
    for source in sources:
        if (version := source()) is not None:
            return replace(version, passed_over=tuple(notes))
    raise UsageError(
        "cannot tell which HTCondor this is: no condor_version on PATH, no version in the "
        "configuration, no HTCondor Python bindings",
        hint="pass --htcondor-version X.Y (e.g. 24.0 for condor_annex, 25.0 for htcondor annex)",
    )
