"""Marked blocks that annex-cdk owns in a config file, and never a byte outside them.

A block runs from a BEGIN to an END comment line (`Markers`), keyed by a name in both. The
same mechanics serve ``~/.condor/user_config`` (one block per AWS region, user_config.py) and
the personal HTCondor's local config file (one block, personal.py): find the blocks, put a
block in (in place of the old one, else appended) or take it out again so the file gets back
exactly its bytes from before, and write the file only if HTCondor can read the result
(parser.py), atomically and with a backup (files.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from annex_cdk.condor.files import (
    CONFIG_FILE_MODE,
    atomic_write,
    decode_exact,
    encode_exact,
    ensure_private_dir,
    read_optional,
)
from annex_cdk.condor.parser import validate_change
from annex_cdk.condor.syntax import ConfigError, ConfigValueError, Line, check_region, split_lines
from annex_cdk.errors import LocalFilesError
from annex_stacks import names


class BlockStructureError(ConfigError):
    """annex-cdk's block markers in a file are broken (unclosed, nested or duplicated)."""


@dataclass(frozen=True)
class Span:
    """Character offsets [start, end) of whole lines (end includes the last newline)."""

    start: int
    end: int
    first_line: int  # 1-based
    last_line: int


def template_re(template: str) -> re.Pattern[str]:
    """Matches a comment line made from ``template``; ``{region}`` is the ``region`` group."""
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
        object.__setattr__(self, "begin_re", template_re(self.begin))
        object.__setattr__(self, "end_re", template_re(self.end))


@dataclass(frozen=True)
class OwnedBlock:
    """annex-cdk's block for one key, from BEGIN to END marker inclusive."""

    region: str  # the block's key
    span: Span
    text: str
    added_eol: bool  # annex-cdk ended the previous last line of the file when appending


@dataclass(frozen=True)
class ForeignBlock:
    """A block another tool appended: a line it starts with, up to the next blank line."""

    span: Span
    text: str
    lines: tuple[str, ...]  # each without its newline (and a CR before it)


@dataclass(frozen=True)
class ParsedBlocks:
    """annex-cdk's blocks of one kind (by key) and the foreign blocks asked for."""

    owned: Mapping[str, OwnedBlock]
    foreign: tuple[ForeignBlock, ...]


def _span(text: str, first: Line, last: Line) -> tuple[Span, str]:
    return Span(first.start, last.end, first.number, last.number), text[first.start : last.end]


def parse_blocks(
    text: str,
    markers: Markers,
    *,
    source: str = "config",
    foreign: Callable[[str], bool] | None = None,
) -> ParsedBlocks:
    """Find annex-cdk's blocks in ``text``, and the blocks whose first line ``foreign`` accepts.

    A foreign block ends before the next blank line or BEGIN marker. Broken markers raise
    BlockStructureError, with ``source`` and a line number in the message.
    """
    begin_re, end_re = markers.begin_re, markers.end_re
    lines = split_lines(text)
    in_value = _multi_line_values(lines)
    owned: dict[str, OwnedBlock] = {}
    others: list[ForeignBlock] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = line.content.strip()
        if i in in_value and (begin_re.match(marker) or end_re.match(marker)):
            start = in_value[i]
            raise BlockStructureError(
                f"{source} line {line.number}: an annex-cdk marker inside the multi-line value "
                f"that starts at line {start.number} ({start.content.strip()}); HTCondor reads "
                "every line up to its closing @ line as that value, so annex-cdk's settings "
                "there would be ignored"
            )
        if m := begin_re.match(marker):
            region = m["region"]
            what = markers.describe.format(region=region)
            if region in owned:
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
            owned[region] = OwnedBlock(region, span, block_text, added_eol)
            i = j + 1
            continue
        if end_re.match(marker):
            raise BlockStructureError(
                f"{source} line {line.number}: annex-cdk end marker without a begin marker"
            )
        if foreign is not None and foreign(marker):
            j = i + 1
            while (
                j < len(lines)
                and lines[j].content.strip()
                and not begin_re.match(lines[j].content.strip())
            ):
                j += 1
            span, block_text = _span(text, line, lines[j - 1])
            others.append(ForeignBlock(span, block_text, tuple(x.content for x in lines[i:j])))
            i = j
            continue
        i += 1
    return ParsedBlocks(owned, tuple(others))


# `NAME @=TAG` opens a value of several lines that a line `@TAG` closes (HTCondor 8.9+); the
# lines between are the value, whatever they look like (HTCondor drops comment lines there).
_MULTI_LINE_START = re.compile(r"^\s*[^\s#=@][^\s=@]*\s*@=\s*(?P<tag>\S*)\s*$")


def _multi_line_values(lines: list[Line]) -> dict[int, Line]:
    """The index of every line inside an `@=` value, mapped to the line that opens it."""
    inside: dict[int, Line] = {}
    i = 0
    while i < len(lines):
        if m := _MULTI_LINE_START.match(lines[i].content):
            close = "@" + m["tag"]
            j = i + 1
            while j < len(lines) and lines[j].content.strip() != close:
                inside[j] = lines[i]
                j += 1
            i = j + 1
            continue
        i += 1
    return inside


# --- Editing the text -----------------------------------------------------------------------


def _checked_block(block: str, key: str, markers: Markers) -> str:
    """Make sure ``block`` is exactly one well-formed block for ``key``."""
    check_region(key)
    try:
        parsed = parse_blocks(block, markers, source="block")
    except BlockStructureError as exc:
        raise ConfigValueError(f"not an annex-cdk block: {exc}") from exc
    ours = parsed.owned.get(key)
    if (
        len(parsed.owned) != 1
        or ours is None
        or ours.span != Span(0, len(block), 1, len(split_lines(block)))
    ):
        raise ConfigValueError(f"not exactly one {markers.describe.format(region=key)}")
    if not block.endswith("\n"):
        block += "\n"
    return block


def _with_eol_note(block: str) -> str:
    first, rest = block.split("\n", 1)
    if rest.startswith(names.BLOCK_ADDED_EOL_NOTE + "\n"):
        return block
    return f"{first}\n{names.BLOCK_ADDED_EOL_NOTE}\n{rest}"


def apply_block(text: str, key: str, block: str, *, markers: Markers) -> str:
    """Put ``block`` into ``text``: in place of the key's block, else appended.

    Appending adds one blank line before the block (none to an empty text); if the text's
    last line has no newline, annex-cdk adds it and notes that inside the block, so
    remove_block can take exactly that away again.
    """
    block = _checked_block(block, key, markers)
    existing = parse_blocks(text, markers).owned.get(key)
    if existing is not None:
        if existing.added_eol:
            block = _with_eol_note(block)
        return text[: existing.span.start] + block + text[existing.span.end :]
    if not text:
        return block
    if text.endswith("\n"):
        return text + "\n" + block
    return text + "\n\n" + _with_eol_note(block)


def remove_block(text: str, key: str, *, markers: Markers) -> str:
    """Undo apply_block: drop the key's block and the separator annex-cdk added."""
    existing = parse_blocks(text, markers).owned.get(key)
    if existing is None:
        return text
    prefix, suffix = text[: existing.span.start], text[existing.span.end :]
    next_block = suffix.startswith("\n") and _begins_block(suffix[1:], markers)
    if not prefix and next_block:
        # The block was the first thing in the file: the blank line after it was put before
        # the next block when that was appended, and with nothing before it apply_block
        # puts none.
        suffix = suffix[1:]
    elif existing.added_eol and next_block:
        # The newline this block added to the user's last line stays while our next block
        # follows; that block now carries the note, so that its removal takes it away.
        suffix = "\n" + _with_eol_note(suffix[1:])
    if prefix.endswith("\n\n"):
        prefix = prefix[:-1]  # the blank line apply_block put before the block
        if existing.added_eol and not suffix:
            # Only at the end of the file: a line after the block must not be joined.
            prefix = prefix[:-1]
    return prefix + suffix


def _begins_block(text: str, markers: Markers) -> bool:
    first = text.split("\n", 1)[0]
    return bool(markers.begin_re.match(first.strip()))


# --- Reading and writing the file -----------------------------------------------------------


@dataclass(frozen=True)
class BlockFile:
    """A config file as read (its exact bytes) and the blocks found in it."""

    path: Path
    markers: Markers
    data: bytes | None  # None: there is no such file
    text: str  # "" when there is no file
    blocks: ParsedBlocks

    @property
    def old_text(self) -> str | None:
        return None if self.data is None else self.text


def read_block_file(
    path: Path, markers: Markers, *, foreign: Callable[[str], bool] | None = None
) -> BlockFile:
    """Read ``path`` (LocalFilesError if it can't be) and find its blocks (BlockStructureError)."""
    data = read_optional(path)
    text = decode_exact(data) if data is not None else ""
    blocks = parse_blocks(text, markers, source=str(path), foreign=foreign)
    return BlockFile(path, markers, data, text, blocks)


BlockAction = Literal[
    "created", "appended", "replaced", "unchanged", "removed", "deleted", "absent"
]


@dataclass(frozen=True)
class BlockChange:
    """What put_block / take_block did to a file."""

    path: Path
    action: BlockAction
    backup: Path | None = None
    old_block: str | None = None
    new_block: str | None = None
    created_dir: bool = False

    @property
    def changed(self) -> bool:
        return self.action not in ("unchanged", "absent")


def put_block(
    file: BlockFile,
    key: str,
    block: str,
    *,
    base_text: str | None = None,
    validate: Callable[[str], None] | None = None,
    make_private_dir: bool = False,
) -> BlockChange:
    """Write ``block`` into ``file`` (into ``base_text``, if given, instead of its text).

    No write (nor backup) if the bytes stay the same. Otherwise the new text must be readable
    by HTCondor (validate_change, with ``validate``), and is written atomically after a
    backup; a new file gets CONFIG_FILE_MODE. A missing directory is created 0700 with
    ``make_private_dir``, else it is a LocalFilesError.
    """

    def edit(text: str) -> str:
        return apply_block(
            text if base_text is None else base_text, key, block, markers=file.markers
        )

    [change] = put_blocks(file, [(key, edit)], validate=validate, make_private_dir=make_private_dir)
    return change


def put_blocks(
    file: BlockFile,
    edits: Sequence[tuple[str, Callable[[str], str]]],
    *,
    validate: Callable[[str], None] | None = None,
    make_private_dir: bool = False,
) -> list[BlockChange]:
    """put_block for several keys in one write: each ``(key, edit)`` in turn makes the text
    (the file's, then the one before it made) into the text with its key's block.

    One check by HTCondor and one atomic write (after one backup) for them all; each key's
    change says what its own edit did (the first to change a missing file created it).
    """
    path = file.path
    if file.data is None and not make_private_dir and not path.parent.is_dir():
        raise LocalFilesError(f"cannot create {path}: {path.parent} is not a directory")
    text = file.text
    edited: list[tuple[str, bool]] = []
    for key, edit in edits:
        before, text = text, edit(text)
        edited.append((key, text != before))
    new = parse_blocks(text, file.markers, source=str(path)).owned
    new_bytes = encode_exact(text)
    changes = []
    for key, _ in edited:
        old = file.blocks.owned.get(key)
        old_block = old.text if old else None
        changes.append(BlockChange(path, "unchanged", old_block=old_block, new_block=new[key].text))
    if new_bytes == file.data:
        return changes
    validate_change(path, file.old_text, text, validate=validate)
    created_dir = ensure_private_dir(path.parent) if make_private_dir else False
    backup = atomic_write(path, new_bytes, mode=CONFIG_FILE_MODE, backup=True)
    created = file.data is None
    for index, (key, changed) in enumerate(edited):
        if not changed:
            continue
        action: BlockAction = (
            "created" if created else "replaced" if file.blocks.owned.get(key) else "appended"
        )
        changes[index] = replace(
            changes[index], action=action, backup=backup, created_dir=created_dir
        )
        created = created_dir = False  # the next key's block went into a file that exists
    return changes


def take_block(
    file: BlockFile,
    key: str,
    *,
    validate: Callable[[str], None] | None = None,
    delete_if_emptied: bool = False,
) -> BlockChange:
    """Take ``key``'s block out of ``file`` again, checked and written as put_block does.

    With ``delete_if_emptied`` (annex-cdk created the file), a file left empty is deleted.
    """
    path = file.path
    old = file.blocks.owned.get(key)
    if old is None:
        return BlockChange(path, "absent")
    new_text = remove_block(file.text, key, markers=file.markers)
    if delete_if_emptied and not new_text:
        try:
            path.unlink()
        except OSError as err:
            raise LocalFilesError(f"cannot delete {path}: {err.strerror}") from None
        return BlockChange(path, "deleted", old_block=old.text)
    validate_change(path, file.old_text, new_text, validate=validate)
    backup = atomic_write(path, encode_exact(new_text), mode=CONFIG_FILE_MODE, backup=True)
    return BlockChange(path, "removed", backup, old_block=old.text)
