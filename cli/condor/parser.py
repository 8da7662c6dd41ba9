"""The real HTCondor parser: what HTCondor makes of config files, and whether it can read them.

HTCondor's own parser (the ``htcondor2`` bindings) runs in a child process, because HTCondor
reads its config when htcondor2 is imported and exits the process on a syntax error. The
lookups are condor_annex's (``<local_name(region)>.KEY``, ``ANNEX.KEY``, ``KEY``) or a
daemon's (``<SUBSYSTEM>.KEY``, ``KEY``).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from annex_cdk.condor import htcondor_process
from annex_cdk.condor.files import encode_exact
from annex_cdk.condor.syntax import (
    CONTROL_RE,
    ConfigError,
    ConfigSyntaxError,
    HTCondorUnavailableError,
    check_key,
    check_region,
)
from annex_stacks import names

#: Keys condor_annex reads before it knows the region, so never with the region prefix.
UNPREFIXED_KEYS = frozenset({names.KEY_REGION})
#: Seconds for HTCondor to answer (it normally takes a few ms; 0.1 s with a new child).
HTCONDOR_TIMEOUT = 60.0
# HTCondor's output is read as UTF-8; what isn't is shown replaced, never kept.
_ENCODING = "utf-8"
_SOURCE_ERROR_RE = re.compile(
    r'Config source Error "(?P<file>[^"]*)", Line (?P<line>\d+)(?:, Include Depth \d+)?:\s*'
    r"(?P<msg>.*)\Z"
)
# How HTCondor reports a problem in a LOCAL_CONFIG_FILE itself; the problem is on the next line.
_LOCAL_SOURCE_ERROR_RE = re.compile(
    r"Configuration Error Line (?P<line>\d+) while reading config source (?P<file>.+?)\s*\Z"
)


# The child's answer to one payload (see htcondor_process). Subsystem ANNEX (then a reload,
# so $(SUBSYSTEM) and friends are right) makes param.get(KEY) try ANNEX.KEY before KEY, as
# in condor_annex.
_CHILD = r"""
def answer(payload):
    if payload == "version":  # the bindings' own version line; no config is read
        return htcondor2.version()
    subsystem, local, keys, unprefixed = payload

    def read(subsystem):
        htcondor2.set_subsystem(subsystem)
        htcondor2.reload_config()
        param = htcondor2.param

        def lookup(local):
            out = {}
            for key in keys:
                value = None if key in unprefixed else param.get(local + "." + key)
                out[key] = param.get(key) if value is None else value
            return out

        # A list of local names (several regions): each one's lookup, from one reload.
        return {name: lookup(name) for name in local} if isinstance(local, list) else lookup(local)

    # A list of subsystems: one reload each.
    if isinstance(subsystem, list):
        return {name: read(name) for name in subsystem}
    return read(subsystem)
"""


def _config_path(path: Path) -> str:
    text = str(Path(path).absolute())
    # HTCondor expands macros in include lines; a newline would end the line.
    if "$" in text or CONTROL_RE.search(text):
        raise ConfigError(f"cannot pass {text!r} to HTCondor: it contains '$' or a control char")
    return text


def _line_of(path: str, number: int) -> str | None:
    try:
        with open(path, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                if n == number:
                    return raw.decode(_ENCODING, "replace").strip()
    except OSError:
        pass
    return None


def _error_lines(stderr: str) -> list[str]:
    """HTCondor's error lines, with the LOCAL_CONFIG_FILE form rewritten to the include form."""
    lines = [x.strip() for x in stderr.splitlines()]
    out = []
    for i, x in enumerate(lines):
        if m := _LOCAL_SOURCE_ERROR_RE.match(x):
            after = lines[i + 1] if i + 1 < len(lines) else ""
            is_header = _SOURCE_ERROR_RE.match(after) or _LOCAL_SOURCE_ERROR_RE.match(after)
            x = f'Config source Error "{m["file"]}", Line {m["line"]}: {"" if is_header else after}'
        out.append(x)
    return out


def _syntax_error(stderr: str, labels: Mapping[str, str], skip: set[str]) -> ConfigSyntaxError:
    """Turn HTCondor's error output into one line naming file, line and problem."""
    found = [
        m
        for m in (_SOURCE_ERROR_RE.match(x) for x in _error_lines(stderr))
        if m and m["file"] not in skip
    ]
    if not found:
        first = next((x.strip() for x in stderr.splitlines() if x.strip()), "")
        return ConfigSyntaxError(f"HTCondor cannot read the configuration: {first or 'no detail'}")
    best = next((m for m in found if m["msg"]), found[0])
    # "Line 0" is a file HTCondor could not open; the including line is the place to fix.
    where = next((m for m in found if int(m["line"]) > 0), best)
    file, line = where["file"], int(where["line"])
    detail = best["msg"].rstrip()
    if not detail:
        bad = _line_of(file, line)
        detail = "HTCondor cannot parse this line" + (f": {bad[:120]!r}" if bad else "")
    shown = labels.get(file, file)
    return ConfigSyntaxError(
        f"{shown}, line {line}: {detail}", file=shown, line=line, detail=detail
    )


def _child_env(condor_config: Path) -> dict[str, str]:
    # _CONDOR_<NAME> variables override every file; they are not what is being checked here.
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("_CONDOR_")}
    env["CONDOR_CONFIG"] = str(condor_config)
    return env


#: The temporary file through which _run_htcondor adds files to LOCAL_CONFIG_FILE.
FILES_PART_NAME = "annex_cdk_files.config"


def _run_htcondor(
    files: Sequence[Path],
    keys: Sequence[str],
    local: str,
    base_config: Path | None,
    labels: Mapping[str, str] | None = None,
    *,
    subsystem: str = names.ANNEX_SUBSYSTEM,
    unprefixed: Collection[str] = UNPREFIXED_KEYS,
) -> dict[str, str | None]:
    payload: list[object] = [subsystem, local, list(keys), sorted(unprefixed)]
    result = _run_child(files, payload, base_config, labels)
    return {key: result.get(key) for key in keys}


#: Where the child keeps USER_CONFIG_FILE's value as HTCondor had it before reading a user config.
USER_CONFIG_COPY = "ANNEX_CDK_USER_CONFIG_FILE"
# An include line's macros are expanded when the line is read, so echoing the value through
# `include command` keeps it as it was then: after the base config and its local config files,
# which is when HTCondor looks it up (condor_config.cpp, v24.11.2 lines 969-977), and before
# anything read later (our stand-ins, a user config that sets it) can change it.
_USER_CONFIG_CAPTURE = (
    f"include command : /bin/echo {USER_CONFIG_COPY} = $({names.USER_CONFIG_KNOB})\n"
)


def _run_child(
    files: Sequence[Path],
    payload: list[object],
    base_config: Path | None,
    labels: Mapping[str, str] | None,
    *,
    capture_user_config: bool = False,
) -> Any:
    """Run _CHILD on ``payload`` with ``base_config`` then ``files``; its JSON answer."""
    includes = [_config_path(f) for f in files]
    base = _config_path(base_config) if base_config is not None else None
    with tempfile.TemporaryDirectory(prefix="annex-cdk-condor-") as tmp:
        tmpdir = Path(tmp)
        top, part = tmpdir / "condor_config", tmpdir / FILES_PART_NAME
        if re.search(r"[\s,]", str(part)):
            raise ConfigError(f"temporary directory {tmp!r} has a space or comma in its path")
        # The files go in as the last LOCAL_CONFIG_FILE entry: HTCondor reads the base config,
        # then its LOCAL_CONFIG_DIR and LOCAL_CONFIG_FILE, then ours, which is the order in
        # which a real user config comes last. Plain includes here would be read before the
        # base's local config files and lose to them. HTCondor's own read of the user config
        # is switched off last, after every local file (one of them could set it again), so
        # the user config the files stand for is not read a second time.
        capture = _USER_CONFIG_CAPTURE if capture_user_config else ""
        part.write_text(
            capture
            + "".join(f"include ifexist : {f}\n" for f in includes)
            + f"{names.USER_CONFIG_KNOB} =\n"
        )
        head = f"include ifexist : {base}\n" if base else ""
        top.write_text(f"{head}LOCAL_CONFIG_FILE = $(LOCAL_CONFIG_FILE) {part}\n")
        try:
            answer = htcondor_process.ask(
                sys.executable,
                _CHILD,
                payload,
                env=_child_env(top),
                cwd=tmpdir,
                timeout=HTCONDOR_TIMEOUT,
            )
        except htcondor_process.ChildTimeoutError:
            raise ConfigError(
                f"HTCondor took over {HTCONDOR_TIMEOUT:.0f} s to read the config"
            ) from None
        except OSError as exc:
            raise HTCondorUnavailableError(f"cannot run {sys.executable}: {exc}") from exc
        if answer.returncode == 0:
            return answer.result
        if answer.returncode == 1:  # HTCondor's own exit on a config error
            raise _syntax_error(answer.stderr, labels or {}, {str(top), str(part)})
        lines = answer.stderr.strip().splitlines() or ["no detail"]
        if answer.returncode == htcondor_process.EXIT_NO_BINDINGS:
            raise HTCondorUnavailableError(lines[-1])
        raise ConfigError(f"HTCondor config check failed (exit {answer.returncode}): {lines[-1]}")


def bindings_version_line(timeout: float) -> str | None:
    """``htcondor2.version()`` of the bindings this parser runs; None if they cannot run."""
    try:
        answer = htcondor_process.ask(
            sys.executable,
            _CHILD,
            "version",
            env=_child_env(Path(os.devnull)),
            cwd=Path("/"),
            timeout=timeout,
        )
    except (OSError, htcondor_process.ChildTimeoutError):
        return None
    return str(answer.result) if answer.returncode == 0 else None


def effective_values(
    files: Sequence[Path],
    keys: Sequence[str],
    region: str,
    *,
    base_config: Path | None = None,
) -> dict[str, str | None]:
    """Each key's value as condor_annex would see it after reading ``files`` in order.

    Lookup as in condor_annex: ``<local_name(region)>.KEY`` (config, then HTCondor's own
    per-region defaults), ``ANNEX.KEY``, ``KEY``; ANNEX_DEFAULT_AWS_REGION only unprefixed.
    Missing files are skipped. ``None`` means not set. Values are macro-expanded.
    """
    return effective_values_by_region(files, {region: keys}, base_config=base_config)[region]


def effective_values_by_region(
    files: Sequence[Path],
    keys: Mapping[str, Sequence[str]],
    *,
    base_config: Path | None = None,
) -> dict[str, dict[str, str | None]]:
    """effective_values for several regions (`keys` by region), from one HTCondor process."""
    for region in keys:
        check_region(region)
    locals_ = {region: names.local_name(region) for region in keys}
    wanted = list(dict.fromkeys(key for region_keys in keys.values() for key in region_keys))
    for key in wanted:
        check_key(key)
    payload: list[object] = [
        names.ANNEX_SUBSYSTEM,
        list(locals_.values()),
        wanted,
        sorted(UNPREFIXED_KEYS),
    ]
    found = _run_child(files, payload, base_config, None)
    return {
        region: {key: found[local].get(key) for key in keys[region]}
        for region, local in locals_.items()
    }


def daemon_values(
    files: Sequence[Path],
    keys: Sequence[str],
    *,
    subsystem: str,
    base_config: Path | None = None,
) -> dict[str, str | None]:
    """Each key's value as the HTCondor program ``subsystem`` (e.g. COLLECTOR) reads it.

    Plain HTCondor lookup, ``<SUBSYSTEM>.KEY`` then ``KEY``, with no region prefix: what a
    personal HTCondor's daemons see. Files, order and expansion as in effective_values.
    """
    check_key(subsystem)
    for key in keys:
        check_key(key)
    return _run_htcondor(
        files, keys, "", base_config, subsystem=subsystem, unprefixed=frozenset(keys)
    )


def check_config(
    files: Sequence[Path],
    *,
    base_config: Path | None = None,
    labels: Mapping[str, str] | None = None,
) -> None:
    """Raise ConfigSyntaxError unless HTCondor can read ``base_config`` and then ``files``.

    ``labels`` maps a file's path to the name errors should give it (a stand-in's real name).
    """
    _run_htcondor(files, [], "", base_config, labels, subsystem="TOOL", unprefixed=())


def daemons_values(
    files: Sequence[Path],
    keys: Sequence[str],
    *,
    subsystems: Sequence[str],
    base_config: Path | None = None,
) -> dict[str, dict[str, str | None]]:
    """daemon_values for several subsystems at once (one HTCondor process, one reload each)."""
    for name in [*subsystems, *keys]:
        check_key(name)
    result = _run_child(files, [list(subsystems), "", list(keys), sorted(keys)], base_config, None)
    return {name: {key: result.get(name, {}).get(key) for key in keys} for name in subsystems}


def validate_syntax(text: str, *, source_name: str = "candidate config") -> None:
    """Raise ConfigSyntaxError unless HTCondor can read ``text`` as a config file."""
    with tempfile.TemporaryDirectory(prefix="annex-cdk-check-") as tmp:
        candidate = Path(tmp) / "candidate.config"
        candidate.write_bytes(encode_exact(text))
        _run_htcondor([candidate], [], "", None, {str(candidate): source_name})


def validate_change(
    path: Path,
    old_text: str | None,
    new_text: str,
    *,
    validate: Callable[[str], None] | None = None,
) -> None:
    """Raise ConfigSyntaxError if ``new_text`` as ``path`` is unreadable, saying whose fault.

    ``validate(text)`` raises ConfigSyntaxError for text HTCondor can't read; by default the
    text is checked on its own (validate_syntax). Files read in a context (another file's
    macros, includes) pass a validator that reads the text in that context.
    """

    def alone(text: str) -> None:
        validate_syntax(text, source_name=str(path))

    check = validate or alone
    try:
        check(new_text)
    except ConfigSyntaxError as new_exc:
        if old_text is not None:
            try:
                check(old_text)
            except ConfigSyntaxError as old_exc:
                raise ConfigSyntaxError(
                    f"{old_exc}; {path} is already invalid HTCondor config, so annex-cdk "
                    "leaves it alone",
                    file=old_exc.file,
                    line=old_exc.line,
                    detail=old_exc.detail,
                ) from old_exc
        raise ConfigSyntaxError(
            f"annex-cdk's change would make HTCondor unable to read it: {new_exc}",
            file=new_exc.file,
            line=new_exc.line,
            detail=new_exc.detail,
        ) from new_exc


def user_config_setting(base_config: Path | None) -> str:
    """USER_CONFIG_FILE as HTCondor looks it up to find the user config ("" when unset).

    Its value after the base config and its local config files, macros expanded; `_CONDOR_*`
    variables are not applied yet at that point (condor_config.cpp, v24.11.2: the lookup at
    lines 969-977 comes before the environment's macros, lines 983-1010), so
    ``_CONDOR_USER_CONFIG_FILE`` does not move the file.
    """
    result = _run_child(
        [],
        [names.ANNEX_SUBSYSTEM, "", [USER_CONFIG_COPY], [USER_CONFIG_COPY]],
        base_config,
        None,
        capture_user_config=True,
    )
    return (result.get(USER_CONFIG_COPY) or "").strip()
