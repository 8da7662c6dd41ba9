"""The user-config block: rendering, in-place editing, and what real HTCondor reads back."""

from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path

import pytest

from annex_cdk.condor import parser
from annex_cdk.condor.block import BlockStructureError
from annex_cdk.condor.parser import effective_values, validate_syntax
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.condor.syntax import (
    ConfigError,
    ConfigSyntaxError,
    ConfigValueError,
    HTCondorUnavailableError,
)
from annex_cdk.condor.user_config import (
    apply_block,
    check_effective,
    parse,
    remove_block,
    render_block,
    unwrite_user_config,
    write_user_config,
)
from annex_stacks import names

REGION = "us-east-1"
LOCAL = names.local_name(REGION)
PEM = Path("/home/u/.condor") / names.pem_file_name(REGION)
VALUES = {
    names.KEY_SFR_LEASE: "arn:aws:lambda:us-east-1:123456789012:function:sfr",
    names.KEY_ODI_LEASE: "arn:aws:lambda:us-east-1:123456789012:function:odi",
    names.KEY_SECURITY_GROUP_IDS: "sg-0123456789abcdef0",
    names.KEY_SECRET_KEY_FILE: names.FROM_INSTANCE,
    names.KEY_S3_BUCKET: "htcondor-annex-123456789012-us-east-1",
    names.KEY_KEY_NAME: names.KEY_PAIR_NAME,
    names.KEY_INSTANCE_PROFILE: "arn:aws:iam::123456789012:instance-profile/p",
    names.KEY_ACCESS_KEY_FILE: names.FROM_INSTANCE,
}
# A user's file with their own lines and a block that condor_annex -setup appended earlier.
OLD_ANNEX = (
    f"{names.ANNEX_SETUP_COMMENT.format(region=LOCAL)}\n"
    f"{names.KEY_REGION} = {REGION}\n"
    f"{LOCAL}.{names.KEY_S3_BUCKET} = old-bucket\n"
)
USER_FILE = (
    "# my settings\r\n"
    f"{names.KEY_COLLECTOR_HOST} = cm.example.org:9618\n"
    f"{names.KEY_PASSWORD_FILE} = /home/u/.condor/pw\n"
    "\n" + OLD_ANNEX + "\nODD_BYTES = caf\xe9\n"
).encode("latin-1")


def block(values: dict[str, str] | None = None, **kw: object) -> str:
    args: dict[str, object] = {"set_region": True, "pem_path": None} | kw
    return render_block(REGION, VALUES if values is None else values, **args)  # type: ignore[arg-type]


# --- render_block ----------------------------------------------------------------------------


def test_render_contents_and_condor_annex_order() -> None:
    text = render_block(REGION, VALUES, set_region=True, pem_path=PEM)
    lines = text.splitlines()
    assert text.endswith("\n")
    assert lines[0] == names.BLOCK_BEGIN.format(region=REGION)
    assert lines[-1] == names.BLOCK_END.format(region=REGION)
    assert lines[1] == f"{names.KEY_REGION} = {REGION}"
    keys = [line.split(" = ")[0] for line in lines[2:-3]]
    # ASCII order of condor_annex's scratchpad names (reference §3.2 table), prefixed.
    assert keys == [
        f"{LOCAL}.{k}"
        for k in (
            names.KEY_ACCESS_KEY_FILE,
            names.KEY_INSTANCE_PROFILE,
            names.KEY_KEY_NAME,
            names.KEY_S3_BUCKET,
            names.KEY_SECRET_KEY_FILE,
            names.KEY_SECURITY_GROUP_IDS,
            names.KEY_ODI_LEASE,
            names.KEY_SFR_LEASE,
        )
    ]
    assert f"{LOCAL}.{names.KEY_S3_BUCKET} = {VALUES[names.KEY_S3_BUCKET]}" in lines
    assert lines[-3:-1] == ["# For debugging:", f"# ssh -i {PEM} ec2-user@<address>"]


def test_render_minimal_and_other_keys_last() -> None:
    values = {names.KEY_S3_BUCKET: "b", names.KEY_ODI_LEASE: "", names.KEY_COLLECTOR_HOST: "cm"}
    text = render_block("us-gov-west-1", values, set_region=False, pem_path=None)
    assert text == (
        names.BLOCK_BEGIN.format(region="us-gov-west-1") + "\n"
        "us_gov_west_1.ANNEX_DEFAULT_S3_BUCKET = b\n"
        "us_gov_west_1.COLLECTOR_HOST = cm\n"
        + names.BLOCK_END.format(region="us-gov-west-1")
        + "\n"
    )


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        (names.KEY_S3_BUCKET, "a\nEVIL = 1", "newline"),
        (names.KEY_S3_BUCKET, "a\rb", "control"),
        (names.KEY_S3_BUCKET, " padded", "whitespace"),
        (names.KEY_S3_BUCKET, "padded ", "whitespace"),
        (names.KEY_S3_BUCKET, "c:\\dir\\", "continuation"),
        (names.KEY_S3_BUCKET, "$(HOME)/x", "macro"),
        (names.KEY_S3_BUCKET, "$ENV(HOME)", "macro"),
        ("BAD KEY", "v", "config key"),
        ("us_east_1.PREFIXED", "v", "config key"),
        (names.KEY_REGION, REGION, "set_region"),
    ],
)
def test_render_rejects_unsafe(key: str, value: str, match: str) -> None:
    with pytest.raises(ConfigValueError, match=match):
        render_block(REGION, {key: value}, set_region=False, pem_path=None)


def test_render_rejects_bad_region_and_pem() -> None:
    with pytest.raises(ConfigValueError, match="region"):
        render_block("us east\n1", {}, set_region=False, pem_path=None)
    with pytest.raises(ConfigValueError, match="PEM"):
        render_block(REGION, {}, set_region=False, pem_path=Path("/x\n/y.pem"))


# --- parse -----------------------------------------------------------------------------------


def test_parse_finds_ours_and_condor_annex_blocks() -> None:
    text = USER_FILE.decode("utf-8", "surrogateescape") + "\n" + block()
    text += "\n" + names.ANNEX_SETUP_COMMENT_NO_REGION + "\nX = 1\n"
    parsed = parse(text)
    assert list(parsed.ours) == [REGION]
    ours = parsed.ours[REGION]
    assert text[ours.span.start : ours.span.end] == ours.text == block()
    assert not ours.added_eol
    first, second = parsed.annex_blocks
    assert first.region == LOCAL
    assert first.text == OLD_ANNEX
    assert (first.span.first_line, first.span.last_line) == (5, 7)
    assert (f"{LOCAL}.{names.KEY_S3_BUCKET}", "old-bucket") in first.assignments
    assert second.region is None and second.assignments == (("X", "1"),)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (names.BLOCK_BEGIN.format(region=REGION) + "\nA = 1\n", "no end marker"),
        (names.BLOCK_END.format(region=REGION) + "\n", "without a begin"),
        (block() + block(), "second annex-cdk block"),
        (
            names.BLOCK_BEGIN.format(region=REGION) + "\n" + block().replace(REGION, "eu-west-1"),
            "unexpected marker",
        ),
    ],
)
def test_parse_rejects_broken_markers(text: str, match: str) -> None:
    with pytest.raises(BlockStructureError, match=match):
        parse(text)


# --- apply_block / remove_block --------------------------------------------------------------

ORIGINALS = [
    "",
    "\n",
    "A = 1\n",
    "A = 1",
    "A = 1\n\n\n",
    "A = 1\r\nB = 2\r\n",
    "A = 1\r",
    "# only a comment, no newline",
    USER_FILE.decode("utf-8", "surrogateescape"),
]


@pytest.mark.parametrize("original", ORIGINALS)
def test_apply_then_remove_restores_exactly(original: str) -> None:
    applied = apply_block(original, REGION, block())
    assert applied.startswith(original)
    assert parse(applied).ours[REGION].text.endswith(block().split("\n", 1)[1])
    # Re-applying (same or changed values) keeps everything outside the block.
    changed = apply_block(applied, REGION, block({names.KEY_S3_BUCKET: "other"}))
    assert apply_block(changed, REGION, block()) == applied
    assert remove_block(applied, REGION) == original
    assert remove_block(changed, REGION) == original


@pytest.mark.parametrize("original", ["", "A = 1\n", "A = 1"])
def test_blocks_of_several_regions_come_out_in_any_order(original: str) -> None:
    """Setups of three regions, then their destroys in any order: the file is as before."""
    regions = ("us-east-1", "us-west-2", "eu-west-1")
    for added in itertools.permutations(regions):
        text = original
        for region in added:
            text = apply_block(
                text, region, render_block(region, VALUES, set_region=False, pem_path=None)
            )
        for removed in itertools.permutations(regions):
            left = text
            for region in removed:
                left = remove_block(left, region)
            assert left == original, (added, removed)


def test_append_separator() -> None:
    assert apply_block("", REGION, block()) == block()
    assert apply_block("A = 1\n", REGION, block()) == "A = 1\n\n" + block()
    noted = apply_block("A = 1", REGION, block())
    begin, rest = block().split("\n", 1)
    assert noted == f"A = 1\n\n{begin}\n{names.BLOCK_ADDED_EOL_NOTE}\n{rest}"


def test_remove_keeps_lines_added_after_block() -> None:
    applied = apply_block("A = 1", REGION, block())
    later = applied + "B = 2\n"
    assert remove_block(later, REGION) == "A = 1\nB = 2\n"  # not joined into "A = 1B = 2"
    other = apply_block("A = 1\n", REGION, block()) + "\nB = 2\n"
    assert remove_block(other, REGION) == "A = 1\n\nB = 2\n"


def test_regions_are_independent() -> None:
    west = render_block("us-west-2", {names.KEY_S3_BUCKET: "w"}, set_region=False, pem_path=None)
    text = apply_block(apply_block("A = 1\n", REGION, block()), "us-west-2", west)
    updated = apply_block(text, REGION, block({names.KEY_S3_BUCKET: "new"}))
    assert parse(updated).ours["us-west-2"].text == west
    assert remove_block(remove_block(text, "us-west-2"), REGION) == "A = 1\n"
    assert remove_block("A = 1\n", REGION) == "A = 1\n"


def test_apply_rejects_non_block() -> None:
    with pytest.raises(ConfigValueError):
        apply_block("", REGION, "A = 1\n")
    with pytest.raises(ConfigValueError):
        apply_block("", "eu-west-1", block())


# --- write_user_config / unwrite_user_config -------------------------------------------------


def files_in(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def test_write_creates_file_and_private_dir(tmp_path: Path) -> None:
    path = tmp_path / names.CONDOR_USER_DIR / names.USER_CONFIG_FILE
    result = write_user_config(path, REGION, VALUES, set_region=True, pem_path=PEM)
    assert result.action == "created" and result.changed and result.created_dir
    assert result.backup is None and result.old_block is None
    assert path.read_text() == render_block(REGION, VALUES, set_region=True, pem_path=PEM)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert files_in(path.parent) == {names.USER_CONFIG_FILE}


def test_write_preserves_user_bytes_and_reports_old_block(tmp_path: Path) -> None:
    path = tmp_path / names.USER_CONFIG_FILE
    path.write_bytes(USER_FILE)
    os.chmod(path, 0o600)
    result = write_user_config(path, REGION, VALUES, set_region=False, pem_path=None)
    assert result.action == "appended"
    data = path.read_bytes()
    assert data == USER_FILE + b"\n" + block(set_region=False).encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [b.region for b in result.annex_blocks] == [LOCAL]
    assert result.annex_blocks[0].text == OLD_ANNEX
    assert result.backup is not None and result.backup.read_bytes() == USER_FILE

    # Same values again: not a byte written, no backup made, mtime untouched.
    before = (path.stat().st_mtime_ns, files_in(tmp_path))
    again = write_user_config(path, REGION, VALUES, set_region=False, pem_path=None)
    assert again.action == "unchanged" and not again.changed and again.backup is None
    assert path.read_bytes() == data
    assert (path.stat().st_mtime_ns, files_in(tmp_path)) == before

    # Changed values: only our block differs.
    changed = dict(VALUES, **{names.KEY_S3_BUCKET: "new-bucket"})
    third = write_user_config(path, REGION, changed, set_region=False, pem_path=None)
    assert third.action == "replaced"
    assert third.old_block == block(set_region=False)
    assert third.new_block == block(changed, set_region=False)
    assert path.read_bytes() == USER_FILE + b"\n" + block(changed, set_region=False).encode()
    assert third.backup is not None and third.backup.read_bytes() == data

    # Removing restores the user's original bytes exactly.
    removed = unwrite_user_config(path, REGION)
    assert removed.action == "removed" and removed.old_block == third.new_block
    assert path.read_bytes() == USER_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert unwrite_user_config(path, REGION).action == "absent"


def test_block_in_the_middle_is_replaced_in_place(tmp_path: Path) -> None:
    path = tmp_path / names.USER_CONFIG_FILE
    path.write_bytes(b"A = 1")
    write_user_config(path, REGION, VALUES, set_region=True, pem_path=None)
    with path.open("ab") as fh:
        fh.write(b"B = 2\n")
    after = path.read_bytes()
    write_user_config(path, REGION, {names.KEY_S3_BUCKET: "x"}, set_region=True, pem_path=None)
    text = path.read_text()
    ours = parse(text).ours[REGION]
    old = parse(after.decode()).ours[REGION]
    assert text[: ours.span.start] == after.decode()[: old.span.start]
    assert text[ours.span.end :] == "B = 2\n"
    unwrite_user_config(path, REGION)
    assert path.read_bytes() == b"A = 1\nB = 2\n"


def test_unwrite_missing_file(tmp_path: Path) -> None:
    result = unwrite_user_config(tmp_path / "nothing", REGION)
    assert result.action == "absent" and not result.changed
    assert not (tmp_path / "nothing").exists()


def test_write_refuses_broken_markers(tmp_path: Path) -> None:
    path = tmp_path / names.USER_CONFIG_FILE
    path.write_text(names.BLOCK_BEGIN.format(region=REGION) + "\n")
    with pytest.raises(BlockStructureError, match=str(path)):
        write_user_config(path, REGION, VALUES, set_region=True, pem_path=None)


# --- The real HTCondor parser ----------------------------------------------------------------


def test_htcondor_reads_back_block(tmp_path: Path) -> None:
    path = tmp_path / names.USER_CONFIG_FILE
    write_user_config(path, REGION, VALUES, set_region=True, pem_path=PEM)
    keys = [*VALUES, names.KEY_REGION, names.KEY_COLLECTOR_HOST]
    got = effective_values([path], keys, REGION)
    assert got == {**VALUES, names.KEY_REGION: REGION, names.KEY_COLLECTOR_HOST: None}
    # The prefix scopes the values to their region.
    other = effective_values([path], [names.KEY_S3_BUCKET, names.KEY_REGION], "eu-west-1")
    assert other == {names.KEY_S3_BUCKET: None, names.KEY_REGION: REGION}
    assert check_effective(path, REGION, VALUES) == []


def test_htcondor_lookup_order_and_last_definition(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text(
        "K1 = plain\nANNEX.K1 = annex\n"  # ANNEX.<KEY> beats <KEY>
        f"K2 = plain\nANNEX.K2 = annex\n{LOCAL}.K2 = regional\n"  # the region beats both
        "K3 = one\nK3 = two\n"  # last definition wins within a file
        "K4 = from-first\n"
    )
    second.write_text("K4 = from-second\nK5 = $(K4)-expanded\n")  # later file wins too
    files = [first, tmp_path / "missing", second]  # a missing file is skipped
    got = effective_values(files, ["K1", "K2", "K3", "K4", "K5", "K6"], REGION)
    assert got == {
        "K1": "annex",
        "K2": "regional",
        "K3": "two",
        "K4": "from-second",
        "K5": "from-second-expanded",
        "K6": None,
    }


def test_htcondor_builtin_regional_defaults(tmp_path: Path) -> None:
    # HTCondor ships per-region defaults such as us_east_1.ANNEX_DEFAULT_ODI_IMAGE_ID.
    got = effective_values([], ["ANNEX_DEFAULT_ODI_IMAGE_ID"], REGION)
    assert (got["ANNEX_DEFAULT_ODI_IMAGE_ID"] or "").startswith("ami-")


def test_base_config_local_files_come_before_user_file(tmp_path: Path) -> None:
    # A real user config is read after the base config's LOCAL_CONFIG_DIR/FILE; so here.
    local_dir, local_file = tmp_path / "config.d", tmp_path / "condor_config.local"
    local_dir.mkdir()
    (local_dir / "10-x").write_text("K = from-dir\nORDER = $(ORDER) dir\n")
    local_file.write_text("K = from-local\nORDER = $(ORDER) local\n")
    base = tmp_path / "condor_config"
    base.write_text(
        f"LOCAL_CONFIG_DIR = {local_dir}\nLOCAL_CONFIG_FILE = {local_file}\n"
        "K = from-base\nORDER = base\nBASE_ONLY = yes\n"
    )
    user = tmp_path / names.USER_CONFIG_FILE
    user.write_text("K = from-user\nORDER = $(ORDER) user\n")
    got = effective_values([user], ["K", "ORDER", "BASE_ONLY"], REGION, base_config=base)
    assert got == {"K": "from-user", "ORDER": "base dir local user", "BASE_ONLY": "yes"}
    assert effective_values([user], ["K"], REGION, base_config=tmp_path / "none") == {
        "K": "from-user"
    }


def test_environment_overrides_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"_CONDOR_{names.KEY_REGION}", "eu-west-1")
    path = tmp_path / names.USER_CONFIG_FILE
    path.write_text(f"{names.KEY_REGION} = {REGION}\n")
    assert effective_values([path], [names.KEY_REGION], REGION) == {names.KEY_REGION: REGION}


def test_check_effective_detects_later_override(tmp_path: Path) -> None:
    path = tmp_path / names.USER_CONFIG_FILE
    path.write_text(f"{LOCAL}.{names.KEY_S3_BUCKET} = before-is-fine\n")
    write_user_config(path, REGION, VALUES, set_region=True, pem_path=None)
    with path.open("a") as fh:
        fh.write(f"{names.KEY_S3_BUCKET} = unprefixed-is-fine\n")
        fh.write(f"{LOCAL.upper()}.{names.KEY_SECURITY_GROUP_IDS} = sg-override\n")
        fh.write(f"{names.KEY_REGION} = eu-west-1\n")
    expected = {**VALUES, names.KEY_REGION: REGION}
    lines = len(path.read_text().splitlines())
    problems = check_effective(path, REGION, expected)
    assert problems == [
        f"HTCondor reads {LOCAL}.{names.KEY_SECURITY_GROUP_IDS} as 'sg-override', not "
        f"'{VALUES[names.KEY_SECURITY_GROUP_IDS]}' as annex-cdk wrote it "
        f"(set again at {path}:{lines - 1})",
        f"HTCondor reads {names.KEY_REGION} as 'eu-west-1', not '{REGION}' as annex-cdk "
        f"wrote it (set again at {path}:{lines})",
    ]


def test_check_effective_missing_value(tmp_path: Path) -> None:
    path = tmp_path / names.USER_CONFIG_FILE
    path.write_text("")
    (problem,) = check_effective(path, REGION, {names.KEY_COLLECTOR_HOST: "cm"})
    assert problem.startswith(f"HTCondor finds no value for {LOCAL}.{names.KEY_COLLECTOR_HOST}")


@pytest.mark.parametrize(
    ("text", "line", "detail"),
    [
        ("A = 1\nthis is not valid\nB = 2\n", 2, "'this is not valid'"),
        ("A = 1\nif true\nB = 2\n", 3, "endif"),
        ("A = 1\ninclude : /nonexistent/annex-cdk-test\n", 2, "can't open file"),
    ],
)
def test_syntax_errors(text: str, line: int, detail: str) -> None:
    with pytest.raises(ConfigSyntaxError) as info:
        validate_syntax(text, source_name="/home/u/.condor/user_config")
    err = info.value
    assert detail in str(err)
    assert "\n" not in str(err)
    assert (err.file, err.line) == ("/home/u/.condor/user_config", line)
    assert str(err).startswith(f"/home/u/.condor/user_config, line {line}: ")


def test_valid_syntax_passes() -> None:
    validate_syntax(USER_FILE.decode("utf-8", "surrogateescape") + "\n" + block())
    validate_syntax("")


def test_effective_values_syntax_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("A = 1\nnot config\n")
    with pytest.raises(ConfigSyntaxError, match=f"^{bad}, line 2: "):
        effective_values([bad], ["A"], REGION)


def test_write_refuses_already_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / names.USER_CONFIG_FILE
    original = b"A = 1\nif true\n"
    path.write_bytes(original)
    with pytest.raises(ConfigSyntaxError, match="already invalid") as info:
        write_user_config(path, REGION, VALUES, set_region=True, pem_path=None)
    assert info.value.file == str(path)
    assert path.read_bytes() == original
    assert files_in(tmp_path) == {names.USER_CONFIG_FILE}


def test_htcondor_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    script = "import sys; sys.stderr.write('cannot import htcondor2: nope\\n'); sys.exit(3)"
    monkeypatch.setattr(parser, "_CHILD", script)
    with pytest.raises(HTCondorUnavailableError, match="cannot import htcondor2"):
        effective_values([], ["A"], REGION)


def test_paths_with_macros_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\$"):
        effective_values([tmp_path / "$(HOME)"], ["A"], REGION)


def test_stand_in_text_keeps_non_utf8_bytes(tmp_path: Path) -> None:
    # post_deploy reads user_config with surrogateescape and asks what the rest of it sets.
    text = b"# caf\xe9\nANNEX_DEFAULT_AWS_REGION = us-west-2\n".decode("utf-8", "surrogateescape")
    got = LocalPaths(tmp_path).effective([names.KEY_REGION], REGION, text=text)
    assert got == {names.KEY_REGION: "us-west-2"}


# --- data loss -----------------------------------------------------------------------------


@pytest.mark.hostile
def test_retiring_condor_annex_block_spares_the_users_following_lines(tmp_path: Path) -> None:
    """Only condor_annex's ANNEX_DEFAULT_* lines are retired, not a user's line that follows
    them without a blank line."""
    path = tmp_path / names.USER_CONFIG_FILE
    annex = (
        f"\n{names.ANNEX_SETUP_COMMENT.format(region=LOCAL)}\n"
        f"{names.KEY_REGION} = {REGION}\n"
        f"{LOCAL}.{names.KEY_S3_BUCKET} = old-bucket\n"
    )
    mine = "SEC_DEFAULT_ENCRYPTION = REQUIRED\n"
    path.write_text("# mine\n" + annex + mine)
    write_user_config(
        path, REGION, VALUES, set_region=True, pem_path=None, retire_annex_blocks=True
    )
    text = path.read_text()
    assert f"# retired by annex-cdk: {LOCAL}.{names.KEY_S3_BUCKET} = old-bucket\n" in text
    assert f"# retired by annex-cdk: {names.KEY_REGION} = {REGION}\n" in text
    assert "\n" + mine in text and "retired by annex-cdk: SEC_DEFAULT" not in text


@pytest.mark.hostile
def test_removing_the_only_block_leaves_no_empty_file(tmp_path: Path) -> None:
    path = tmp_path / names.USER_CONFIG_FILE
    write_user_config(path, REGION, VALUES, set_region=True, pem_path=None)
    assert unwrite_user_config(path, REGION).action == "deleted"
    assert not path.exists()


@pytest.mark.parametrize("inside", ["begin", "both"])
def test_markers_inside_a_multi_line_value_are_refused_with_file_and_line(
    tmp_path: Path, inside: str
) -> None:
    path = tmp_path / names.USER_CONFIG_FILE
    begin, end = names.BLOCK_BEGIN.format(region=REGION), names.BLOCK_END.format(region=REGION)
    if inside == "both":  # the whole of a block quoted inside a value
        text = f"MOTD @=text\nHello\n{begin}\nold = 1\n{end}\nBye\n@text\nZ = 1\n"
    else:  # a begin marker inside the value, the end marker after it
        text = f"MOTD @=text\nHello\n{begin}\n@text\nold = 1\n{end}\n"
    path.write_text(text)
    # What HTCondor itself reads: the marker lines are inside MOTD, so settings put between
    # them would be MOTD's text, not settings.
    motd = effective_values([path], ["MOTD"], REGION)["MOTD"]
    assert motd.startswith("Hello")
    with pytest.raises(BlockStructureError, match=rf"{path} line 3: an annex-cdk marker inside"):
        write_user_config(path, REGION, VALUES, set_region=True, pem_path=None)
    assert path.read_text() == text
    with pytest.raises(BlockStructureError, match="starts at line 1"):
        unwrite_user_config(path, REGION)
    assert path.read_text() == text


def test_a_closed_multi_line_value_leaves_blocks_after_it_alone(tmp_path: Path) -> None:
    path = tmp_path / names.USER_CONFIG_FILE
    path.write_text("MOTD @=text\nHello\n@text\n")
    write_user_config(path, REGION, VALUES, set_region=True, pem_path=None)
    assert effective_values([path], ["MOTD"], REGION)["MOTD"] == "Hello"
    assert check_effective(path, REGION, VALUES) == []
