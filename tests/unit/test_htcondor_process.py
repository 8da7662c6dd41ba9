"""HTCondor's parser in a child kept for more than one question: each answer is what a fresh
process would say, whatever the child was asked before, and a child HTCondor exits on a config
error is replaced."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from annex_cdk.condor import htcondor_process, parser
from annex_cdk.condor.parser import daemon_values, effective_values, validate_syntax
from annex_cdk.condor.syntax import ConfigSyntaxError
from annex_stacks import names

REGION = "us-east-1"
LOCAL = names.local_name(REGION)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids of the children started from now on (none is left idle from before)."""
    htcondor_process._POOL.close()
    pids: list[int] = []
    real = subprocess.Popen

    def popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        proc: subprocess.Popen[bytes] = real(*args, **kwargs)  # type: ignore[call-overload]  # the same arguments, passed through
        pids.append(proc.pid)
        return proc

    monkeypatch.setattr(htcondor_process.subprocess, "Popen", popen)
    return pids


def test_one_child_answers_a_command_s_questions(tmp_path: Path, started: list[int]) -> None:
    user = tmp_path / "user_config"
    user.write_text(f"{LOCAL}.{names.KEY_S3_BUCKET} = b\nK = 1\n")
    for _ in range(3):
        assert effective_values([user], [names.KEY_S3_BUCKET], REGION) == {names.KEY_S3_BUCKET: "b"}
    assert daemon_values([user], ["K"], subsystem="COLLECTOR") == {"K": "1"}
    validate_syntax("A = 1\n")
    assert len(started) == 1


def test_nothing_carries_over_from_an_earlier_question(
    tmp_path: Path, started: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    local = tmp_path / "local"
    local.write_text("FROM_LOCAL = yes\n")
    first.write_text(
        f"LOCAL_CONFIG_FILE = {local}\nK = first\nONLY_FIRST = 1\nCOLLECTOR.K = collector\n"
        "E = $ENV(ANNEX_TEST_VAR)\n"
    )
    second.write_text("E = $ENV(ANNEX_TEST_VAR)\n")
    monkeypatch.setenv("ANNEX_TEST_VAR", "set")
    keys = ["K", "ONLY_FIRST", "FROM_LOCAL", "E"]
    assert daemon_values([], keys, subsystem="COLLECTOR", base_config=first) == {
        "K": "collector",
        "ONLY_FIRST": "1",
        "FROM_LOCAL": "yes",
        "E": "set",
    }
    monkeypatch.delenv("ANNEX_TEST_VAR")
    # Another base config, subsystem and environment: none of the first question's values.
    assert effective_values([second], keys, REGION) == {
        "K": None,
        "ONLY_FIRST": None,
        "FROM_LOCAL": None,
        "E": "UNDEFINED",  # what a fresh HTCondor says of an unset variable
    }
    assert len(started) == 1


def test_a_config_error_ends_the_child_and_the_next_question_gets_a_new_one(
    tmp_path: Path, started: list[int]
) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text("A = 1\n")
    bad.write_text("A = 1\nnot config\n")
    assert effective_values([good], ["A"], REGION) == {"A": "1"}
    for _ in range(2):  # the error is this question's, each time
        with pytest.raises(ConfigSyntaxError, match=f"^{bad}, line 2: "):
            effective_values([bad], ["A"], REGION)
    assert effective_values([good], ["A"], REGION) == {"A": "1"}
    assert len(started) == 3


def test_questions_from_threads_at_once_get_their_own_answers(tmp_path: Path) -> None:
    files = []
    for n in range(6):
        path = tmp_path / f"c{n}"
        path.write_text(f"K = {n}\n")
        files.append(path)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda f: effective_values([f], ["K"], REGION)["K"], files * 3))
    assert answers == [str(n) for n in range(6)] * 3


def test_the_child_ends_with_this_process(tmp_path: Path) -> None:
    code = (
        "from annex_cdk.condor.parser import validate_syntax\n"
        "from annex_cdk.condor import htcondor_process\n"
        "validate_syntax('A = 1\\n')\n"
        "print(htcondor_process._POOL._child._proc.pid)\n"
    )
    proc = subprocess.run(
        [parser.sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    pid = int(proc.stdout)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
