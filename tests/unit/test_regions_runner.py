"""Several regions in one run (ops/regions.py): at once, each on its own, one synthesis."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from annex_cdk.commands.options import checked_regions
from annex_cdk.errors import LockedError, UsageError
from annex_cdk.ops import synth_cache
from annex_cdk.ops.regions import run_regions
from annex_stacks import AnnexSettings
from annex_stacks.facade import SynthResult

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")


@pytest.fixture
def syntheses(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The regions of every synthesis made (the synthesis itself stubbed: no jsii here)."""
    made: list[list[str]] = []

    def synth_regions(settings: list[AnnexSettings], *, outdir: Path) -> dict[str, SynthResult]:
        made.append([str(s.region) for s in settings])
        return {
            str(s.region): SynthResult({"T": {"Region": s.region}}, (), outdir) for s in settings
        }

    def synth(settings: AnnexSettings, *, outdir: Path) -> SynthResult:
        return synth_regions([settings], outdir=outdir)[str(settings.region)]

    monkeypatch.setattr(synth_cache, "synth_regions", synth_regions)
    monkeypatch.setattr(synth_cache, "synth", synth)
    monkeypatch.setenv("ANNEX_CDK_NO_SYNTH_CACHE", "1")
    return made


def test_the_regions_run_at_once_and_share_one_synthesis(syntheses):
    inside = threading.Barrier(len(REGIONS), timeout=30)  # all three in work() together

    def work(region: str) -> dict[str, object]:
        inside.wait()
        return synth_cache.synth_templates(AnnexSettings(region=region)).templates

    outcomes = run_regions(REGIONS, work)
    assert [o.region for o in outcomes] == list(REGIONS)
    assert [o.report for o in outcomes] == [{"T": {"Region": r}} for r in REGIONS]
    assert len(syntheses) == 1 and sorted(syntheses[0]) == sorted(REGIONS)


def test_a_region_that_fails_first_holds_no_one_up(syntheses):
    def work(region: str) -> object:
        if region == REGIONS[1]:
            raise LockedError("another setup holds the lock", hint="wait")
        return synth_cache.synth_templates(AnnexSettings(region=region)).templates

    outcomes = run_regions(REGIONS, work)
    failed = outcomes[1]
    assert (failed.ok, failed.error, failed.hint) == (False, "another setup holds the lock", "wait")
    assert outcomes[0].ok and outcomes[2].ok
    assert len(syntheses) == 1 and sorted(syntheses[0]) == sorted([REGIONS[0], REGIONS[2]])
    assert failed.exit_code == LockedError.exit_code


def test_a_bug_in_one_region_is_that_region_s_error(syntheses):
    def work(region: str) -> str:
        if region == REGIONS[0]:
            raise KeyError("boom")
        return region

    outcomes = run_regions(REGIONS, work)
    assert outcomes[0].error == "unexpected error: KeyError: 'boom'"
    assert [o.report for o in outcomes[1:]] == list(REGIONS[1:])
    assert outcomes[0].exit_code == 1


def test_a_failed_synthesis_fails_every_region_that_waited_for_it(monkeypatch, syntheses):
    def broken(settings: list[AnnexSettings], *, outdir: Path) -> dict[str, SynthResult]:
        raise UsageError("invalid setting")

    monkeypatch.setattr(synth_cache, "synth_regions", broken)
    outcomes = run_regions(REGIONS, lambda r: synth_cache.synth_templates(AnnexSettings(region=r)))
    assert [o.error for o in outcomes] == ["invalid setting"] * len(REGIONS)


def test_region_flags_are_checked_and_kept_in_order():
    assert checked_regions(["us-west-2", "us-east-1", "us-west-2"]) == ("us-west-2", "us-east-1")
    with pytest.raises(UsageError, match="mars-1"):
        checked_regions(["us-east-1", "mars-1"])
    with pytest.raises(UsageError, match="--region is empty"):
        checked_regions([" "])
