"""Both sides of HTCondor 24.11.2: which HTCondor `condor configure` finds, and the access point.

The version lines are condor_version's (src/condor_utils/condor_version.cpp:102,105 in
htcondor/htcondor 7491a145f6). The access point's settings are read back with the real
HTCondor parser (the PyPI bindings evaluate `use feature:HPC_ANNEX`, param_info.in:7573-7666).
The scratch personal HTCondor is test_personal_condor's.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from annex_cdk.condor import access_point as ap
from annex_cdk.condor import personal as pc
from annex_cdk.condor import personal_checks as pchk
from annex_cdk.condor import version as hv
from annex_cdk.condor.key_files import Secret
from annex_cdk.condor.parser import effective_values
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.errors import LocalFilesError, UsageError
from annex_cdk.ops import condor_configure as cfg_op
from annex_cdk.ops.check import access_point_checks, image_warning
from annex_cdk.ops.check_report import CheckReport
from annex_stacks import names
from tests.unit import test_personal_condor as guide
from tests.unit.test_personal_condor import (
    CLASSIC_VERSION_LINE,
    GUIDE_LINES,
    ORIGINAL,
    Personal,
    backups,
    version_tool,
)

# The scratch personal HTCondor and the command group, shared with the classic tests.
personal = guide.personal
cli = guide.cli

PUBLIC = "ap.example.org"
# Real lines, as HTCondor's own docs at 7491a145f6 quote them.
LINE_24_0 = CLASSIC_VERSION_LINE  # docs/users-manual/job-scheduling.rst:704
LINE_25_7 = (  # docs/apis/python-bindings/tutorials/HTCondor-Introduction.ipynb:96
    "$CondorVersion: 25.7.2 2026-03-11 BuildID: 881773 PackageID: 25.7.2-1+ubu24 GitSHA: 433de0b3 $"
)
LINE_25_4 = "$CondorVersion: 25.4.0 2026-06-01 $"  # docs/dev/cedar-rfc/04-command-protocol.md:261
LINE_8_9 = (  # the tarball era of the classic guide; quoted in the same docs tree
    "$CondorVersion: 8.9.8 Jun 30 2020 BuildID: 508520 PackageID: 8.9.8-0.508520 $"
)


def _line(version: str) -> str:
    """condor_version.cpp:102's format for a release no doc quotes (the 24.11.2 boundary)."""
    return f"$CondorVersion: {version} 2025-08-21 BuildID: 800000 PackageID: {version}-1 $"


@pytest.mark.parametrize(
    ("line", "text", "side"),
    [
        (LINE_8_9, "8.9.8", "classic"),
        (LINE_24_0, "24.0.5", "classic"),
        (_line("24.10.3"), "24.10.3", "classic"),
        (_line("24.11.1"), "24.11.1", "classic"),
        (_line("24.11.2"), "24.11.2", "access-point"),
        (_line("24.12.23"), "24.12.23", "access-point"),
        (LINE_25_4, "25.4.0", "access-point"),
        (LINE_25_7, "25.7.2", "access-point"),
    ],
)
def test_each_series_lands_on_its_side(line: str, text: str, side: str) -> None:
    found = hv.parse_version_line(f"{line}\n$CondorPlatform: X86_64-Ubuntu_24.04 $\n", "x")
    assert found is not None and found.text == text and found.side == side


@pytest.mark.parametrize(
    ("flag", "side"),
    [
        ("24.0", "classic"),
        ("24.10", "classic"),
        ("24.11.0", "classic"),
        ("24.11.1", "classic"),
        ("24.11.2", "access-point"),
        ("24.12", "access-point"),
        ("25.0.1", "access-point"),
    ],
)
def test_the_flag_overrides(flag: str, side: str, tmp_path: Path) -> None:
    tool = version_tool(tmp_path, LINE_25_7)
    found = hv.detect(flag, which=lambda _: str(tool))
    assert (found.text, found.side, found.source) == (flag, side, "--htcondor-version")


@pytest.mark.parametrize("flag", ["25", "25.x", "v25.0", "25.0.1.2", ""])
def test_a_bad_flag_is_a_usage_error(flag: str) -> None:
    with pytest.raises(UsageError, match="--htcondor-version"):
        hv.parse_flag(flag)


def test_the_flag_asks_for_the_patch_level_where_it_decides_the_side() -> None:
    """24.11.0 and 24.11.1 are classic, 24.11.2 is not: "24.11" alone cannot say which."""
    with pytest.raises(UsageError, match=r"24\.11 needs its patch level") as err:
        hv.parse_flag("24.11")
    assert "24.11.2" in (err.value.hint or "")


@pytest.mark.parametrize(
    ("script", "why"),
    [
        ("#!/bin/sh\nsleep 300\n", "did not answer within 5 s"),
        ("#!/bin/sh\n(sleep 300; echo late) &\nsleep 300\n", "did not answer within 5 s"),
        ("#!/bin/sh\necho 'garbage \033[2J'\n", "printed no $CondorVersion line"),
        ("#!/bin/sh\nexit 3\n", "exited with code 3"),
    ],
)
def test_a_broken_condor_version_is_bounded_and_named(tmp_path: Path, script: str, why: str):
    tool = tmp_path / names.TOOL_VERSION
    tool.write_text(script)
    tool.chmod(0o755)
    started = time.monotonic()
    found = hv.detect(which=lambda _: str(tool))
    assert time.monotonic() - started < 15  # the bindings' child included
    assert found.source == hv.BINDINGS_SOURCE
    assert found.passed_over == (f"{tool} {why}",)
    assert f"(from {hv.BINDINGS_SOURCE}; {tool} {why})" in found.describe()


def test_condor_version_on_path_first(tmp_path: Path) -> None:
    tool = version_tool(tmp_path, LINE_25_7)
    found = hv.detect(which=lambda name: str(tool) if name == names.TOOL_VERSION else None)
    assert (found.text, found.source, found.side) == ("25.7.2", str(tool), "access-point")


def test_then_the_configurations_bin(tmp_path: Path) -> None:
    bin_dir = tmp_path / "condor-24.0.5" / "bin"
    bin_dir.mkdir(parents=True)
    version_tool(bin_dir, _line("24.12.23"))
    found = hv.detect(which=lambda _: None, config_dirs=lambda: (str(bin_dir), None))
    assert found.text == "24.12.23" and "BIN" in found.source  # the tool beats the dir name


def test_then_the_release_directorys_name(tmp_path: Path) -> None:
    release = str(tmp_path / "condor-24.0.23-x86_64_AlmaLinux9-stripped")
    found = hv.detect(which=lambda _: None, config_dirs=lambda: (None, release))
    assert (found.text, found.side) == ("24.0.23", "classic")


def test_then_the_python_bindings() -> None:
    """The real bindings' own version line decides last."""
    real = subprocess.run(
        [sys.executable, "-c", "import htcondor2; print(htcondor2.version())"],
        env={**os.environ, "CONDOR_CONFIG": os.devnull},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = hv.detect(which=lambda _: None)
    expected = hv.parse_version_line(real, hv.BINDINGS_SOURCE)
    assert expected is not None and found == expected


def test_nothing_to_go_by_names_the_flag() -> None:
    with pytest.raises(UsageError, match="cannot tell which HTCondor") as err:
        hv.detect(which=lambda _: None, bindings=lambda: None)
    assert "--htcondor-version" in str(err.value.hint)


# --- The access point, read back by the real parser ------------------------------------------


def use_security(personal: Personal, line: str) -> None:
    """The base config as a real install has it: a security policy."""
    personal.base.write_text(personal.base.read_text() + f"{line}\n")


def configure(personal: Personal, **kw: object) -> cfg_op.ConfigureReport:
    options = kw.pop("options", pc.GuideOptions(host=PUBLIC))
    kw.setdefault("password_mode", "skip")
    which = kw.pop("which", shutil.which)
    request = cfg_op.ConfigureRequest(personal.location(), options, **kw)  # type: ignore[arg-type]
    return cfg_op.run_configure(request, which=which)  # type: ignore[arg-type]


TOOL_KEYS = [
    names.KEY_HPC_ANNEX_ENABLED,
    names.KEY_ANNEX_COLLECTOR,
    names.KEY_ANNEX_TOKEN_KEY_NAME,
    names.KEY_TOKEN_FETCH_KEYS,
    names.KEY_USE_SHARED_PORT,
    names.KEY_TCP_FORWARDING_HOST,
    "SEC_DAEMON_AUTHENTICATION_METHODS",
    "SEC_WRITE_AUTHENTICATION_METHODS",
    names.KEY_DEFAULT_AUTH_METHODS,
    names.KEY_ALLOW_WRITE,
    "UID_DOMAIN",
]


@pytest.mark.parametrize("security", ["use security:recommended_v24_0", "use security:user_based"])
def test_access_point_for_25(personal: Personal, security: str) -> None:
    use_security(personal, security)
    version_tool(personal.bin, LINE_25_7)
    report = configure(personal)
    assert report.ok, report.problems
    assert report.htcondor is not None and report.htcondor.side == "access-point"
    assert report.password is None and personal.calls() == []  # no pool password asked
    block = personal.local_file.read_text(encoding="latin-1")
    settings = [x for x in block.split(names.PERSONAL_BLOCK_BEGIN.split("{")[0])[1].splitlines()]
    assert names.USE_HPC_ANNEX_LINE in settings
    assert f"{names.KEY_TCP_FORWARDING_HOST} = {PUBLIC}" in settings
    assert not any("PASSWORD" in x for x in settings)
    hpc = Path(os.environ["HOME"]) / names.HPC_ANNEX_DIR
    assert hpc.is_dir() and stat.S_IMODE(hpc.stat().st_mode) == 0o700
    assert report.hpc_annex_dir == (str(hpc), "created")

    for subsystem in names.ACCESS_POINT_SUBSYSTEMS:
        got = personal.htcondor(TOOL_KEYS, subsystem)
        assert got[names.KEY_HPC_ANNEX_ENABLED] is True
        assert got[names.KEY_ANNEX_COLLECTOR] == f"{PUBLIC}:9618?sock=ap_collector"
        assert got[names.KEY_ANNEX_TOKEN_KEY_NAME] in got[names.KEY_TOKEN_FETCH_KEYS].split()
        assert got[names.KEY_USE_SHARED_PORT] is True
        for key in ("SEC_DAEMON_AUTHENTICATION_METHODS", "SEC_WRITE_AUTHENTICATION_METHODS"):
            methods = got[key] or got[names.KEY_DEFAULT_AUTH_METHODS]
            assert "IDTOKENS" in methods.split(",")
        assert ap.covers(got[names.KEY_ALLOW_WRITE], f"{pchk._user_name()}@{got['UID_DOMAIN']}")


def test_access_point_rerun_and_unconfigure(personal: Personal) -> None:
    use_security(personal, "use security:recommended_v24_0")
    version_tool(personal.bin, LINE_25_7)
    first = configure(personal)
    data, made = personal.local_file.read_bytes(), backups(personal.local_file)
    again = configure(personal)
    assert again.ok and again.write.action == "unchanged" and not again.changes
    assert again.hpc_annex_dir is not None and again.hpc_annex_dir[1] == "exists"
    assert personal.local_file.read_bytes() == data and backups(personal.local_file) == made
    assert first.write.action == "appended"
    cfg_op.run_unconfigure(personal.location())
    assert personal.local_file.read_bytes() == ORIGINAL
    assert (Path(os.environ["HOME"]) / names.HPC_ANNEX_DIR).is_dir()  # the user's, kept


def test_without_collector_host_the_detected_name_is_used(personal: Personal) -> None:
    use_security(personal, "use security:recommended_v24_0")
    version_tool(personal.bin, LINE_25_4)
    report = configure(personal, options=pc.GuideOptions())
    host = personal.htcondor(["FULL_HOSTNAME"])["FULL_HOSTNAME"]
    assert report.values[names.KEY_TCP_FORWARDING_HOST] == host
    assert report.effective["MASTER"][names.KEY_TCP_FORWARDING_HOST] == host


def test_host_based_security_does_not_admit_the_annex(personal: Personal) -> None:
    use_security(personal, "use security:host_based")
    version_tool(personal.bin, LINE_25_7)
    report = configure(personal)
    assert not report.ok
    assert any(names.KEY_ALLOW_WRITE in p and "does not admit" in p for p in report.problems)


def test_overrides_after_the_block_are_reported_with_file_and_line(personal: Personal) -> None:
    use_security(personal, "use security:recommended_v24_0")
    version_tool(personal.bin, LINE_25_7)
    configure(personal)
    with personal.local_file.open("a") as fh:
        fh.write("\nSEC_TOKEN_FETCH_ALLOWED_SIGNING_KEYS = POOL\n")
        fh.write("SEC_DEFAULT_AUTHENTICATION_METHODS = FS, PASSWORD\n")
    lines = personal.local_file.read_bytes().count(b"\n")
    report = configure(personal)
    assert not report.ok
    fetch = [p for p in report.problems if names.KEY_TOKEN_FETCH_KEYS in p]
    assert fetch and f"{personal.local_file}:{lines - 1}" in fetch[0] and "'AP'" in fetch[0]
    auth = [p for p in report.problems if "IDTOKENS is not among" in p]
    assert auth and all(f"{personal.local_file}:{lines}" in p for p in auth)


@pytest.mark.parametrize("key", [names.KEY_ALLOW_READ, names.KEY_ALLOW_WRITE])
def test_each_allow_list_is_read_back_on_its_own(personal: Personal, key: str) -> None:
    """One list narrowed after the block, the other left admitting the annex's identity: the
    finding names that list alone (the schedd needs both, HTCondor's docs/admin-manual)."""
    use_security(personal, "use security:recommended_v24_0")
    version_tool(personal.bin, LINE_25_7)
    assert configure(personal).ok
    with personal.local_file.open("a") as fh:
        fh.write(f"\n{key} = condor@submit.example.org\n")
    report = configure(personal)
    assert not report.ok
    found = [p for p in report.problems if "does not admit" in p]
    assert found and all(p.split(" (")[0].endswith(key) or key in p for p in found)
    other = ({names.KEY_ALLOW_READ, names.KEY_ALLOW_WRITE} - {key}).pop()
    assert not any(f"{other} (" in p for p in found)


def test_a_file_in_place_of_hpc_annex_stops_before_writing(personal: Personal) -> None:
    version_tool(personal.bin, LINE_25_7)
    (Path(os.environ["HOME"]) / names.HPC_ANNEX_DIR).write_text("not a directory")
    with pytest.raises(LocalFilesError, match="not a directory"):
        configure(personal)
    assert personal.local_file.read_bytes() == ORIGINAL


# --- A classic configuration moved to 25.x -----------------------------------------------------


def test_classic_moved_to_25_drops_the_blocking_lines_in_its_block_only(
    personal: Personal,
) -> None:
    use_security(personal, "use security:recommended_v24_0")
    classic = configure(personal, options=pc.GuideOptions())  # 24.0.5 from the fixture
    assert classic.htcondor is not None and classic.htcondor.side == "classic"
    # The user's own line, outside the block, is theirs: reported, never removed.
    before = personal.local_file.read_bytes()
    personal.local_file.write_bytes(b"SEC_WRITE_AUTHENTICATION_METHODS = PASSWORD\n" + before)
    version_tool(personal.bin, LINE_25_7)  # the upgrade

    moved = configure(personal)
    assert moved.write.action == "replaced"
    assert (
        "- SEC_DAEMON_AUTHENTICATION_METHODS = PASSWORD (would block the execution points' "
        "IDTOKEN authentication)" in moved.changes
    )
    assert f"+ {names.USE_HPC_ANNEX_LINE}" in moved.changes
    removed = {c[2:].split(" (")[0] for c in moved.changes if c.startswith("- ")}
    assert {x for x in GUIDE_LINES if x.startswith("SEC_")} <= removed
    text = personal.local_file.read_bytes()
    assert text.startswith(b"SEC_WRITE_AUTHENTICATION_METHODS = PASSWORD\n" + ORIGINAL)
    assert b"SEC_DAEMON_AUTHENTICATION_METHODS = PASSWORD" not in text
    got = personal.htcondor(["SEC_DAEMON_AUTHENTICATION_METHODS"], "SCHEDD")
    assert got["SEC_DAEMON_AUTHENTICATION_METHODS"] != "PASSWORD"
    # The user's PASSWORD-only WRITE line now blocks the annex: named with its file and line.
    assert any(
        "SEC_WRITE_AUTHENTICATION_METHODS" in p and f"{personal.local_file}:1" in p
        for p in moved.problems
    )
    # Unconfigure still gives back exactly the bytes from before annex-cdk.
    cfg_op.run_unconfigure(personal.location())
    assert (
        personal.local_file.read_bytes()
        == b"SEC_WRITE_AUTHENTICATION_METHODS = PASSWORD\n" + ORIGINAL
    )


def test_check_setup_reads_back_the_access_point_block(personal: Personal) -> None:
    use_security(personal, "use security:recommended_v24_0")
    version_tool(personal.bin, LINE_25_7)
    configure(personal)
    assert pchk.verify_configured() == []
    with personal.local_file.open("a") as fh:
        fh.write("\nHPC_ANNEX_ENABLED = false\n")
    problems = pchk.verify_configured()
    assert problems and any(
        "HPC_ANNEX_ENABLED" in p and str(personal.local_file) in p for p in problems
    )


# --- The command -------------------------------------------------------------------------------


def test_cli_shows_which_htcondor_and_what_changes(personal: Personal, cli: typer.Typer) -> None:
    use_security(personal, "use security:recommended_v24_0")
    runner = CliRunner()
    classic = runner.invoke(cli, ["condor", "configure", "--no-password"])
    assert classic.exit_code == 0, classic.output
    assert "HTCondor 24.0.5 (from" in classic.stdout and "classic path" in classic.stdout
    moved = runner.invoke(
        cli,
        ["condor", "configure", "--htcondor-version", "25.0", "--collector-host", PUBLIC],
    )
    assert moved.exit_code == 0, moved.output
    assert "HTCondor 25.0 (from --htcondor-version): access-point path" in moved.stdout
    assert "- SEC_DAEMON_AUTHENTICATION_METHODS = PASSWORD" in moved.stdout
    assert names.HPC_ANNEX_DIR in moved.stdout
    doc = runner.invoke(
        cli,
        ["condor", "configure", "--htcondor-version", "25.0", "--collector-host", PUBLIC, "--json"],
    )
    report = json.loads(doc.stdout)
    assert report["htcondor"] == {
        "version": "25.0",
        "source": "--htcondor-version",
        "side": "access-point",
    }
    assert report["password"] is None and report["action"] == "unchanged"
    bad = runner.invoke(cli, ["condor", "configure", "--htcondor-version", "twenty-five"])
    assert isinstance(bad.exception, UsageError)


# --- check-setup's access-point pieces ---------------------------------------------------------


def test_image_warning_for_unset_and_built_in_images() -> None:
    builtin = effective_values([], [names.KEY_ODI_IMAGE_ID], "us-east-1")[names.KEY_ODI_IMAGE_ID]
    assert builtin  # HTCondor's own 2019 default for us-east-1
    for image, warned in (
        (None, "unset"),
        (builtin, "built-in default"),
        ("ami-0123456789abcdef0", None),
    ):
        report = CheckReport("us-east-1")
        image_warning(report, image, "us-east-1")
        if warned is None:
            assert report.warnings == []
        else:
            assert len(report.warnings) == 1 and warned in report.warnings[0]
        assert report.ok  # a warning, not a failure


def test_hpc_annex_dir_is_checked(tmp_path: Path) -> None:
    report = CheckReport("us-east-1")
    access_point_checks(report, LocalPaths(tmp_path))
    assert not report.ok and "missing" in report.lines[-1]
    (tmp_path / names.HPC_ANNEX_DIR).mkdir()
    report = CheckReport("us-east-1")
    access_point_checks(report, LocalPaths(tmp_path))
    assert report.ok
    report = CheckReport("us-east-1")
    access_point_checks(report, LocalPaths(tmp_path / "elsewhere"), strict=False)
    assert report.ok and len(report.warnings) == 1  # only the bindings said 24.11.2+


@pytest.mark.parametrize(
    ("allow", "ok"),
    [
        ("*", True),
        ("*/*", True),
        ("alice@*", True),
        ("*@example.org", True),
        ("alice@example.org", True),
        ("alice@example.org/*", True),
        ("bob@*", False),
        ("alice@example.org/10.0.0.1", False),
        ("submit.example.org 10.0.0.1", False),
        (None, False),
    ],
)
def test_allow_lists_covering_the_token_identity(allow: str | None, ok: bool) -> None:
    assert ap.covers(allow, "alice@example.org") is ok


def test_check_setup_checks_a_hand_made_access_point(personal: Personal) -> None:
    """No annex-cdk block: check-setup on 24.11.2+ still checks what the access point needs."""
    use_security(personal, "use security:recommended_v24_0")
    assert pchk.verify_configured() is None  # not annex-cdk's
    problems = pchk.verify_access_point()
    assert problems and any(names.KEY_HPC_ANNEX_ENABLED in p for p in problems)
    with personal.local_file.open("a") as fh:
        fh.write(f"\n{names.USE_HPC_ANNEX_LINE}\n{names.KEY_TCP_FORWARDING_HOST} = {PUBLIC}\n")
    assert pchk.verify_access_point() == []


def test_password_options_on_the_access_point_side_store_nothing(personal: Personal) -> None:
    use_security(personal, "use security:recommended_v24_0")
    version_tool(personal.bin, LINE_25_7)
    personal.tool(names.TOOL_STORE_CRED, "raise SystemExit('must not run')")
    report = configure(personal, password_mode="stdin", stdin_password=Secret("x"))
    assert report.ok and report.password is None and personal.calls() == []
    assert any("no pool password" in w for w in report.warnings)
