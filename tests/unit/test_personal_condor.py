"""`annex-cdk condor configure|unconfigure`: the guide's lines, read back by real HTCondor.

A scratch personal HTCondor (a base condor_config naming LOCAL_DIR and LOCAL_CONFIG_FILE) stands
in for the guide's ~/condor-8.7.8. HTCondor's tools are not installed here: fake
condor_config_val, condor_store_cred and condor_restart scripts record their argv and stdin.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from jsonschema import validate
from typer.testing import CliRunner

from annex_cdk.commands.condor import register
from annex_cdk.condor import personal as pc
from annex_cdk.condor import personal_config as pcfg
from annex_cdk.condor import pool_password as pw
from annex_cdk.condor import user_config
from annex_cdk.condor.block import parse_blocks
from annex_cdk.condor.key_files import Secret
from annex_cdk.errors import LocalFilesError, UsageError
from annex_cdk.ops import condor_configure as cfg_op
from annex_stacks import names
from tests import json_schemas

PASSWORD = "correct horse battery staple"
# The guide's lines (reference §7), in its order, as they must appear in the block.
GUIDE_LINES = [
    "NETWORK_INTERFACE = *",
    "CONDOR_HOST = $(FULL_HOSTNAME)",
    "SEC_PASSWORD_FILE = $(LOCAL_DIR)/condor_pool_password",
    "SEC_DAEMON_INTEGRITY = REQUIRED",
    "SEC_DAEMON_AUTHENTICATION = REQUIRED",
    "SEC_DAEMON_AUTHENTICATION_METHODS = PASSWORD",
    "SEC_NEGOTIATOR_INTEGRITY = REQUIRED",
    "SEC_NEGOTIATOR_AUTHENTICATION = REQUIRED",
    "SEC_NEGOTIATOR_AUTHENTICATION_METHODS = PASSWORD",
    "SEC_CLIENT_AUTHENTICATION_METHODS = FS, PASSWORD",
    "ALLOW_DAEMON = condor_pool@*",
    "COLLECTOR_HOST = $(FULL_HOSTNAME):9618",
]
ORIGINAL = (
    b"# my personal HTCondor\r\nDAEMON_LIST = MASTER, COLLECTOR, NEGOTIATOR, SCHEDD\nNOTE = caf\xe9"
)

# A condor_version stand-in: prints what the real one prints (condor_version.cpp:102,105).
VERSION_TOOL = """#!/bin/sh
printf '%s\\n' '{version}' '{platform}'
"""
# A 24.0 LTS line as HTCondor's own docs quote it (docs/users-manual/job-scheduling.rst:704):
# the classic side, which is what the tests in this file configure.
CLASSIC_VERSION_LINE = "$CondorVersion: 24.0.5 Feb 14 2025 BuildID: 740101 $"
PLATFORM_LINE = "$CondorPlatform: X86_64-AlmaLinux_9 $"


def version_tool(bin_dir: Path, line: str, platform: str = PLATFORM_LINE) -> Path:
    path = bin_dir / names.TOOL_VERSION
    path.write_text(VERSION_TOOL.format(version=line, platform=platform))
    path.chmod(0o755)
    return path


# Records argv and stdin as one JSON line, prints what the real tool prints, exits with $RC.
FAKE_TOOL = """#!{python}
import json, os, sys
data = sys.stdin.read() if not sys.stdin.isatty() else ""
with open({log!r}, "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv, "stdin": data}}) + "\\n")
{body}
"""


@dataclass
class Personal:
    """A scratch personal HTCondor: base config, LOCAL_DIR, local config file, fake tools."""

    root: Path
    base: Path
    local_dir: Path
    local_file: Path
    bin: Path
    log: Path

    def location(self, path: Path | None = None) -> pcfg.ConfigLocation:
        return pcfg.locate(path or self.local_file)

    def tool(self, name: str, body: str = "") -> Path:
        path = self.bin / name
        path.write_text(FAKE_TOOL.format(python=sys.executable, log=str(self.log), body=body))
        path.chmod(0o755)
        return path

    def calls(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def htcondor(self, keys: list[str], subsystem: str = "MASTER") -> dict[str, str | None]:
        """What htcondor2.param says with CONDOR_CONFIG at the base config (fresh process)."""
        code = (
            "import json, sys, htcondor2\n"
            f"htcondor2.set_subsystem({subsystem!r}); htcondor2.reload_config()\n"
            f"print(json.dumps({{k: htcondor2.param.get(k) for k in {keys!r}}}))\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("_CONDOR_")}
        env["CONDOR_CONFIG"] = str(self.base)
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(out.stdout)


def store_cred_body(path_arg: str = "sys.argv[sys.argv.index('-f') + 1]") -> str:
    # Like condor_store_cred -f: prompt on stdout, write the (here: plain) password file.
    return (
        "sys.stdout.write('Enter password: \\n')\n"
        f"open({path_arg}, 'w').write('stored\\n')\n"
        "print('Operation succeeded.')\n"
    )


@pytest.fixture
def personal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Personal]:
    root = tmp_path / "condor"
    local_dir = root / "local"
    local_dir.mkdir(parents=True)
    local_file = local_dir / "condor_config.local"
    local_file.write_bytes(ORIGINAL)
    base = root / "condor_config"
    base.write_text(f"LOCAL_DIR = {local_dir}\nLOCAL_CONFIG_FILE = {local_file}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    for key in list(os.environ):
        if key.startswith("_CONDOR_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CONDOR_CONFIG", str(base))
    monkeypatch.setenv("HOME", str(home))
    # Only the fake tools: a real HTCondor on this machine must not be touched.
    monkeypatch.setenv("PATH", str(bin_dir))
    version_tool(bin_dir, CLASSIC_VERSION_LINE)
    yield Personal(tmp_path, base, local_dir, local_file, bin_dir, tmp_path / "tools.log")


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.annex-cdk-*.bak"))


def configure(personal: Personal, **kw: object) -> cfg_op.ConfigureReport:
    options = kw.pop("options", pc.GuideOptions())
    kw.setdefault("password_mode", "skip")
    which = kw.pop("which", shutil.which)
    request = cfg_op.ConfigureRequest(personal.location(), options, **kw)  # type: ignore[arg-type]
    return cfg_op.run_configure(request, which=which)  # type: ignore[arg-type]


# --- The block ----------------------------------------------------------------------------------


def test_block_holds_the_guides_lines_in_order() -> None:
    block = pc.render_block(pc.GuideOptions())
    lines = block.splitlines()
    assert lines[0] == names.PERSONAL_BLOCK_BEGIN.format(region=names.PERSONAL_BLOCK_ID)
    assert lines[-1] == names.PERSONAL_BLOCK_END.format(region=names.PERSONAL_BLOCK_ID)
    assert [x for x in lines if not x.startswith("#")] == GUIDE_LINES
    # Its markers are not user_config's: the region block parser does not see it, and back.
    assert user_config.parse(block).ours == {}
    region = user_config.render_block("us-east-1", {}, set_region=True, pem_path=None)
    assert parse_blocks(region, pc.PERSONAL_MARKERS).owned == {}


def test_options_change_only_their_lines() -> None:
    options = pc.GuideOptions(
        port=9620,
        network_interface="10.0.0.5",
        host="submit.example.org",
        password_file="/srv/condor/pool_password",
    )
    assert options.values() | {} == {
        **{line.split(" = ")[0]: line.split(" = ")[1] for line in GUIDE_LINES},
        "NETWORK_INTERFACE": "10.0.0.5",
        "CONDOR_HOST": "submit.example.org",
        "SEC_PASSWORD_FILE": "/srv/condor/pool_password",
        "COLLECTOR_HOST": "submit.example.org:9620",
    }
    assert pc.GuideOptions(host="[2001:db8::1]").values()["COLLECTOR_HOST"] == "[2001:db8::1]:9618"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (pc.GuideOptions(port=0), "not a TCP port"),
        (pc.GuideOptions(port=70000), "not a TCP port"),
        (pc.GuideOptions(network_interface="eth0\nALLOW_DAEMON = *"), "newline"),
        (pc.GuideOptions(network_interface="$(EVIL)"), "macro"),
        (pc.GuideOptions(network_interface=""), "empty"),
        (pc.GuideOptions(host="submit.example.org:9618"), "without a port"),
        (pc.GuideOptions(host="bad host"), "not a host name"),
        (pc.GuideOptions(host="$(FULL_HOSTNAME)"), "not a host name"),
        (pc.GuideOptions(password_file="relative/pool"), "absolute"),
        (pc.GuideOptions(password_file="/x/$(LOCAL_DIR)"), "macro"),
    ],
)
def test_bad_options_are_usage_errors(options: pc.GuideOptions, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        options.validate()


# --- Finding the file ---------------------------------------------------------------------------


def test_locate_prefers_the_flag(personal: Personal, tmp_path: Path) -> None:
    other = tmp_path / "other.local"
    personal.tool(names.TOOL_CONFIG_VAL, "print('/nowhere')")
    location = pcfg.locate(other)
    assert (location.path, location.source) == (other, "--config-file")
    assert location.base_config == personal.base
    assert personal.calls() == []


def test_locate_asks_condor_config_val(personal: Personal) -> None:
    personal.tool(names.TOOL_CONFIG_VAL, f"print('/etc/condor/first.local, {personal.local_file}')")
    location = pcfg.locate(None)
    assert location.path == personal.local_file  # the last one: read last, its lines win
    assert location.others == (Path("/etc/condor/first.local"),)
    assert location.source == "condor_config_val LOCAL_CONFIG_FILE"
    assert personal.calls()[0]["argv"][1:] == ["LOCAL_CONFIG_FILE"]


def test_locate_reports_condor_config_val_failure(personal: Personal) -> None:
    personal.tool(
        names.TOOL_CONFIG_VAL,
        "sys.stderr.write('Not defined: LOCAL_CONFIG_FILE\\n'); sys.exit(1)",
    )
    with pytest.raises(UsageError, match="Not defined: LOCAL_CONFIG_FILE") as info:
        pcfg.locate(None)
    assert "--config-file" in (info.value.hint or "")


def test_locate_from_condor_config_without_tools(personal: Personal) -> None:
    location = pcfg.locate(None)
    assert location.path == personal.local_file
    assert "CONDOR_CONFIG" in location.source


def test_locate_without_htcondor_names_the_flag(
    personal: Personal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONDOR_CONFIG")
    with pytest.raises(UsageError, match="cannot find") as info:
        pcfg.locate(None)
    assert "--config-file" in (info.value.hint or "")


# --- Writing, reading back, removing -----------------------------------------------------------


def test_htcondor_reads_the_guides_values(personal: Personal) -> None:
    report = configure(personal)
    assert report.write.action == "appended" and report.ok, report.problems
    assert report.read_by_htcondor is True
    text = personal.local_file.read_bytes()
    assert (
        text
        == ORIGINAL
        + b"\n\n"
        + pc.render_block(pc.GuideOptions())
        .replace(
            names.PERSONAL_BLOCK_BEGIN.format(region=names.PERSONAL_BLOCK_ID),
            names.PERSONAL_BLOCK_BEGIN.format(region=names.PERSONAL_BLOCK_ID)
            + "\n"
            + names.BLOCK_ADDED_EOL_NOTE,
        )
        .encode()
    )
    assert [b.read_bytes() for b in backups(personal.local_file)] == [ORIGINAL]

    keys = [line.split(" = ")[0] for line in GUIDE_LINES]
    for daemon in names.PERSONAL_DAEMONS:
        got = personal.htcondor([*keys, "FULL_HOSTNAME"], daemon)
        host = got["FULL_HOSTNAME"]
        assert host
        assert got == {
            "NETWORK_INTERFACE": "*",
            "CONDOR_HOST": host,
            "SEC_PASSWORD_FILE": f"{personal.local_dir}/condor_pool_password",
            "SEC_DAEMON_INTEGRITY": "REQUIRED",
            "SEC_DAEMON_AUTHENTICATION": "REQUIRED",
            "SEC_DAEMON_AUTHENTICATION_METHODS": "PASSWORD",
            "SEC_NEGOTIATOR_INTEGRITY": "REQUIRED",
            "SEC_NEGOTIATOR_AUTHENTICATION": "REQUIRED",
            "SEC_NEGOTIATOR_AUTHENTICATION_METHODS": "PASSWORD",
            "SEC_CLIENT_AUTHENTICATION_METHODS": "FS, PASSWORD",
            "ALLOW_DAEMON": "condor_pool@*",
            "COLLECTOR_HOST": f"{host}:9618",
            "FULL_HOSTNAME": host,
        }
    # The report carries the same effective values.
    assert report.effective["COLLECTOR"]["COLLECTOR_HOST"] == f"{host}:9618"


def test_port_and_host_options_reach_htcondor(personal: Personal) -> None:
    options = pc.GuideOptions(port=9620, host="submit.example.org", network_interface="10.1.2.3")
    assert configure(personal, options=options).ok
    got = personal.htcondor(["COLLECTOR_HOST", "CONDOR_HOST", "NETWORK_INTERFACE"])
    assert got == {
        "COLLECTOR_HOST": "submit.example.org:9620",
        "CONDOR_HOST": "submit.example.org",
        "NETWORK_INTERFACE": "10.1.2.3",
    }


def test_rerun_changes_nothing(personal: Personal) -> None:
    configure(personal)
    data, made = personal.local_file.read_bytes(), backups(personal.local_file)
    mtime = personal.local_file.stat().st_mtime_ns
    again = configure(personal)
    assert again.write.action == "unchanged" and not again.write.changed and again.ok
    assert again.write.backup is None and not again.restart_needed
    assert personal.local_file.read_bytes() == data
    assert personal.local_file.stat().st_mtime_ns == mtime
    assert backups(personal.local_file) == made
    # Changed options replace the block in place; the same options again restore it exactly.
    changed = configure(personal, options=pc.GuideOptions(port=9700))
    assert changed.write.action == "replaced"
    configure(personal)
    assert personal.local_file.read_bytes() == data


@pytest.mark.parametrize(
    "original", [ORIGINAL, b"", b"\n", b"A = 1\n", b"A = 1\r\nB = 2\r\n", b"# no newline"]
)
def test_unconfigure_restores_the_original_bytes(personal: Personal, original: bytes) -> None:
    personal.local_file.write_bytes(original)
    os.chmod(personal.local_file, 0o640)
    configure(personal)
    removed = cfg_op.run_unconfigure(personal.location())
    assert removed.write.action == "removed"
    assert personal.local_file.read_bytes() == original
    assert stat.S_IMODE(personal.local_file.stat().st_mode) == 0o640
    again = cfg_op.run_unconfigure(personal.location())
    assert again.write.action == "absent" and not again.write.changed
    assert personal.local_file.read_bytes() == original


def test_unconfigure_keeps_lines_added_around_the_block(personal: Personal) -> None:
    configure(personal)
    with personal.local_file.open("ab") as fh:
        fh.write(b"LATER = 1\n")
    cfg_op.run_unconfigure(personal.location())
    assert personal.local_file.read_bytes() == ORIGINAL + b"\nLATER = 1\n"


def test_a_file_annex_cdk_created_is_deleted_again(personal: Personal) -> None:
    personal.local_file.unlink()
    report = configure(personal)
    assert report.write.action == "created" and report.ok
    assert names.PERSONAL_BLOCK_CREATED_NOTE in personal.local_file.read_text()
    assert stat.S_IMODE(personal.local_file.stat().st_mode) == 0o644  # as condor_install makes it
    assert configure(personal).write.action == "unchanged"
    assert cfg_op.run_unconfigure(personal.location()).write.action == "deleted"
    assert not personal.local_file.exists()


def test_user_override_after_the_block_is_reported(personal: Personal) -> None:
    configure(personal)
    with personal.local_file.open("a") as fh:
        fh.write("NETWORK_INTERFACE = 127.0.0.1\n")
    line = len(personal.local_file.read_bytes().splitlines())
    report = configure(personal)
    assert report.write.action == "unchanged"  # the user's line is theirs: left alone
    assert report.problems == [
        "HTCondor reads NETWORK_INTERFACE as '127.0.0.1', not '*' as the guide says "
        f"(set again at {personal.local_file}:{line})"
    ]


def test_daemon_specific_override_is_reported_for_that_daemon(personal: Personal) -> None:
    # <DAEMON>.KEY wins over KEY wherever it is, so a line before the block counts too.
    personal.local_file.write_text("COLLECTOR.NETWORK_INTERFACE = 127.0.0.1\n")
    report = configure(personal)
    assert report.problems == [
        "HTCondor's COLLECTOR reads NETWORK_INTERFACE as '127.0.0.1', not '*' as the guide "
        f"says (set again at {personal.local_file}:1)"
    ]


def test_user_config_override_is_reported(
    personal: Personal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A non-root HTCondor reads ~/.condor/user_config last (root, as here, does not).
    user_config = personal.root / "home" / ".condor" / "user_config"
    user_config.parent.mkdir()
    user_config.write_text("SCHEDD.SEC_CLIENT_AUTHENTICATION_METHODS = FS\n")
    monkeypatch.setattr(pcfg, "user_configs", lambda: [user_config])
    report = configure(personal)
    (problem,) = report.problems
    assert problem.startswith("HTCondor's SCHEDD reads SEC_CLIENT_AUTHENTICATION_METHODS as 'FS'")
    assert f"{user_config}:1" in problem


@pytest.mark.parametrize(
    ("text", "where"),
    [(b"A = 1\nthis is not config\n", "line 2"), (b"A = 1\nif true\nB = 2\n", "line 3")],
)
def test_bad_syntax_is_refused_without_writing(personal: Personal, text: bytes, where: str) -> None:
    personal.local_file.write_bytes(text)
    before = set(personal.local_dir.iterdir())
    with pytest.raises(LocalFilesError, match=where) as info:
        configure(personal)
    assert str(personal.local_file) in str(info.value)
    assert personal.local_file.read_bytes() == text
    assert set(personal.local_dir.iterdir()) == before  # no backup, no temp file


def test_broken_markers_are_refused(personal: Personal) -> None:
    begin = names.PERSONAL_BLOCK_BEGIN.format(region=names.PERSONAL_BLOCK_ID)
    personal.local_file.write_text(f"{begin}\nA = 1\n")
    with pytest.raises(LocalFilesError, match="no end marker"):
        pc.write_block(personal.location(), pc.GuideOptions())
    assert personal.local_file.read_text() == f"{begin}\nA = 1\n"


def test_macros_of_the_base_config_are_fine(personal: Personal) -> None:
    # Read on its own, $(LOCAL_DIR) would be empty and this include would fail; in place it's ok.
    extra = personal.local_dir / "extra.config"
    extra.write_text("EXTRA = 1\n")
    original = b"include : $(LOCAL_DIR)/extra.config\n"
    personal.local_file.write_bytes(original)
    assert configure(personal).ok
    assert personal.htcondor(["EXTRA"]) == {"EXTRA": "1"}


def test_a_file_htcondor_does_not_read_is_reported(personal: Personal, tmp_path: Path) -> None:
    stray = tmp_path / "stray.local"
    stray.write_text("")
    report = cfg_op.run_configure(
        cfg_op.ConfigureRequest(pcfg.locate(stray), pc.GuideOptions(), password_mode="skip")
    )
    assert report.read_by_htcondor is False
    assert "does not read" in report.problems[0]
    assert str(stray) in report.problems[0]


def test_undefined_local_dir_needs_a_password_file(personal: Personal) -> None:
    personal.base.write_text(f"LOCAL_CONFIG_FILE = {personal.local_file}\n")
    with pytest.raises(UsageError, match="LOCAL_DIR is not defined") as info:
        configure(personal)
    assert "--password-file" in (info.value.hint or "")
    assert personal.local_file.read_bytes() == ORIGINAL
    pool = str(personal.root / "pool_password")
    report = configure(personal, options=pc.GuideOptions(password_file=pool))
    assert report.ok and personal.htcondor(["SEC_PASSWORD_FILE"]) == {"SEC_PASSWORD_FILE": pool}


# --- The pool password --------------------------------------------------------------------------


def test_store_cred_gets_the_password_on_stdin_only(personal: Personal) -> None:
    personal.tool(names.TOOL_STORE_CRED, store_cred_body())
    report = configure(personal, password_mode="stdin", stdin_password=Secret(PASSWORD))
    pool = f"{personal.local_dir}/condor_pool_password"
    assert report.password == pw.PasswordOutcome(pool, "stored")
    (call,) = personal.calls()
    assert call["argv"] == [str(personal.bin / names.TOOL_STORE_CRED), "-c", "add", "-f", pool]
    assert call["stdin"] == PASSWORD + "\n"
    assert all(PASSWORD not in arg for arg in call["argv"])
    assert report.restart_needed
    assert PASSWORD not in json.dumps(report.as_dict())


def test_prompt_only_when_the_password_file_is_missing(personal: Personal) -> None:
    personal.tool(names.TOOL_STORE_CRED, store_cred_body())
    asked: list[int] = []

    def ask() -> Secret:
        asked.append(1)
        return Secret(PASSWORD)

    first = configure(personal, password_mode="auto", ask_password=ask)
    assert first.password is not None and first.password.action == "stored"
    second = configure(personal, password_mode="auto", ask_password=ask)
    assert second.password is not None and second.password.action == "kept"
    assert not second.restart_needed
    third = configure(personal, password_mode="replace", ask_password=ask)
    assert third.password is not None and third.password.action == "stored"
    assert len(asked) == 2 and len(personal.calls()) == 2


def test_without_condor_store_cred_the_command_is_given(personal: Personal) -> None:
    report = configure(personal, password_mode="auto", ask_password=lambda: Secret("x"))
    pool = f"{personal.local_dir}/condor_pool_password"
    assert report.password == pw.PasswordOutcome(
        pool, "manual", f"condor_store_cred -c add -f {pool}"
    )


def test_no_terminal_and_no_password_stdin_is_a_usage_error(personal: Personal) -> None:
    personal.tool(names.TOOL_STORE_CRED, store_cred_body())
    with pytest.raises(UsageError, match="not stored") as info:
        configure(personal, password_mode="auto", ask_password=None)
    assert "--password-stdin" in (info.value.hint or "")
    assert "condor_store_cred -c add -f" in (info.value.hint or "")
    assert personal.calls() == []


def test_password_stdin_without_the_tool_fails_before_writing(personal: Personal) -> None:
    with pytest.raises(pcfg.CondorToolError, match="condor_store_cred is not on PATH"):
        configure(personal, password_mode="stdin", stdin_password=Secret(PASSWORD))
    assert personal.local_file.read_bytes() == ORIGINAL


def test_a_failing_store_cred_never_shows_the_password(personal: Personal) -> None:
    personal.tool(
        names.TOOL_STORE_CRED,
        "sys.stderr.write('error writing password file: ' + data); sys.exit(1)",
    )
    with pytest.raises(pcfg.CondorToolError) as info:
        configure(personal, password_mode="stdin", stdin_password=Secret(PASSWORD))
    assert PASSWORD not in str(info.value) and PASSWORD not in (info.value.hint or "")
    assert "exit 1" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("", "empty"),
        ("\n", "empty"),
        ("two\nlines\n", "line break"),
        ("ctrl\x03c", "control"),
        ("back\bspace", "control"),
        ("x" * 255, "longer than 254"),
    ],
)
def test_unusable_passwords_are_refused(raw: str, match: str) -> None:
    import io

    with pytest.raises(UsageError, match=match) as info:
        pw.read_password(io.StringIO(raw))
    assert raw.strip() == "" or raw not in str(info.value)


def test_password_stdin_takes_one_line_break_off() -> None:
    import io

    assert pw.read_password(io.StringIO("pw with spaces \r\n")).reveal() == "pw with spaces "
    assert pw.read_password(io.StringIO("x" * 254)).reveal() == "x" * 254


# --- Restart ------------------------------------------------------------------------------------


def test_restart_runs_condor_restart(personal: Personal) -> None:
    personal.tool(names.TOOL_RESTART, "print('Sent \"Restart\" command to local master')")
    report = configure(personal, restart_after=True)
    assert report.restart_output == 'Sent "Restart" command to local master'
    assert report.as_dict()["restart"] == {
        "needed": False,
        "ran": True,
        "output": report.restart_output,
    }
    removed = cfg_op.run_unconfigure(personal.location(), restart_after=True)
    assert removed.restart_output == report.restart_output
    assert len(personal.calls()) == 2


def test_restart_without_the_tool_fails_before_writing(personal: Personal) -> None:
    with pytest.raises(pcfg.CondorToolError, match="condor_restart is not on PATH"):
        configure(personal, restart_after=True)
    assert personal.local_file.read_bytes() == ORIGINAL


# --- The commands -------------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:  # a group, as main.py's app is
        pass

    register(app)
    return app


def test_cli_configure_and_unconfigure(personal: Personal, cli: typer.Typer) -> None:
    personal.tool(names.TOOL_STORE_CRED, store_cred_body())
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["condor", "configure", "--password-stdin", "--port", "9620", "--json"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, (result.output, result.exception)
    assert PASSWORD not in result.stdout and PASSWORD not in result.stderr
    report = json.loads(result.stdout)
    validate(report, json_schemas.CONDOR_CONFIGURE)
    assert report["action"] == "appended" and report["ok"]
    assert report["effective"]["COLLECTOR_HOST"].endswith(":9620")
    assert report["password"]["action"] == "stored"
    assert report["restart"] == {"needed": True, "ran": False, "output": None}
    assert personal.calls()[0]["stdin"] == PASSWORD + "\n"

    text = runner.invoke(cli, ["condor", "configure", "--port", "9620"])
    assert text.exit_code == 0, text.output
    assert f"{personal.local_file}: unchanged" in text.stdout
    assert "pool password:" in text.stdout and "exists" in text.stdout

    undo = runner.invoke(cli, ["condor", "unconfigure"])
    assert undo.exit_code == 0, undo.output
    assert "removed" in undo.stdout and "condor_restart" in undo.stdout
    assert personal.local_file.read_bytes() == ORIGINAL

    runner.invoke(cli, ["condor", "configure", "--port", "9620"])
    undo = runner.invoke(cli, ["condor", "unconfigure", "--json"])
    assert undo.exit_code == 0, undo.output
    report = json.loads(undo.stdout)
    validate(report, json_schemas.CONDOR_UNCONFIGURE)
    assert report["action"] == "removed" and report["restart"]["needed"] is True
    assert personal.local_file.read_bytes() == ORIGINAL


def test_cli_reports_an_override_with_exit_1(personal: Personal, cli: typer.Typer) -> None:
    personal.local_file.write_text("")
    CliRunner().invoke(cli, ["condor", "configure", "--no-password"])
    with personal.local_file.open("a") as fh:
        fh.write("ALLOW_DAEMON = *\n")
    result = CliRunner().invoke(cli, ["condor", "configure", "--no-password"])
    assert result.exit_code == 1
    assert "ALLOW_DAEMON" in result.stderr and "'*'" in result.stderr


def test_cli_password_flags_are_exclusive(personal: Personal, cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["condor", "configure", "--no-password", "--password-stdin"])
    assert isinstance(result.exception, UsageError)
    assert personal.local_file.read_bytes() == ORIGINAL


def test_cli_has_no_password_argument(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["condor", "configure", "--help"])
    assert result.exit_code == 0
    assert "--password-stdin" in result.stdout
    assert "--password " not in result.stdout and "--password=" not in result.stdout
    assert "unconfigure" in CliRunner().invoke(cli, ["condor", "--help"]).stdout
