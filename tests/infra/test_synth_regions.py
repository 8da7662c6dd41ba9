"""One synthesis for several regions."""

from __future__ import annotations

from annex_stacks import AnnexSettings, synth
from annex_stacks.facade import synth_regions
from annex_stacks.stack_specs import CORE_STACKS

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")


def test_one_synthesis_gives_each_region_what_its_own_synthesis_gives(tmp_path):
    """What `setup --region A --region B ...` deploys in each region is exactly what a run
    for that region alone deploys (the façade pins each region's stacks to it)."""

    def settings(region: str) -> AnnexSettings:
        return AnnexSettings(region=region, allowed_cidrs=("198.51.100.7/32",), ssh=False)

    together = synth_regions([settings(r) for r in REGIONS], outdir=tmp_path / "together")
    assert list(together) == list(REGIONS)
    for region in REGIONS:
        alone = synth(settings(region), outdir=tmp_path / region)
        assert together[region].templates == alone.templates
        assert together[region].warnings == alone.warnings
        assert set(alone.templates) == set(CORE_STACKS)
