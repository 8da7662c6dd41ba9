"""Hostile local state and output: links someone else planted, destroy's journal, terminal
escapes and URL credentials in what is printed, odd locks, flags and streams.

Every test passes as root and as an ordinary user (.ci/run runs both): a link "owned by
someone else" is made with lchown where root can, and the world-writable case needs no root.
"""

from __future__ import annotations

import http.server
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from annex_cdk.aws import lock
from annex_cdk.condor import destroy_journal
from annex_cdk.condor.files import (
    atomic_write,
    check_writable,
    ensure_private_dir,
    write_private,
)
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.env import env_flag
from annex_cdk.errors import LocalFilesError, LockedError, UsageError
from annex_cdk.ops.post_deploy import preflight
from annex_cdk.ops.synth_cache import enabled as cache_enabled
from annex_cdk.text import printable, redact
from annex_stacks import names

pytestmark = pytest.mark.hostile
CLI = shutil.which("annex-cdk", path=str(Path(sys.executable).parent))
ESC = "\x1b"
# What a terminal acts on: a title change, clear screen, a colour, a bidi override.
HOSTILE = f"evil{ESC}]0;pwned\x07{ESC}[2J{ESC}[31m\u202eok\r\nannex-cdk: all good"
SECRET = "s3cretPassw0rd"


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch\n")
    return victim


# --- Links someone else could have made ----------------------------------------------------


@pytest.mark.parametrize("where", ["world-writable directory", "group-writable directory"])
def test_a_link_in_a_directory_others_can_write_is_never_written_through(tmp_path, where):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777 if where.startswith("world") else 0o770)
    victim = _victim(tmp_path)
    link = shared / "user_config"
    link.symlink_to(victim)
    for attempt in (lambda: check_writable(link), lambda: atomic_write(link, b"x", mode=0o644)):
        with pytest.raises(LocalFilesError, match="others can write"):
            attempt()
    assert victim.read_bytes() == b"do not touch\n"
    # The control: the same link in a directory only its owner writes is followed (a user's
    # symlinked dotfile keeps working).
    os.chmod(shared, 0o700)
    atomic_write(link, b"x", mode=0o644, backup=False)
    assert victim.read_bytes() == b"x" and link.is_symlink()


def test_a_link_owned_by_someone_else_is_never_written_through(tmp_path):
    victim = _victim(tmp_path)
    link = tmp_path / "user_config"
    link.symlink_to(victim)
    if os.geteuid() == 0:
        os.lchown(link, 65534, 65534)  # nobody's link in root's directory
        with pytest.raises(LocalFilesError, match="owned by someone else"):
            atomic_write(link, b"x", mode=0o644)
        assert victim.read_bytes() == b"do not touch\n"
    else:
        # An ordinary user cannot give a link away; its own link is followed.
        atomic_write(link, b"x", mode=0o644, backup=False)
        assert victim.read_bytes() == b"x"


@pytest.mark.parametrize("planted", ["symlink", "directory", "fifo"])
def test_annex_cdks_own_files_are_never_written_through_anything_planted(tmp_path, planted):
    victim = _victim(tmp_path)
    path = tmp_path / ".annex-cdk-destroy.us-east-1.json"
    if planted == "symlink":
        path.symlink_to(victim)
    elif planted == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    with pytest.raises(LocalFilesError, match=str(path)):
        write_private(path, b"{}")
    assert victim.read_bytes() == b"do not touch\n"
    path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
    write_private(path, b"{}")
    assert path.read_bytes() == b"{}" and (path.stat().st_mode & 0o777) == 0o600


def _paths(tmp_path: Path) -> LocalPaths:
    paths = LocalPaths(tmp_path)
    paths.condor_dir.mkdir(mode=0o700)
    return paths


@pytest.mark.parametrize("planted", ["symlink", "directory"])
def test_destroys_journal_is_checked_before_any_change(tmp_path, planted):
    paths = _paths(tmp_path)
    victim = _victim(tmp_path)
    journal = destroy_journal.path(paths, "us-east-1")
    journal.symlink_to(victim) if planted == "symlink" else journal.mkdir()
    with pytest.raises(LocalFilesError) as err:
        destroy_journal.check(paths, "us-east-1")
    assert str(journal) in str(err.value) and str(journal) in (err.value.hint or "")
    assert victim.read_bytes() == b"do not touch\n"


@pytest.mark.parametrize(
    "body",
    [
        {"key_name": "../victim", "pem_sha256": "0" * 64},
        {"key_name": "a/b", "pem_sha256": "0" * 64},
        {"key_name": "HTCondorAnnex-KeyPair", "pem_sha256": "not-a-digest"},
        {"key_name": 7, "pem_sha256": "0" * 64},
        ["not", "an", "object"],
    ],
)
def test_a_journal_naming_no_pem_of_ours_names_the_journal_not_key_name(tmp_path, body):
    paths = _paths(tmp_path)
    journal = destroy_journal.path(paths, "us-east-1")
    journal.write_text(json.dumps(body))
    with pytest.raises(LocalFilesError) as err:
        destroy_journal.check(paths, "us-east-1")
    assert str(journal) in str(err.value)
    assert "--key-name" not in f"{err.value} {err.value.hint}"
    assert f"remove {journal}" in (err.value.hint or "")


def test_a_good_journal_round_trips(tmp_path):
    paths = _paths(tmp_path)
    destroy_journal.write(paths, "us-east-1", "HTCondorAnnex-KeyPair", "a" * 64)
    destroy_journal.check(paths, "us-east-1")
    assert destroy_journal.read(paths, "us-east-1") == ("HTCondorAnnex-KeyPair", "a" * 64)


# --- What is printed ---------------------------------------------------------------------------


def test_printable_escapes_every_terminal_control():
    shown = printable(HOSTILE)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert "\u202e" not in shown
    assert "\\x1b]0;pwned\\x07" in shown and "\\u202e" in shown and "\\r\\n" in shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"http://user:{SECRET}@host:5000", "http://***@host:5000"),
        (f"https://user:p@{SECRET}@host/x?y", "https://***@host/x?y"),  # an @ in the password
        (f"cannot reach HTTP://{SECRET}@10.0.0.1:9 now", "cannot reach HTTP://***@10.0.0.1:9 now"),
        ("http://host:5000/a@b", "http://host:5000/a@b"),  # an @ in the path is no userinfo
    ],
)
def test_urls_lose_their_userinfo(url, shown):
    assert redact(url) == shown


# --- The lock ----------------------------------------------------------------------------------


@pytest.fixture
def ssm(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def _put_lock(ssm, **holder) -> None:
    ssm.put_parameter(
        Name=names.LOCK_PARAMETER, Value=json.dumps({"token": "t", **holder}), Type="String"
    )


def test_the_holder_is_shown_with_its_controls_escaped(ssm):
    _put_lock(ssm, host=HOSTILE, purpose=f"setup{ESC}[8m", pid=4242, since=time.time())
    with pytest.raises(LockedError) as err, lock.held(ssm, "setup"):
        pass
    message = str(err.value)
    assert ESC not in message and "\r" not in message and "\n" not in message
    assert "\\x1b]0;pwned" in message and "pid 4242" in message


@pytest.mark.parametrize(
    "since", ["yesterday", 1e300, -1, True, None, "nan", math.inf, [1], 253402300800]
)
def test_a_lock_with_a_time_we_never_write_is_shown_and_taken_over(ssm, since):
    value = json.dumps({"token": "t", "host": "elsewhere", "pid": 1, "since": since})
    ssm.put_parameter(Name=names.LOCK_PARAMETER, Value=value, Type="String")
    holder = lock.holder_of(ssm)
    assert "since an unknown time" in lock.describe(holder)
    with lock.held(ssm, "setup"):  # no "unexpected error": ours now
        assert (
            json.loads(ssm.get_parameter(Name=names.LOCK_PARAMETER)["Parameter"]["Value"])[
                "purpose"
            ]
            == "setup"
        )


def test_a_fresh_lock_of_another_host_is_still_respected(ssm):
    _put_lock(ssm, host="elsewhere", pid=1, purpose="destroy", since=time.time())
    with pytest.raises(LockedError, match="host elsewhere"), lock.held(ssm, "setup"):
        pass


# --- Flags and the environment -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["ANNEX_CDK_NO_LOCAL", "ANNEX_CDK_NO_SYNTH_CACHE"])
def test_an_on_off_variable_with_another_value_is_a_usage_error(monkeypatch, name):
    monkeypatch.setenv(name, "2")
    with pytest.raises(UsageError, match=f"{name}='2' is neither on nor off"):
        env_flag(name)
    monkeypatch.setenv(name, "False")
    assert env_flag(name) is False


def test_no_synth_cache_false_keeps_the_cache(monkeypatch):
    monkeypatch.setenv("ANNEX_CDK_NO_SYNTH_CACHE", "false")
    assert cache_enabled()
    monkeypatch.setenv("ANNEX_CDK_NO_SYNTH_CACHE", "yes")
    assert not cache_enabled()


def _cli(
    *args: str, env: dict[str, str] | None = None, shell_suffix: str = ""
) -> subprocess.CompletedProcess[str]:
    assert CLI
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANNEX_"))}
    base.update(AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY="x" * 40)
    base.update(env or {})
    quoted = " ".join(f"'{a}'" for a in (CLI, *args))
    with tempfile.TemporaryDirectory() as home:  # a bare HOME: no ~/.condor, its own log
        return subprocess.run(
            ["bash", "-c", f"{quoted} {shell_suffix}"],
            env={**base, "HOME": home, "XDG_STATE_HOME": home, "XDG_CACHE_HOME": home},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=home,
        )


def test_an_unknown_no_local_value_stops_the_cli():
    proc = _cli("check-setup", env={"ANNEX_CDK_NO_LOCAL": "2"})
    assert proc.returncode == 2
    assert "ANNEX_CDK_NO_LOCAL='2' is neither on nor off" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("setup", "--key-name", "--json"),
        ("diff", "--tag", "--yes"),
        ("condor", "configure", "--password-file", "--json"),
    ],
)
def test_an_option_is_never_taken_as_the_value_of_another(args):
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert f"{args[-2]} needs a value, but is followed by the option {args[-1]}" in proc.stderr
    if "--json" in args:
        assert json.loads(proc.stdout)["error"]["exit_code"] == 2


@pytest.mark.parametrize("args", [("check-setup", "--json"), ("policy",), ("diff", "--json")])
def test_a_closed_stdout_is_one_line_and_no_change(args):
    proc = _cli(*args, shell_suffix=">&-")
    assert proc.returncode == 2
    assert proc.stderr == "annex-cdk: standard output is closed; nothing was done\n"


@pytest.mark.parametrize("flag", ["--json", None])
def test_a_password_in_the_endpoint_url_is_never_printed(flag):
    url = f"http://annex:{SECRET}@127.0.0.1:9"
    for args in (
        ("check-setup", "--no-local", "--endpoint-url", url),  # unreachable: exit 4
        ("check-setup", "--no-local", "--endpoint-url", url + "9999"),  # bad port: exit 2
    ):
        proc = _cli(*args, *([flag] if flag else []))
        assert proc.returncode in (2, 4), proc.stderr
        assert "***@127.0.0.1:9" in proc.stderr
        for fragment in (SECRET[i : i + 4] for i in range(len(SECRET) - 3)):
            assert fragment not in proc.stdout + proc.stderr
        if flag:
            assert "***@" in json.loads(proc.stdout)["error"]["message"]


def test_an_endpoint_url_with_a_path_is_a_usage_error():
    proc = _cli("check-setup", "--no-local", "--endpoint-url", "http://127.0.0.1:9/foo")
    assert proc.returncode == 2
    assert "has a path, query or fragment" in proc.stderr
    assert "e.g. --endpoint-url http://127.0.0.1:9" in proc.stderr


@pytest.fixture
def html_server() -> Iterator[str]:
    """A web server that answers every request with its HTML "not found" page, as one does
    for the paths botocore asks for."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b"<html><body>Welcome to nginx</body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_endpoint_that_answers_html_is_an_endpoint_error(html_server):
    proc = _cli("check-setup", "--no-local", "--endpoint-url", html_server)
    assert proc.returncode == 4, proc.stderr
    assert "answered with something that is not an AWS response" in proc.stderr
    assert "unexpected" not in proc.stderr and "nginx" not in proc.stderr


def test_a_home_that_does_not_exist_is_refused_not_made(tmp_path):
    """HOME=/nonexistent/x: root could create it and ~/.condor in it; nobody should."""
    home = tmp_path / "nonexistent" / "x"
    with pytest.raises(LocalFilesError, match=f"HOME {home} is not an existing directory"):
        preflight(LocalPaths(home), "us-east-1", names.KEY_PAIR_NAME)
    with pytest.raises(LocalFilesError, match="does not exist"):
        ensure_private_dir(home / names.CONDOR_USER_DIR)
    assert not (tmp_path / "nonexistent").exists()
    # The control: an existing HOME gets its ~/.condor.
    home.mkdir(parents=True)
    assert ensure_private_dir(home / names.CONDOR_USER_DIR)
