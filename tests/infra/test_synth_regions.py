"""One synthesis for several regions."""

from __future__ import annotations

import json

from annex_stacks import AnnexSettings, synth
from annex_stacks.facade import synth_regions
from annex_stacks.stack_specs import CORE_STACKS, STACKS

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


def test_every_stack_is_the_same_in_every_region_and_account(tmp_path):
    """Why regions whose settings differ only by region can share one set of stacks: with
    every optional stack and setting on, the templates pinned to one region are those pinned
    to another, in another partition's neighbourhood too (ARNs and names use AWS::Region).
    Nor do they name the account (AWS::AccountId): the synthesis cache's key leaves it out."""
    everything = AnnexSettings(
        allowed_cidrs=("203.0.113.5/32", "2001:db8::/64"),
        extra_tags={"project": "physics"},
        submit_host_role=True,
        condor_user=True,
        ci_roles=True,
        ci_repository="physics-lab/annex",
        build_image=True,
        max_instances=4,
        max_dollars=50.0,
        budget_email="ops@example.org",
        permissions_boundary="arn:aws:iam::123456789012:policy/OrgPermissionsBoundary",
    )
    first = synth(
        everything.with_(region="us-east-1", account="111111111111"), outdir=tmp_path / "first"
    )
    assert set(first.templates) == {spec.name for spec in STACKS}
    assert "111111111111" not in json.dumps(first.templates)
    for region, account in (("eu-central-1", "222222222222"), ("ap-southeast-2", None)):
        other = synth(everything.with_(region=region, account=account), outdir=tmp_path / region)
        assert other.templates == first.templates, region
        assert other.warnings == first.warnings
        assert region not in json.dumps(other.templates)


def test_regions_with_a_setting_of_their_own_get_stacks_of_their_own(tmp_path):
    """A region whose deployed stacks recorded other settings keeps them, and stacks that
    spell out their region (here in a tag's value) are not handed to another region."""
    base = AnnexSettings(allowed_cidrs=("198.51.100.7/32",), extra_tags={"lab": "us-east-1"})
    asked = [
        base.with_(region="us-east-1"),
        base.with_(region="us-west-2", ssh=False),
        base.with_(region="eu-west-1"),
    ]
    together = synth_regions(asked, outdir=tmp_path / "together")
    assert list(together) == list(REGIONS)
    for one in asked:
        alone = synth(one, outdir=tmp_path / str(one.region))
        assert together[str(one.region)].templates == alone.templates
    assert together["us-west-2"].templates != together["us-east-1"].templates
