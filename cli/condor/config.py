"""The HTCondor user config that annex-cdk writes, and what HTCondor makes of it.

annex-cdk owns one marked block per region in ``~/.condor/user_config`` and never touches a
byte outside it. The block holds what condor_annex -setup would append (reference §3.2).
What HTCondor actually reads is checked with the real parser (the ``htcondor2`` bindings) in a
subprocess, because a config syntax error makes that process exit.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from annex_cdk.condor.files import LocalFileError, atomic_write, ensure_private_dir
from annex_stacks import names

#: condor_annex creates the user config with this mode; an existing file keeps its own.
NEW_FILE_MODE = 0o644
#: Keys condor_annex reads before it knows the region, so never with the region prefix.
UNPREFIXED_KEYS = frozenset({names.KEY_REGION})
#: Seconds for one HTCondor subprocess (it normally takes about 0.1 s).
HTCONDOR_TIMEOUT = 60.0

# Undecodable bytes survive a decode/encode round trip, so foreign bytes are kept exactly.
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"

_REGION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# $(X), $ENV(X), $RANDOM_CHOICE(...), $$(X): anything HTCondor would expand or keep symbolic.
_MACRO_RE = re.compile(r"\$[A-Za-z_]*\(")
_SOURCE_ERROR_RE = re.compile(
    r'Config source Error "(?P<file>[^"]*)", Line (?P<line>\d+)(?:, Include Depth \d+)?:\s*'
    r"(?P<msg>.*)\Z"
)
# How HTCondor reports a problem in a LOCAL_CONFIG_FILE itself; the problem is on the next line.
_LOCAL_SOURCE_ERROR_RE = re.compile(
    r"Configuration Error Line (?P<line>\d+) while reading config source (?P<file>.+?)\s*\Z"
)


class ConfigError(Exception):
    """The user config cannot be rendered, parsed or checked; the message is one line."""


class ConfigValueError(ConfigError):
    """A region, key or value cannot be written safely as HTCondor config."""


class BlockStructureError(ConfigError):
    """annex-cdk's block markers in a file are broken (unclosed, nested or duplicated)."""


class HTCondorUnavailableError(ConfigError):
    """The htcondor2 bindings cannot be run, so config cannot be checked."""


class ConfigSyntaxError(ConfigError):
    """HTCondor refuses a config file; ``file``/``line`` locate it when HTCondor says where."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, detail: str = ""
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.detail = detail or message


# --- Parsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Character offsets [start, end) of whole lines (end includes the last newline)."""

    start: int
    end: int
    first_line: int  # 1-based
    last_line: int


@dataclass(frozen=True)
class OurBlock:
    """annex-cdk's block for one region, from BEGIN to END marker inclusive."""

    region: str
    span: Span
    text: str
    added_eol: bool  # annex-cdk ended the previous last line of the file when appending


@dataclass(frozen=True)
class AnnexBlock:
    """A block condor_annex -setup appended: its comment line up to the next blank line."""

    region: str | None  # sanitized, as condor_annex wrote it; None for the region-less form
    span: Span
    text: str
    assignments: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ParsedConfig:
    """What annex-cdk recognises in a user config file."""

    ours: Mapping[str, OurBlock]
    annex_blocks: tuple[AnnexBlock, ...]


@dataclass(frozen=True)
class _Line:
    number: int
    start: int
    end: int
    content: str  # without the newline and a CR before it


def _lines(text: str) -> list[_Line]:
    """Split on LF only (HTCondor's view); a CR before it is not content."""
    out: list[_Line] = []
    pos = 0
    while pos < len(text):
        nl = text.find("\n", pos)
        end = len(text) if nl < 0 else nl + 1
        raw = text[pos : end if nl < 0 else nl]
        out.append(_Line(len(out) + 1, pos, end, raw.removesuffix("\r")))
        pos = end
    return out


def _template_re(template: str) -> re.Pattern[str]:
    before, _, after = template.partition("{region}")
    return re.compile(re.escape(before) + r"(?P<region>\S+?)" + re.escape(after) + r"\Z")


@dataclass(frozen=True)
class Markers:
    """The BEGIN/END comment lines of one kind of annex-cdk block.

    Both templates hold ``{region}``: the block's key, which can't contain whitespace. For
    the user config that is the AWS region; other files owned the same way (the personal
    HTCondor's local config) use a fixed key and templates that can't be mistaken for these.
    ``describe`` names a block in messages, also with ``{region}``.
    """

    begin: str
    end: str
    describe: str
    begin_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    end_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "begin_re", _template_re(self.begin))
        object.__setattr__(self, "end_re", _template_re(self.end))


#: The per-region blocks in ~/.condor/user_config.
REGION_MARKERS = Markers(names.BLOCK_BEGIN, names.BLOCK_END, "annex-cdk block for region {region}")
_BEGIN_RE = REGION_MARKERS.begin_re
_END_RE = REGION_MARKERS.end_re
_ANNEX_RE = _template_re(names.ANNEX_SETUP_COMMENT)
_ASSIGN_RE = re.compile(r"\s*(?P<name>[A-Za-z0-9_.]+)\s*=\s*(?P<value>.*?)\s*\Z")


def _span(text: str, first: _Line, last: _Line) -> tuple[Span, str]:
    return Span(first.start, last.end, first.number, last.number), text[first.start : last.end]


def parse(text: str, *, source: str = "config", markers: Markers = REGION_MARKERS) -> ParsedConfig:
    """Find annex-cdk's blocks (by region) and condor_annex's appended blocks in ``text``."""
    begin_re, end_re = markers.begin_re, markers.end_re
    lines = _lines(text)
    ours: dict[str, OurBlock] = {}
    annex: list[AnnexBlock] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = line.content.strip()
        if m := begin_re.match(marker):
            region = m["region"]
            what = markers.describe.format(region=region)
            if region in ours:
                raise BlockStructureError(f"{source} line {line.number}: a second {what}")
            end_marker = markers.end.format(region=region)
            j = i + 1
            while j < len(lines) and lines[j].content.strip() != end_marker:
                inner = lines[j].content.strip()
                if begin_re.match(inner) or end_re.match(inner):
                    raise BlockStructureError(
                        f"{source} line {lines[j].number}: unexpected marker inside the "
                        f"{what} that starts at line {line.number}"
                    )
                j += 1
            if j == len(lines):
                raise BlockStructureError(
                    f"{source} line {line.number}: the {what} has no end marker"
                )
            span, block_text = _span(text, line, lines[j])
            added_eol = j > i + 1 and lines[i + 1].content.strip() == names.BLOCK_ADDED_EOL_NOTE
            ours[region] = OurBlock(region, span, block_text, added_eol)
            i = j + 1
            continue
        if end_re.match(marker):
            raise BlockStructureError(
                f"{source} line {line.number}: annex-cdk end marker without a begin marker"
            )
        m = _ANNEX_RE.match(marker)
        if m or marker == names.ANNEX_SETUP_COMMENT_NO_REGION:
            j = i + 1
            while (
                j < len(lines)
                and lines[j].content.strip()
                and not begin_re.match(lines[j].content.strip())
            ):
                j += 1
            span, block_text = _span(text, line, lines[j - 1])
            assignments = tuple(
                (a["name"], a["value"])
                for a in (_ASSIGN_RE.match(x.content) for x in lines[i + 1 : j])
                if a
            )
            annex.append(AnnexBlock(m["region"] if m else None, span, block_text, assignments))
            i = j
            continue
        i += 1
    return ParsedConfig(ours, tuple(annex))


# --- Rendering and editing ------------------------------------------------------------------


def _check_region(region: str) -> None:
    if not isinstance(region, str) or not _REGION_RE.match(region):
        raise ConfigValueError(f"not a usable region name: {region!r}")


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ConfigValueError(f"not a usable HTCondor config key: {key!r}")


def _check_value(key: str, value: str) -> None:
    """Refuse values that HTCondor would read back as something else."""
    if not isinstance(value, str):
        raise ConfigValueError(f"{key}: value must be a string, not {type(value).__name__}")
    problem = None
    if _CONTROL_RE.search(value):
        problem = "contains a newline or another control character"
    elif value != value.strip():
        problem = "has leading or trailing whitespace, which HTCondor would drop"
    elif value.endswith("\\"):
        problem = "ends with a backslash, which HTCondor reads as a line continuation"
    elif _MACRO_RE.search(value):
        problem = "contains a $(...) macro reference, which HTCondor would expand"
    if problem:
        raise ConfigValueError(f"{key}: value {value!r} {problem}")


def _line_order(key: str) -> tuple[int, str]:
    # condor_annex writes its lines in ASCII order of its scratchpad names; other keys follow.
    scratch = names.SCRATCHPAD_FOR_KEY.get(key)
    return (0, scratch) if scratch is not None else (1, key)


def render_block(
    region: str, values: Mapping[str, str], *, set_region: bool, pem_path: Path | None
) -> str:
    """The text of annex-cdk's block for ``region`` (ends with a newline).

    Empty values are left out, as condor_annex does. Keys are bare names; each gets the
    ``local_name(region)`` prefix. Set ``ANNEX_DEFAULT_AWS_REGION`` through ``set_region``.
    """
    _check_region(region)
    prefix = names.local_name(region)
    out = [names.BLOCK_BEGIN.format(region=region)]
    if set_region:
        out.append(f"{names.KEY_REGION} = {region}")
    items = []
    for key, value in values.items():
        _check_key(key)
        if key == names.KEY_REGION:
            raise ConfigValueError(
                f"{key} is written unprefixed through set_region, not as a value"
            )
        if not value:
            continue
        _check_value(key, value)
        items.append((key, value))
    for key, value in sorted(items, key=lambda kv: _line_order(kv[0])):
        out.append(f"{prefix}.{key} = {value}")
    if pem_path is not None:
        pem = str(pem_path)
        if _CONTROL_RE.search(pem):
            raise ConfigValueError(f"PEM path {pem!r} contains a control character")
        debug, ssh = names.SSH_HINT_LINES
        out += [debug, ssh.format(pem=pem)]
    out.append(names.BLOCK_END.format(region=region))
    return "\n".join(out) + "\n"


def _checked_block(block: str, region: str, markers: Markers = REGION_MARKERS) -> str:
    """Make sure ``block`` is exactly one well-formed block for ``region``."""
    _check_region(region)
    try:
        parsed = parse(block, source="block", markers=markers)
    except BlockStructureError as exc:
        raise ConfigValueError(f"not an annex-cdk block: {exc}") from exc
    ours = parsed.ours.get(region)
    if (
        len(parsed.ours) != 1
        or ours is None
        or ours.span != Span(0, len(block), 1, len(_lines(block)))
    ):
        raise ConfigValueError(f"not exactly one {markers.describe.format(region=region)}")
    if not block.endswith("\n"):
        block += "\n"
    return block


def _with_eol_note(block: str) -> str:
    first, rest = block.split("\n", 1)
    if rest.startswith(names.BLOCK_ADDED_EOL_NOTE + "\n"):
        return block
    return f"{first}\n{names.BLOCK_ADDED_EOL_NOTE}\n{rest}"


def apply_block(text: str, region: str, block: str, *, markers: Markers = REGION_MARKERS) -> str:
    """Put ``block`` into ``text``: in place of the region's block, else appended.

    Appending adds one blank line before the block (none to an empty text); if the text's
    last line has no newline, annex-cdk adds it and notes that inside the block, so
    remove_block can take exactly that away again.
    """
    block = _checked_block(block, region, markers)
    existing = parse(text, markers=markers).ours.get(region)
    if existing is not None:
        if existing.added_eol:
            block = _with_eol_note(block)
        return text[: existing.span.start] + block + text[existing.span.end :]
    if not text:
        return block
    if text.endswith("\n"):
        return text + "\n" + block
    return text + "\n\n" + _with_eol_note(block)


def remove_block(text: str, region: str, *, markers: Markers = REGION_MARKERS) -> str:
    """Undo apply_block: drop the region's block and the separator annex-cdk added."""
    existing = parse(text, markers=markers).ours.get(region)
    if existing is None:
        return text
    prefix, suffix = text[: existing.span.start], text[existing.span.end :]
    if prefix.endswith("\n\n"):
        prefix = prefix[:-1]  # the blank line apply_block put before the block
        if existing.added_eol and not suffix:
            # Only at the end of the file: a line after the block must not be joined.
            prefix = prefix[:-1]
    return prefix + suffix


# --- The real HTCondor parser ---------------------------------------------------------------

# Runs in a fresh interpreter: HTCondor reads its config when htcondor2 is imported and exits
# the process on a syntax error. Subsystem ANNEX (then a reload, so $(SUBSYSTEM) and friends
# are right) makes param.get(KEY) try ANNEX.KEY before KEY, as in condor_annex.
_CHILD = r"""
import json, sys
try:
    import htcondor2
except ImportError as exc:
    sys.stderr.write(f"cannot import htcondor2: {exc}\n")
    sys.exit(3)
try:
    subsystem, local, keys, unprefixed = json.loads(sys.argv[1])

    def read(subsystem):
        htcondor2.set_subsystem(subsystem)
        htcondor2.reload_config()
        param = htcondor2.param
        out = {}
        for key in keys:
            value = None if key in unprefixed else param.get(local + "." + key)
            out[key] = param.get(key) if value is None else value
        return out

    # A list of subsystems: one reload each, all in this one process.
    if isinstance(subsystem, list):
        result = {name: read(name) for name in subsystem}
    else:
        result = read(subsystem)
    sys.stdout.write(json.dumps(result) + "\n")
except Exception as exc:
    sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
    sys.exit(4)
"""


def _config_path(path: Path) -> str:
    text = str(Path(path).absolute())
    # HTCondor expands macros in include lines; a newline would end the line.
    if "$" in text or _CONTROL_RE.search(text):
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
    payload = [subsystem, local, list(keys), sorted(unprefixed)]
    result = _run_child(files, payload, base_config, labels)
    return {key: result.get(key) for key in keys}


def _run_child(
    files: Sequence[Path],
    payload: list[object],
    base_config: Path | None,
    labels: Mapping[str, str] | None,
) -> Any:
    """Run _CHILD on ``payload`` with ``base_config`` then ``files``; its JSON answer."""
    includes = [_config_path(f) for f in files]
    base = _config_path(base_config) if base_config is not None else None
    with tempfile.TemporaryDirectory(prefix="annex-cdk-condor-") as tmp:
        tmpdir = Path(tmp)
        top, part = tmpdir / "condor_config", tmpdir / FILES_PART_NAME
        if re.search(r"[\s,]", str(part)):
            raise ConfigError(f"temporary directory {tmp!r} has a space or comma in its path")
        part.write_text("".join(f"include ifexist : {f}\n" for f in includes))
        # The files go in as the last LOCAL_CONFIG_FILE entry: HTCondor reads the base config,
        # then its LOCAL_CONFIG_DIR and LOCAL_CONFIG_FILE, then ours, which is the order in
        # which a real user config comes last. Plain includes here would be read before the
        # base's local config files and lose to them. The user config itself is switched off
        # so a non-root HTCondor does not read ~/.condor/user_config a second time.
        head = f"include ifexist : {base}\n" if base else ""
        top.write_text(
            f"{head}LOCAL_CONFIG_FILE = $(LOCAL_CONFIG_FILE) {part}\nUSER_CONFIG_FILE =\n"
        )
        arg = json.dumps(payload)
        try:
            proc = subprocess.run(
                [sys.executable, "-I", "-c", _CHILD, arg],
                env=_child_env(top),
                cwd=tmpdir,
                capture_output=True,
                timeout=HTCONDOR_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ConfigError(
                f"HTCondor took over {HTCONDOR_TIMEOUT:.0f} s to read the config"
            ) from exc
        except OSError as exc:
            raise HTCondorUnavailableError(f"cannot run {sys.executable}: {exc}") from exc
        stderr = proc.stderr.decode(_ENCODING, "replace")
        if proc.returncode == 1:  # HTCondor's own exit on a config error
            raise _syntax_error(stderr, labels or {}, {str(top), str(part)})
        if proc.returncode == 3:
            raise HTCondorUnavailableError(stderr.strip().splitlines()[-1])
        if proc.returncode != 0:
            last = (stderr.strip().splitlines() or ["no detail"])[-1]
            raise ConfigError(f"HTCondor config check failed (exit {proc.returncode}): {last}")
        out = proc.stdout.decode(_ENCODING, "replace").strip().splitlines()
        return json.loads(out[-1])


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
    _check_region(region)
    for key in keys:
        _check_key(key)
    return _run_htcondor(files, keys, names.local_name(region), base_config)


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
    _check_key(subsystem)
    for key in keys:
        _check_key(key)
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
        _check_key(name)
    result = _run_child(files, [list(subsystems), "", list(keys), sorted(keys)], base_config, None)
    return {name: {key: result.get(name, {}).get(key) for key in keys} for name in subsystems}


def validate_syntax(text: str, *, source_name: str = "candidate config") -> None:
    """Raise ConfigSyntaxError unless HTCondor can read ``text`` as a config file."""
    with tempfile.TemporaryDirectory(prefix="annex-cdk-check-") as tmp:
        candidate = Path(tmp) / "candidate.config"
        candidate.write_bytes(text.encode(_ENCODING, _ERRORS))
        _run_htcondor([candidate], [], "", None, {str(candidate): source_name})


def check_effective(
    path: Path,
    region: str,
    expected: Mapping[str, str],
    base_config: Path | None = None,
) -> list[str]:
    """Problems, one line each, where HTCondor's value of a key differs from ``expected``."""
    path = Path(path)
    local = names.local_name(region)
    got = effective_values([path], list(expected), region, base_config=base_config)
    text = _decode(_read(path) or b"")
    problems = []
    for key, want in expected.items():
        have = got.get(key)
        if have == want:
            continue
        shown = key if key in UNPREFIXED_KEYS else f"{local}.{key}"
        if have is None:
            msg = f"HTCondor finds no value for {shown}; annex-cdk expected {want!r}"
        else:
            msg = f"HTCondor reads {shown} as {have!r}, not {want!r} as annex-cdk wrote it"
        where = _later_definition(text, key, region)
        if where is not None:
            msg += f" (set again at {path}:{where})"
        problems.append(msg)
    return problems


def _later_definition(text: str, key: str, region: str) -> int | None:
    """Line number of the last definition of ``key`` after our block (or anywhere, if none)."""
    prefixes = "" if key in UNPREFIXED_KEYS else rf"(?:{re.escape(names.local_name(region))}\.)?"
    pattern = re.compile(rf"\s*{prefixes}{re.escape(key)}\s*@?=", re.IGNORECASE)
    try:
        block = parse(text).ours.get(region)
    except BlockStructureError:
        block = None
    after = block.span.last_line if block else 0
    hits = [x.number for x in _lines(text) if x.number > after and pattern.match(x.content)]
    return hits[-1] if hits else None


# --- Reading and writing the file -----------------------------------------------------------


Action = Literal["created", "appended", "replaced", "unchanged", "removed", "absent"]


@dataclass(frozen=True)
class WriteResult:
    """What write_user_config / unwrite_user_config did."""

    path: Path
    region: str
    action: Action
    backup: Path | None
    old_block: str | None
    new_block: str | None
    annex_blocks: tuple[AnnexBlock, ...]
    created_dir: bool = False

    @property
    def changed(self) -> bool:
        return self.action not in ("unchanged", "absent")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LocalFileError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _decode(data: bytes) -> str:
    return data.decode(_ENCODING, _ERRORS)


def _encode(text: str) -> bytes:
    return text.encode(_ENCODING, _ERRORS)


def _validate_candidate(path: Path, old_text: str | None, new_text: str) -> None:
    """Refuse to write what HTCondor can't read, telling whose fault it is."""
    validate_change(path, old_text, new_text)


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


def write_user_config(
    path: Path,
    region: str,
    values: Mapping[str, str],
    *,
    set_region: bool,
    pem_path: Path | None,
    retire_annex_blocks: bool = False,
) -> WriteResult:
    """Write annex-cdk's block for ``region`` into ``path``; no write if nothing changes.

    With ``retire_annex_blocks`` (the user's consent), the settings in blocks condor_annex
    appended for this region are commented out, each line kept so the change can be read back.

    The result lists condor_annex's own appended blocks so the caller can point them out.
    A missing directory is created 0700 (it also holds credentials); a new file gets 0644.
    """
    path = Path(path)
    block = render_block(region, values, set_region=set_region, pem_path=pem_path)
    old_bytes = _read(path)
    old_text = _decode(old_bytes) if old_bytes is not None else None
    parsed = parse(old_text or "", source=str(path))
    old = parsed.ours.get(region)
    base = old_text or ""
    if retire_annex_blocks:
        base = retire_blocks(base, parsed.annex_blocks, region)
    new_text = apply_block(base, region, block)
    result = WriteResult(
        path=path,
        region=region,
        action="unchanged",
        backup=None,
        old_block=old.text if old else None,
        new_block=parse(new_text).ours[region].text,
        annex_blocks=parsed.annex_blocks,
    )
    new_bytes = _encode(new_text)
    if new_bytes == old_bytes:
        return result
    _validate_candidate(path, old_text, new_text)
    created_dir = ensure_private_dir(path.parent)
    backup = atomic_write(path, new_bytes, mode=NEW_FILE_MODE, backup=True)
    action: Action = "created" if old_bytes is None else "replaced" if old else "appended"
    return replace(result, action=action, backup=backup, created_dir=created_dir)


RETIRED_PREFIX = "# retired by annex-cdk: "


def retire_blocks(text: str, blocks: Sequence[AnnexBlock], region: str) -> str:
    """Comment out the settings of condor_annex's blocks for ``region`` (and region-less ones)."""
    wanted = {names.local_name(region), None}
    # From the end, so earlier spans stay valid.
    for block in sorted(blocks, key=lambda b: b.span.start, reverse=True):
        if block.region not in wanted:
            continue
        lines = text[block.span.start : block.span.end].splitlines(keepends=True)
        retired = [
            line if not line.strip() or line.lstrip().startswith("#") else RETIRED_PREFIX + line
            for line in lines
        ]
        text = text[: block.span.start] + "".join(retired) + text[block.span.end :]
    return text


def unwrite_user_config(path: Path, region: str) -> WriteResult:
    """Remove annex-cdk's block for ``region`` (and the blank line it added) from ``path``."""
    path = Path(path)
    old_bytes = _read(path)
    if old_bytes is None:
        return WriteResult(path, region, "absent", None, None, None, ())
    old_text = _decode(old_bytes)
    parsed = parse(old_text, source=str(path))
    old = parsed.ours.get(region)
    if old is None:
        return WriteResult(path, region, "absent", None, None, None, parsed.annex_blocks)
    new_text = remove_block(old_text, region)
    _validate_candidate(path, old_text, new_text)
    backup = atomic_write(path, _encode(new_text), mode=NEW_FILE_MODE, backup=True)
    return WriteResult(path, region, "removed", backup, old.text, None, parsed.annex_blocks)
