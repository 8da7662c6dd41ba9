"""`annex-cdk condor configure|unconfigure` and `annex-cdk credentials` through the console script.

No AWS and no emulator: a scratch HOME, a scratch personal HTCondor and fake HTCondor tools.
Skipped until main.py registers the commands (`commands_condor.register(app)`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from annex_cdk import errors
from annex_stacks import names
from tests.e2e.conftest import CLI
from tests.unit.test_personal_condor import CLASSIC_VERSION_LINE, version_tool

pytestmark = pytest.mark.e2e

PASSWORD = "pool password, never echoed"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ORIGINAL = b"# the personal HTCondor's own lines\nDAEMON_LIST = MASTER, COLLECTOR, SCHEDD\n"
FAKE_STORE_CRED = f"""#!{sys.executable}
import json, sys
data = sys.stdin.read()
with open(sys.argv[0] + ".log", "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv, "stdin": data}}) + "\\n")
print("Enter password: ")
open(sys.argv[sys.argv.index("-f") + 1], "w").write("stored\\n")
"""


@pytest.fixture(scope="module")
def registered() -> None:
    assert CLI, "annex-cdk is not installed in this venv"
    proc = subprocess.run([CLI, "condor", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, "`annex-cdk condor` is not registered in main.py"


@dataclass
class Scratch:
    home: Path
    base: Path
    local_dir: Path
    local_file: Path
    bin: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "_CONDOR_"))}
        env.update(
            HOME=str(self.home),
            CONDOR_CONFIG=str(self.base),
            PATH=str(self.bin),  # only the fake HTCondor tools
            AWS_CONFIG_FILE=str(self.home / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.home / "no-aws-credentials"),
            AWS_EC2_METADATA_DISABLED="true",
            COLUMNS="200",
        )
        return env

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        assert CLI
        return subprocess.run(
            [CLI, *args], input=stdin, env=self.env, capture_output=True, text=True, timeout=120
        )


@pytest.fixture
def scratch(tmp_path: Path, registered: None) -> Scratch:
    local_dir = tmp_path / "condor" / "local"
    local_dir.mkdir(parents=True)
    local_file = local_dir / "condor_config.local"
    local_file.write_bytes(ORIGINAL)
    base = tmp_path / "condor" / "condor_config"
    base.write_text(f"LOCAL_DIR = {local_dir}\nLOCAL_CONFIG_FILE = {local_file}\n")
    home, bin_dir = tmp_path / "home", tmp_path / "bin"
    home.mkdir()
    bin_dir.mkdir()
    version_tool(bin_dir, CLASSIC_VERSION_LINE)  # a 24.0 LTS HTCondor: the classic guide
    return Scratch(home, base, local_dir, local_file, bin_dir)


def test_configure_store_password_and_unconfigure(scratch: Scratch) -> None:
    tool = scratch.bin / names.TOOL_STORE_CRED
    tool.write_text(FAKE_STORE_CRED)
    tool.chmod(0o755)
    proc = scratch.run("condor", "configure", "--password-stdin", "--json", stdin=PASSWORD + "\n")
    assert proc.returncode == 0, proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    pool = f"{scratch.local_dir}/condor_pool_password"
    assert report["effective"]["SEC_PASSWORD_FILE"] == pool
    assert report["effective"]["SEC_DAEMON_AUTHENTICATION_METHODS"] == "PASSWORD"
    assert report["password"] == {"file": pool, "action": "stored", "command": None}
    (call,) = [json.loads(x) for x in Path(f"{tool}.log").read_text().splitlines()]
    assert call["stdin"] == PASSWORD + "\n" and PASSWORD not in " ".join(call["argv"])

    again = scratch.run("condor", "configure")
    assert again.returncode == 0, again.stderr
    assert f"{scratch.local_file}: unchanged" in again.stdout
    assert "condor_restart" not in again.stdout  # nothing changed, nothing to restart

    undo = scratch.run("condor", "unconfigure")
    assert undo.returncode == 0, undo.stderr
    assert scratch.local_file.read_bytes() == ORIGINAL


def test_without_condor_store_cred_the_command_is_printed(scratch: Scratch) -> None:
    proc = scratch.run("condor", "configure")
    assert proc.returncode == 0, proc.stderr
    pool = f"{scratch.local_dir}/condor_pool_password"
    assert f"run: condor_store_cred -c add -f {pool}" in proc.stdout


def test_bad_existing_config_is_one_line_and_untouched(scratch: Scratch) -> None:
    scratch.local_file.write_bytes(b"A = 1\nnot config at all\n")
    proc = scratch.run("condor", "configure", "--no-password")
    assert proc.returncode == errors.EXIT_LOCAL_FILES
    assert "line 2" in proc.stderr and "Traceback" not in proc.stderr
    assert scratch.local_file.read_bytes() == b"A = 1\nnot config at all\n"


def test_no_htcondor_names_the_flag(scratch: Scratch) -> None:
    env_less = scratch.env | {"CONDOR_CONFIG": ""}
    assert CLI
    proc = subprocess.run(
        [CLI, "condor", "configure"], env=env_less, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == errors.EXIT_USAGE
    assert "--config-file" in proc.stderr


def test_credentials_from_stdin(scratch: Scratch) -> None:
    proc = scratch.run("credentials", "--from-stdin", stdin=f"{KEY_ID}\n{SECRET}\n")
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    private = scratch.home / names.CONDOR_USER_DIR / names.PRIVATE_KEY_FILE
    assert private.read_text() == f"{SECRET}\n" and (private.stat().st_mode & 0o777) == 0o600
    other = scratch.run("credentials", "--from-stdin", stdin=f"{KEY_ID}\nsomething-else\n")
    assert other.returncode == errors.EXIT_LOCAL_FILES
    assert "refusing to overwrite" in other.stderr and "something-else" not in other.stderr
    assert private.read_text() == f"{SECRET}\n"


def test_check_setup_reads_back_what_configure_wrote(
    scratch: Scratch, monkeypatch: pytest.MonkeyPatch
) -> None:
    from annex_cdk.condor.personal_checks import verify_configured

    monkeypatch.setenv("CONDOR_CONFIG", str(scratch.base))
    monkeypatch.setenv("PATH", str(scratch.bin))  # no condor_config_val: found via CONDOR_CONFIG
    assert verify_configured() is None  # nothing configured yet: nothing to check
    proc = scratch.run("condor", "configure", "--no-password")
    assert proc.returncode == 0, proc.stderr
    assert verify_configured() == []
    with scratch.local_file.open("a") as fh:
        fh.write("SEC_DAEMON_AUTHENTICATION_METHODS = FS\n")
    problems = verify_configured()
    assert problems and any("SEC_DAEMON_AUTHENTICATION_METHODS" in p for p in problems)


def test_access_point_for_25_through_the_console_script(scratch: Scratch) -> None:
    """HTCondor 25.x: no pool password, ~/.hpc-annex, the feature read back; then undone."""
    with scratch.base.open("a") as fh:
        fh.write("use security:recommended_v24_0\n")
    version_tool(
        scratch.bin,
        "$CondorVersion: 25.7.2 2026-03-11 BuildID: 881773 PackageID: 25.7.2-1+ubu24 "
        "GitSHA: 433de0b3 $",
    )
    proc = scratch.run("condor", "configure", "--collector-host", "ap.example.org", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["htcondor"]["side"] == "access-point" and report["password"] is None
    assert report["effective"][names.KEY_TCP_FORWARDING_HOST] == "ap.example.org"
    assert (scratch.home / names.HPC_ANNEX_DIR).is_dir()
    assert names.USE_HPC_ANNEX_LINE.encode() in scratch.local_file.read_bytes()
    undo = scratch.run("condor", "unconfigure")
    assert undo.returncode == 0, undo.stderr
    assert scratch.local_file.read_bytes() == ORIGINAL
