"""The workflow's step scripts against the two programs they drive, played by fakes on PATH.

`annex-cdk` is played by a script that exits with the code a test picks (the CLI's documented
codes: 0 no change, 1 changes, anything else a failure) and records every command line; `gh` by
a fake GitHub holding pull-request comments, paginated and filtered with the real `jq` as
`gh api --paginate --jq` does, refusing bodies over GitHub's limit. What the e2e tests cannot
arrange against the emulator (a diff that exits 130, a hijacked comment) is arranged here.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.hostile
ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "scripts" / "ci"
BOT = "github-actions[bot]"
GITHUB_BODY_LIMIT = 65536  # GitHub: "body is too long (maximum is 65536 characters)"
MARKER = "<!-- annex-cdk-diff -->"

FAKE_CLI = """#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$FAKE_LOG"
case $1 in
  diff) printf '%s\\n' "${FAKE_DIFF_OUT:-}"; exit "${FAKE_DIFF_CODE:-0}" ;;
  setup) echo '{"stacks": {}, "timings": {"total_s": 1.0}, "region": "us-east-1"}' ;;
esac
"""

FAKE_GH = """#!/usr/bin/env python3
import json, os, signal, subprocess, sys, time

signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # as gh (Go) dies when its reader is gone
state_file = os.environ["FAKE_GH_STATE"]
state = json.load(open(state_file))
args = sys.argv[1:]
assert args[0] == "api", args
method = args[args.index("--method") + 1] if "--method" in args else "GET"
path = next(a for a in args[1:] if a.startswith("repos/"))
if method == "GET":
    jq = args[args.index("--jq") + 1]
    comments = state["comments"]
    for start in range(0, len(comments), 2):  # pages of two
        page = json.dumps(comments[start : start + 2])
        out = subprocess.run(["jq", "-r", jq], input=page, capture_output=True, text=True, check=True)
        sys.stdout.write(out.stdout)
        sys.stdout.flush()
        time.sleep(0.2)  # a real next page is a round trip away
    sys.exit(0)
if "--input" in args:
    body = json.load(open(args[args.index("--input") + 1]))["body"]
else:
    body = next(a for a in args if a.startswith("body="))[len("body="):]
if len(body) > int(os.environ["FAKE_GH_LIMIT"]):
    print("gh: Validation Failed (HTTP 422): body is too long (maximum is 65536 characters)",
          file=sys.stderr)
    sys.exit(1)
if method == "PATCH":
    wanted = int(path.rsplit("/", 1)[1])
    [comment] = [c for c in state["comments"] if c["id"] == wanted]
    comment["body"] = body
    state["patched"].append(wanted)
else:
    state["comments"].append({"id": 1000 + len(state["comments"]), "body": body,
                              "user": {"login": os.environ["FAKE_GH_LOGIN"]}})
    state["posted"].append(body)
json.dump(state, open(state_file, "w"))
"""


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    path = tmp_path / "bin"
    path.mkdir()
    for name, text in (("annex-cdk", FAKE_CLI), ("gh", FAKE_GH)):
        (path / name).write_text(text)
        (path / name).chmod(0o755)
    return path


def _env(tmp_path: Path, bin_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "AWS_REGION": "us-east-1",
        "FAKE_LOG": str(tmp_path / "calls"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def _run(script: str, tmp_path: Path, bin_dir: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CI / script)],
        env=_env(tmp_path, bin_dir, **extra),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls"
    return log.read_text().splitlines() if log.exists() else []


def _outputs(tmp_path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    lines = iter((tmp_path / "output").read_text().splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            name, delimiter = line.split("<<", 1)
            found[name] = "\n".join(iter(lambda: next(lines), delimiter))
        elif "=" in line:
            name, value = line.split("=", 1)
            found[name] = value
    return found


# A failed diff is any exit but 0 and 1: the CLI's documented failure codes, a signal (130),
# a missing command (127) and the top of the range.
FAILURES = (2, 3, 4, 5, 6, 7, 8, 127, 130, 255)


@pytest.mark.parametrize("code", FAILURES)
def test_the_deploy_gate_fails_closed_on_any_diff_exit_but_0_or_1(tmp_path, bin_dir, code):
    proc = _run("annex-setup", tmp_path, bin_dir, FAKE_DIFF_CODE=str(code))
    assert proc.returncode == 2, proc.stderr
    assert f"annex-cdk diff failed (exit {code}): nothing deployed." in proc.stderr
    assert [c.split()[0] for c in _calls(tmp_path)] == ["diff"]  # never setup --yes

    proc = _run("annex-diff", tmp_path, bin_dir, FAKE_DIFF_CODE=str(code))
    assert proc.returncode == 2
    outputs = _outputs(tmp_path)
    assert (outputs["changed"], outputs["failed"]) == ("false", "true")


def test_the_gate_lets_a_plan_through_and_stops_a_dangerous_one(tmp_path, bin_dir):
    """The control for the test above: exit 1 without DANGEROUS deploys, with it does not."""
    proc = _run("annex-setup", tmp_path, bin_dir, FAKE_DIFF_CODE="1", FAKE_DIFF_OUT="~ change")
    assert proc.returncode == 0, proc.stderr
    assert [c.split()[0] for c in _calls(tmp_path)] == ["diff", "setup", "check-setup"]
    (tmp_path / "calls").unlink()
    proc = _run("annex-setup", tmp_path, bin_dir, FAKE_DIFF_CODE="1", FAKE_DIFF_OUT="DANGEROUS")
    assert proc.returncode == 1
    assert [c.split()[0] for c in _calls(tmp_path)] == ["diff"]


@pytest.mark.parametrize("script", ["annex-diff", "annex-setup"])
def test_a_missing_region_is_a_failed_step_with_outputs(tmp_path, bin_dir, script):
    proc = _run(script, tmp_path, bin_dir, AWS_REGION=None)
    assert proc.returncode == 2
    assert "set AWS_REGION" in proc.stderr
    assert _calls(tmp_path) == []
    if script == "annex-diff":
        outputs = _outputs(tmp_path)
        assert (outputs["changed"], outputs["failed"]) == ("false", "true")
        assert outputs["report"].startswith(MARKER) and "failed" in outputs["report"]


@pytest.mark.parametrize(
    "region", ["<img src=x onerror=alert(1)>", "us-east-1 @octocat", "us-east-1\n## fake", "*"]
)
@pytest.mark.parametrize("script", ["annex-diff", "annex-setup"])
def test_a_hostile_region_never_reaches_the_summary_or_comment(tmp_path, bin_dir, script, region):
    proc = _run(script, tmp_path, bin_dir, AWS_REGION=region, FAKE_DIFF_CODE="1")
    assert proc.returncode == 2
    assert "AWS_REGION is not an AWS region name" in proc.stderr
    assert _calls(tmp_path) == []
    written = proc.stdout + proc.stderr
    for name in ("summary", "output"):
        if (tmp_path / name).exists():
            written += (tmp_path / name).read_text()
    assert region not in written and "@octocat" not in written and "<img" not in written


@pytest.mark.parametrize("script", ["annex-diff", "annex-setup"])
def test_a_star_in_the_variables_is_never_a_file_name(tmp_path, bin_dir, script):
    (tmp_path / "a-file-here").write_text("")
    proc = _run(
        script, tmp_path, bin_dir, ANNEX_ALLOW_FROM="198.51.100.7/32 *", ANNEX_CDK_ARGS="--tag k=*"
    )
    assert proc.returncode == 0, proc.stderr
    diff = _calls(tmp_path)[0]
    assert "--allow-from 198.51.100.7/32 --allow-from * --tag k=* --exit-code" in diff
    assert "a-file-here" not in diff


@pytest.mark.parametrize("target", ["directory", "/dev/full", "missing-dir/out"])
@pytest.mark.parametrize("variable", ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"])
def test_an_unwritable_runner_file_fails_the_step(tmp_path, bin_dir, target, variable):
    if target == "directory":
        (tmp_path / target).mkdir()
    path = target if target.startswith("/") else str(tmp_path / target)
    proc = _run("annex-diff", tmp_path, bin_dir, FAKE_DIFF_CODE="0", **{variable: path})
    assert proc.returncode == 2
    assert f"cannot write {variable}" in proc.stderr
    if variable == "GITHUB_STEP_SUMMARY":
        proc = _run("annex-setup", tmp_path, bin_dir, FAKE_DIFF_CODE="0", **{variable: path})
        assert proc.returncode == 2
        assert f"cannot write {variable}" in proc.stderr


def test_diff_text_cannot_close_the_code_block(tmp_path, bin_dir):
    text = "+ Tags: ```\n**injected** @octocat"
    proc = _run("annex-diff", tmp_path, bin_dir, FAKE_DIFF_CODE="1", FAKE_DIFF_OUT=text)
    assert proc.returncode == 0
    lines = _outputs(tmp_path)["report"].splitlines()
    fence = next(line for line in lines if line.endswith("diff") and line.startswith("`"))
    assert len(fence) - len("diff") > 3
    assert lines[-1] == fence[: -len("diff")]
    inside = lines[lines.index(fence) + 1 : -1]
    assert "**injected** @octocat" in inside


def _comment(id_: int, login: str, body: str) -> dict:
    return {"id": id_, "body": body, "user": {"login": login}}


def _gh(tmp_path: Path, bin_dir: Path, comments: list[dict], body: str, **extra: str):
    state = tmp_path / "gh.json"
    state.write_text(json.dumps({"comments": comments, "patched": [], "posted": []}))
    proc = _run(
        "annex-pr-comment",
        tmp_path,
        bin_dir,
        PR="7",
        BODY=body,
        GITHUB_REPOSITORY="octo-org/pool",
        GITHUB_RUN_ID="4242",
        GH_TOKEN="t",
        FAKE_GH_STATE=str(state),
        FAKE_GH_LOGIN=BOT,
        FAKE_GH_LIMIT=str(GITHUB_BODY_LIMIT),
        **extra,
    )
    return proc, json.loads(state.read_text())


def test_only_the_bots_own_comment_is_edited(tmp_path, bin_dir):
    theirs = _comment(1, "mallory", f"{MARKER}\nI approve, merge away")
    ours = _comment(2, BOT, f"{MARKER}\nold diff")
    proc, state = _gh(tmp_path, bin_dir, [theirs, ours], f"{MARKER}\nnew diff")
    assert proc.returncode == 0, proc.stderr
    assert state["patched"] == [2] and state["posted"] == []
    assert state["comments"][0]["body"] == theirs["body"]

    # Only someone else's marker comment: a comment of our own is created beside it.
    proc, state = _gh(tmp_path, bin_dir, [theirs], f"{MARKER}\nnew diff")
    assert proc.returncode == 0, proc.stderr
    assert state["patched"] == [] and state["posted"] == [f"{MARKER}\nnew diff"]
    assert state["comments"][0]["body"] == theirs["body"]


def test_marker_comments_on_two_pages_do_not_kill_the_step(tmp_path, bin_dir):
    comments = [
        _comment(1, "alice", "lgtm"),
        _comment(2, BOT, f"{MARKER}\nfirst"),
        _comment(3, "bob", "nit"),
        _comment(4, BOT, f"{MARKER}\nsecond"),
    ]
    proc, state = _gh(tmp_path, bin_dir, comments, "new diff")
    assert proc.returncode == 0, proc.stderr
    assert state["patched"] == [2]
    assert state["comments"][1]["body"] == f"{MARKER}\nnew diff"


def test_a_body_over_githubs_limit_is_cut_with_a_pointer_to_the_log(tmp_path, bin_dir):
    # 49 resources, each with a legal 256-character tag value, as the report that GitHub refused.
    lines = [f"+ Tags.annex{i:02d}: {'v' * 256} " * 7 for i in range(49)]
    body = f"{MARKER}\n## annex-cdk diff (us-east-1)\n```diff\n" + "\n".join(lines) + "\n```\n"
    assert len(body) > GITHUB_BODY_LIMIT
    proc, state = _gh(tmp_path, bin_dir, [], body)
    assert proc.returncode == 0, proc.stderr
    [posted] = state["posted"]
    assert len(posted) <= GITHUB_BODY_LIMIT
    assert posted.startswith(f"{MARKER}\n## annex-cdk diff (us-east-1)\n```diff\n")
    assert "https://github.com/octo-org/pool/actions/runs/4242" in posted.splitlines()[-1]
    assert posted.count("```") % 2 == 0  # the code block is closed
    # A body within the limit is posted as it is.
    proc, state = _gh(tmp_path, bin_dir, [], body[:1000])
    assert state["posted"] == [body[:1000]]


def test_the_scripts_are_shellcheck_clean():
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    assert shellcheck
    scripts = sorted(str(p) for p in CI.iterdir())
    subprocess.run([shellcheck, "-x", *scripts], check=True, cwd=ROOT)
    assert all(os.stat(s).st_mode & stat.S_IXUSR for s in scripts if not s.endswith(".sh"))
