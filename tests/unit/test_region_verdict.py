"""Whether annex-cdk's block sets ANNEX_DEFAULT_AWS_REGION, judged ahead of the write
(post_deploy.region_verdict, while AWS is asked): taken only for user_config as it still is.
HTCondor's parser judges, as in post_deploy itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from annex_cdk.aws.session import Credentials
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.ops import post_deploy as post_deploy_module
from annex_cdk.ops.post_deploy import RegionVerdict, post_deploy, region_verdict
from annex_stacks import names

REGION = "us-west-2"
REGION_LINE = f"{names.KEY_REGION} = {REGION}"


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalPaths:
    home = tmp_path / "home"
    (home / names.CONDOR_USER_DIR).mkdir(parents=True)
    base = tmp_path / "condor_config"
    base.write_text("# an empty base config\n")
    monkeypatch.setenv("CONDOR_CONFIG", str(base))
    for key in [k for k in os.environ if k.upper().startswith("_CONDOR_")]:
        monkeypatch.delenv(key)
    return LocalPaths(home)


def _deploy(paths: LocalPaths, early: RegionVerdict | None) -> str:
    outputs = {names.BUCKET_STACK: {names.OUT_BUCKET: "bucket"}}
    post_deploy(paths, REGION, outputs, Credentials(), key_name=None, private_key=None, early=early)
    return paths.user_config.read_text()


def test_a_verdict_on_the_same_user_config_is_taken(
    paths: LocalPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths.user_config.write_text("# the user's own line\n")
    early = region_verdict(paths, REGION)
    assert early is not None and early.undefined

    def judged_again(*_: object) -> bool:
        raise AssertionError("the verdict read ahead was not taken")

    monkeypatch.setattr(post_deploy_module, "_region_undefined", judged_again)
    assert REGION_LINE in _deploy(paths, early)


def test_a_user_config_changed_since_the_verdict_is_judged_again(paths: LocalPaths) -> None:
    paths.user_config.write_text("# the user's own line\n")
    early = region_verdict(paths, REGION)
    assert early is not None and early.undefined
    paths.user_config.write_text(f"{names.KEY_REGION} = eu-west-1\n")  # set meanwhile
    written = _deploy(paths, early)
    assert REGION_LINE not in written and f"{names.KEY_REGION} = eu-west-1" in written
