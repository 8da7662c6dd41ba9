"""Several regions' user_config blocks in one write, checked by one run of HTCondor's parser."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from annex_cdk.aws.session import Credentials
from annex_cdk.condor import parser, user_config
from annex_cdk.condor.parser import effective_values, effective_values_by_region
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.condor.syntax import ConfigError
from annex_cdk.errors import LocalFilesError
from annex_cdk.ops.post_deploy import PostDeployReport, local_writes_coming, post_deploy
from annex_cdk.ops.regions import run_regions
from annex_stacks import names
from tests.unit import test_local_integrity as integrity

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
# A scratch HOME and an empty base config, as the local-integrity tests have them.
paths = integrity.paths


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The regions of each user_config write made."""
    made: list[list[str]] = []
    real = user_config.write_region_blocks

    def spy(path: Path, blocks: Any, **kwargs: Any) -> Any:
        made.append([b.region for b in blocks])
        return real(path, blocks, **kwargs)

    monkeypatch.setattr(user_config, "write_region_blocks", spy)
    return made


@pytest.fixture
def parser_runs(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The payload of each HTCondor process started."""
    runs: list[object] = []
    real = parser._run_child

    def spy(files: Any, payload: Any, *args: Any, **kwargs: Any) -> Any:
        runs.append(payload)
        return real(files, payload, *args, **kwargs)

    monkeypatch.setattr(parser, "_run_child", spy)
    return runs


def deploy(paths: LocalPaths, region: str) -> PostDeployReport:
    return post_deploy(
        paths,
        region,
        {names.BUCKET_STACK: {names.OUT_BUCKET: f"bucket-{region}"}},
        Credentials(),
        key_name=None,
        private_key=None,
        default_region=REGIONS[0],
    )


def bucket(paths: LocalPaths, region: str) -> str | None:
    return paths.effective([names.KEY_S3_BUCKET], region)[names.KEY_S3_BUCKET]


def test_regions_that_have_deployed_share_one_write_and_one_check(
    paths: LocalPaths, writes: list[list[str]], parser_runs: list[object]
) -> None:
    deployed = threading.Barrier(len(REGIONS), timeout=30)

    def work(region: str) -> PostDeployReport:
        local_writes_coming(region)
        deployed.wait()
        return deploy(paths, region)

    assert paths.user_config  # where it is: HTCondor is asked once per command
    parser_runs.clear()
    outcomes = run_regions(list(reversed(REGIONS)), work)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    # One write, the blocks in the run's order; HTCondor read the new text once, then the
    # file once for every region's values (instead of twice per region).
    assert writes == [list(reversed(REGIONS))]
    assert len(parser_runs) == 2
    text = paths.user_config.read_text()
    begins = [text.index(names.BLOCK_BEGIN.format(region=r)) for r in reversed(REGIONS)]
    assert begins == sorted(begins)
    assert text.count(f"{names.KEY_REGION} =") == 1
    reports = {o.region: o.report for o in outcomes}
    for region in REGIONS:
        assert bucket(paths, region) == f"bucket-{region}"
        report = reports[region]
        assert report is not None and report.problems == []
        assert report.config is not None and report.config.region == region
    # The first block made the file, the others went into it.
    actions = [reports[r].config.action for r in reversed(REGIONS)]  # type: ignore[union-attr]
    assert actions == ["created", "appended", "appended"]


def test_a_region_still_deploying_is_not_waited_for(
    paths: LocalPaths, writes: list[list[str]]
) -> None:
    fast, slow = REGIONS[:2], REGIONS[2]
    both = threading.Barrier(len(fast), timeout=30)
    fast_done = threading.Event()
    ended: list[str] = []

    def work(region: str) -> PostDeployReport:
        if region == slow:
            # Still deploying: it comes only once the others have their blocks.
            assert fast_done.wait(timeout=30), "the fast regions waited for the slow one"
            local_writes_coming(region)
            return deploy(paths, region)
        local_writes_coming(region)
        both.wait()
        report = deploy(paths, region)
        ended.append(region)
        if len(ended) == len(fast):
            fast_done.set()
        return report

    outcomes = run_regions(REGIONS, work)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert writes == [list(fast), [slow]]
    for region in REGIONS:
        assert bucket(paths, region) == f"bucket-{region}"


def test_a_region_that_fails_before_its_block_holds_no_one_up(
    paths: LocalPaths, writes: list[list[str]]
) -> None:
    deployed = threading.Barrier(len(REGIONS), timeout=30)

    def work(region: str) -> PostDeployReport:
        local_writes_coming(region)
        deployed.wait()
        if region == REGIONS[1]:
            threading.Event().wait(0.3)  # the others ask while it is still coming
            raise LocalFilesError("its PEM could not be written")
        return deploy(paths, region)

    outcomes = run_regions(REGIONS, work)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error == "its PEM could not be written"
    assert writes == [[REGIONS[0], REGIONS[2]]]
    assert set(user_config.parse(paths.user_config.read_text()).ours) == {REGIONS[0], REGIONS[2]}


def test_a_failed_write_is_the_error_of_every_region_in_it(
    paths: LocalPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConfigError("HTCondor cannot read it")

    monkeypatch.setattr(user_config, "write_region_blocks", broken)
    deployed = threading.Barrier(len(REGIONS), timeout=30)

    def work(region: str) -> PostDeployReport:
        local_writes_coming(region)
        deployed.wait()
        return deploy(paths, region)

    outcomes = run_regions(REGIONS, work)
    assert [o.error for o in outcomes] == ["HTCondor cannot read it"] * len(REGIONS)


def test_one_htcondor_run_reads_every_region_as_condor_annex_does(
    tmp_path: Path, parser_runs: list[object]
) -> None:
    config = tmp_path / names.USER_CONFIG_FILE
    config.write_text(
        f"{names.KEY_REGION} = us-west-2\n"
        "us_east_1.K = east\nus_west_2.K = west\nANNEX.K = annex\nK = plain\n"
    )
    keys = ["K", names.KEY_REGION]
    got = effective_values_by_region([config], {r: keys for r in REGIONS})
    assert len(parser_runs) == 1
    assert got == {
        "us-east-1": {"K": "east", names.KEY_REGION: "us-west-2"},
        "us-west-2": {"K": "west", names.KEY_REGION: "us-west-2"},
        "eu-west-1": {"K": "annex", names.KEY_REGION: "us-west-2"},
    }
    for region in REGIONS:  # what one region's own run reads
        assert effective_values([config], keys, region) == got[region]


def test_what_a_command_read_of_the_config_is_read_again_only_when_it_changed(
    paths: LocalPaths, parser_runs: list[object]
) -> None:
    """The key files, image and collector of every region come from one run at a command's
    start; a later look at one of them starts no HTCondor, unless user_config changed."""
    paths.condor_dir.mkdir()
    paths.user_config.write_text("us_west_2.COLLECTOR_HOST = west.example.org\n")
    parser_runs.clear()
    keys = [names.KEY_COLLECTOR_HOST, names.KEY_ODI_IMAGE_ID]
    first = paths.effective_by_region({r: keys for r in REGIONS})
    assert len(parser_runs) == 1
    assert first["us-west-2"][names.KEY_COLLECTOR_HOST] == "west.example.org"
    assert first["us-east-1"][names.KEY_COLLECTOR_HOST] is None
    assert paths.effective([names.KEY_COLLECTOR_HOST], "us-west-2") == {
        names.KEY_COLLECTOR_HOST: "west.example.org"
    }
    assert len(parser_runs) == 1
    paths.user_config.write_text("us_west_2.COLLECTOR_HOST = moved.example.org\n")
    assert paths.effective([names.KEY_COLLECTOR_HOST], "us-west-2") == {
        names.KEY_COLLECTOR_HOST: "moved.example.org"
    }
    assert len(parser_runs) == 2
    # A key not read before is read (and only it).
    paths.effective([names.KEY_REGION], "us-west-2")
    assert len(parser_runs) == 3
