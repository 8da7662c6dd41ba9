"""condor_annex's settings in ``~/.condor/user_config``: annex-cdk's block per region.

annex-cdk owns one marked block per region (block.py) and never touches a byte outside it.
The block holds what condor_annex -setup would append (reference §3.2): the
``<local_name(region)>.ANNEX_DEFAULT_*`` keys and ``ANNEX_DEFAULT_AWS_REGION``. The blocks
condor_annex -setup appended itself are found too, to point them out or retire them. What
HTCondor actually reads is checked with the real parser (parser.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from annex_cdk.condor import block as blocks
from annex_cdk.condor.block import (
    BlockAction,
    BlockStructureError,
    Markers,
    OwnedBlock,
    Span,
    template_re,
)
from annex_cdk.condor.files import decode_exact, read_optional
from annex_cdk.condor.parser import UNPREFIXED_KEYS, effective_values_by_region
from annex_cdk.condor.syntax import (
    CONTROL_RE,
    ConfigValueError,
    check_key,
    check_region,
    check_value,
    find_assignments,
)
from annex_stacks import names

#: The per-region blocks in ~/.condor/user_config.
REGION_MARKERS = Markers(names.BLOCK_BEGIN, names.BLOCK_END, "annex-cdk block for region {region}")
_ANNEX_RE = template_re(names.ANNEX_SETUP_COMMENT)
_ASSIGN_RE = re.compile(r"\s*(?P<name>[A-Za-z0-9_.]+)\s*=\s*(?P<value>.*?)\s*\Z")


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

    ours: Mapping[str, OwnedBlock]
    annex_blocks: tuple[AnnexBlock, ...]


def _is_annex_comment(line: str) -> bool:
    return bool(_ANNEX_RE.match(line)) or line == names.ANNEX_SETUP_COMMENT_NO_REGION


def _annex_blocks(parsed: blocks.ParsedBlocks) -> tuple[AnnexBlock, ...]:
    out = []
    for found in parsed.foreign:
        m = _ANNEX_RE.match(found.lines[0].strip())
        assignments = tuple(
            (a["name"], a["value"]) for a in (_ASSIGN_RE.match(x) for x in found.lines[1:]) if a
        )
        out.append(AnnexBlock(m["region"] if m else None, found.span, found.text, assignments))
    return tuple(out)


def _read(path: Path) -> blocks.BlockFile:
    return blocks.read_block_file(path, REGION_MARKERS, foreign=_is_annex_comment)


def parse(text: str, *, source: str = "config") -> ParsedConfig:
    """Find annex-cdk's blocks (by region) and condor_annex's appended blocks in ``text``."""
    parsed = blocks.parse_blocks(text, REGION_MARKERS, source=source, foreign=_is_annex_comment)
    return ParsedConfig(parsed.owned, _annex_blocks(parsed))


def block_values(text: str, region: str) -> dict[str, str]:
    """The bare-key values annex-cdk's block for ``region`` in ``text`` holds (none if no block)."""
    block = parse(text).ours.get(region)
    if block is None:
        return {}
    prefix = names.local_name(region) + "."
    found = {}
    for line in block.text.splitlines():
        if (m := _ASSIGN_RE.match(line)) and m["name"].startswith(prefix):
            found[m["name"][len(prefix) :]] = m["value"]
    return found


def dropped_lines(old_block: str | None, new_block: str | None) -> list[str]:
    """Lines of the old block that the new one no longer has (hand edits, changed values)."""
    if not old_block or not new_block:
        return []
    kept = set(new_block.splitlines())
    return [line for line in old_block.splitlines() if line.strip() and line not in kept]


# --- Rendering and editing ------------------------------------------------------------------


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
    check_region(region)
    prefix = names.local_name(region)
    out = [names.BLOCK_BEGIN.format(region=region)]
    if set_region:
        out.append(f"{names.KEY_REGION} = {region}")
    items = []
    for key, value in values.items():
        check_key(key)
        if key == names.KEY_REGION:
            raise ConfigValueError(
                f"{key} is written unprefixed through set_region, not as a value"
            )
        if not value:
            continue
        check_value(key, value)
        items.append((key, value))
    for key, value in sorted(items, key=lambda kv: _line_order(kv[0])):
        out.append(f"{prefix}.{key} = {value}")
    if pem_path is not None:
        pem = str(pem_path)
        if CONTROL_RE.search(pem):
            raise ConfigValueError(f"PEM path {pem!r} contains a control character")
        debug, ssh = names.SSH_HINT_LINES
        out += [debug, ssh.format(pem=pem)]
    out.append(names.BLOCK_END.format(region=region))
    return "\n".join(out) + "\n"


def apply_block(text: str, region: str, block: str) -> str:
    """Put ``block`` into ``text`` in place of the region's block, else appended (block.py)."""
    return blocks.apply_block(text, region, block, markers=REGION_MARKERS)


def remove_block(text: str, region: str) -> str:
    """Undo apply_block: drop the region's block and the separator annex-cdk added."""
    return blocks.remove_block(text, region, markers=REGION_MARKERS)


RETIRED_PREFIX = "# retired by annex-cdk: "


def _annex_key_re(local: str | None) -> re.Pattern[str]:
    """The lines condor_annex -setup writes into its block (reference §3.2): the unprefixed
    ANNEX_DEFAULT_AWS_REGION and the region's ANNEX_DEFAULT_* keys."""
    prefix = re.escape(local) + r"\." if local else ""
    return re.compile(
        rf"\s*(?:{re.escape(names.KEY_REGION)}|{prefix}ANNEX_DEFAULT_[A-Za-z0-9_]+)\s*=",
        re.IGNORECASE,
    )


def retire_blocks(text: str, annex_blocks: Sequence[AnnexBlock], region: str) -> str:
    """Comment out the settings of condor_annex's blocks for ``region`` (and region-less ones).

    Only the lines condor_annex writes are retired; the block ends at the first other line,
    since a user's own line can follow condor_annex's without a blank line between them.
    """
    wanted = {names.local_name(region), None}
    # From the end, so earlier spans stay valid.
    for found in sorted(annex_blocks, key=lambda b: b.span.start, reverse=True):
        if found.region not in wanted:
            continue
        ours = _annex_key_re(found.region)
        lines = text[found.span.start : found.span.end].splitlines(keepends=True)
        retired = lines[:1]  # condor_annex's comment line
        for index, line in enumerate(lines[1:], start=1):
            if not ours.match(line):
                retired += lines[index:]
                break
            retired.append(RETIRED_PREFIX + line)
        text = text[: found.span.start] + "".join(retired) + text[found.span.end :]
    return text


# --- What HTCondor reads --------------------------------------------------------------------


def check_effective(
    path: Path,
    region: str,
    expected: Mapping[str, str],
    base_config: Path | None = None,
) -> list[str]:
    """Problems, one line each, where HTCondor's value of a key differs from ``expected``."""
    return check_effective_by_region(path, {region: expected}, base_config)[region]


def check_effective_by_region(
    path: Path,
    expected: Mapping[str, Mapping[str, str]],
    base_config: Path | None = None,
) -> dict[str, list[str]]:
    """check_effective for several regions (`expected` by region), from one HTCondor run."""
    path = Path(path)
    got = effective_values_by_region(
        [path], {region: list(want) for region, want in expected.items()}, base_config=base_config
    )
    text = decode_exact(read_optional(path) or b"")
    return {
        region: _problems(path, text, region, want, got[region])
        for region, want in expected.items()
    }


def _problems(
    path: Path, text: str, region: str, expected: Mapping[str, str], got: Mapping[str, str | None]
) -> list[str]:
    local = names.local_name(region)
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
    prefix = None if key in UNPREFIXED_KEYS else re.escape(names.local_name(region))
    try:
        block = parse(text).ours.get(region)
    except BlockStructureError:
        block = None
    after = block.span.last_line if block else 0
    hits = [number for number, _ in find_assignments(text, key, prefix=prefix) if number > after]
    return hits[-1] if hits else None


# --- Writing the file -----------------------------------------------------------------------


@dataclass(frozen=True)
class WriteResult:
    """What write_user_config / unwrite_user_config did."""

    path: Path
    region: str
    action: BlockAction  # "deleted" only when nothing but our block was left
    backup: Path | None
    old_block: str | None
    new_block: str | None
    annex_blocks: tuple[AnnexBlock, ...]
    created_dir: bool = False

    @property
    def changed(self) -> bool:
        return self.action not in ("unchanged", "absent")


def _result(region: str, change: blocks.BlockChange, file: blocks.BlockFile) -> WriteResult:
    return WriteResult(
        path=change.path,
        region=region,
        action=change.action,
        backup=change.backup,
        old_block=change.old_block,
        new_block=change.new_block,
        annex_blocks=_annex_blocks(file.blocks),
        created_dir=change.created_dir,
    )


@dataclass(frozen=True)
class RegionBlock:
    """What one region's block holds (render_block's arguments)."""

    region: str
    values: Mapping[str, str]
    set_region: bool
    pem_path: Path | None


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
    block = RegionBlock(region, values, set_region, pem_path)
    [result] = write_region_blocks(path, [block], retire_annex_blocks=retire_annex_blocks)
    return result


def write_region_blocks(
    path: Path, region_blocks: Sequence[RegionBlock], *, retire_annex_blocks: bool = False
) -> list[WriteResult]:
    """write_user_config for several regions in one write (one check by HTCondor, one
    backup), the blocks in the order given; a result per region."""
    file = _read(Path(path))

    def edit(wanted: RegionBlock) -> Callable[[str], str]:
        block = render_block(
            wanted.region, wanted.values, set_region=wanted.set_region, pem_path=wanted.pem_path
        )

        def into(text: str) -> str:
            if retire_annex_blocks:
                text = retire_blocks(
                    text, parse(text, source=str(path)).annex_blocks, wanted.region
                )
            return apply_block(text, wanted.region, block)

        return into

    changes = blocks.put_blocks(
        file, [(b.region, edit(b)) for b in region_blocks], make_private_dir=True
    )
    return [
        _result(b.region, change, file) for b, change in zip(region_blocks, changes, strict=True)
    ]


def unwrite_user_config(path: Path, region: str) -> WriteResult:
    """Remove annex-cdk's block for ``region`` (and the blank line it added) from ``path``."""
    file = _read(Path(path))
    # A file left empty held nothing but annex-cdk's block: take it away rather than leave a
    # 0-byte user_config behind (condor_annex reads a missing one the same way).
    return _result(region, blocks.take_block(file, region, delete_if_emptied=True), file)
