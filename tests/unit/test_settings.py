"""Bad settings fail at build time with one clear message naming the setting."""

from __future__ import annotations

import pytest

from annex_stacks import AnnexSettings, SettingsError, names
from annex_stacks.settings import host_bits_warnings


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"allowed_cidrs": ("198.51.100.300/32",)}, "allowed_cidrs"),
        ({"allowed_cidrs": "198.51.100.7/32"}, "allowed_cidrs"),
        ({"region": "mars-north-1x"}, "region"),
        ({"region": "US-EAST-1"}, "region"),
        ({"region": "cn-north-1"}, "region"),
        ({"region": "us-gov-west-1"}, "region"),
        ({"account": "12345"}, "account"),
        ({"collector_port": 0}, "collector_port"),
        ({"collector_port": 70000}, "collector_port"),
        ({"collector_port": 22}, "collector_port"),
        ({"extra_tags": {"aws:owner": "me"}}, "extra_tags"),
        ({"extra_tags": {"": "x"}}, "extra_tags"),
        ({"extra_tags": {"k": "v" * 300}}, "extra_tags"),
        ({"extra_tags": {names.TAG_SETUP: "x"}}, "extra_tags"),
        ({"extra_tags": {"team": "hep\nphysics"}}, "extra_tags"),  # \s let these through
        ({"extra_tags": {"team": "hep\tphysics"}}, "extra_tags"),
        ({"extra_tags": {"te\u200bam": "hep"}}, "extra_tags"),  # a format character
        ({"extra_tags": {"k": "v" * 257}}, "extra_tags"),
        ({"key_pair_name": ""}, "key_pair_name"),
    ],
)
def test_bad_setting_names_itself(kwargs, setting):
    with pytest.raises(SettingsError) as err:
        AnnexSettings(**kwargs)
    message = str(err.value)
    assert message.startswith(f"{setting}:")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_regions_outside_the_aws_partition_are_refused_with_the_reason(region, partition):
    with pytest.raises(SettingsError, match=f"in the {partition} partition.*arn:aws:"):
        AnnexSettings(region=region)
    assert AnnexSettings(region="eu-central-2").region == "eu-central-2"


def test_cidrs_are_normalised_and_deduplicated():
    s = AnnexSettings(allowed_cidrs=("198.51.100.7", "198.51.100.7/32", "2001:db8::1/64"))
    assert s.allowed_cidrs == ("198.51.100.7/32", "2001:db8::/64")
    assert not s.world_open
    assert AnnexSettings(allowed_cidrs=("0.0.0.0/0",)).world_open


@pytest.mark.hostile
@pytest.mark.parametrize("name", ["../../etc/evil", "a\\b", "..", " padded ", "tab\tname"])
def test_key_names_cannot_leave_the_condor_directory(name):
    """The key name is part of the PEM's file name: no way out of ~/.condor."""
    with pytest.raises(SettingsError, match="key_pair_name"):
        AnnexSettings(key_pair_name=name)


@pytest.mark.hostile
@pytest.mark.parametrize(
    "cidrs",
    [
        ("0.0.0.0/1", "128.0.0.0/1"),
        ("0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"),
        ("::/1", "8000::/1"),
        ("::/0",),
    ],
)
def test_any_set_covering_everything_is_world_open(cidrs):
    assert AnnexSettings(allowed_cidrs=cidrs).world_open


def test_a_set_with_a_gap_is_not_world_open():
    assert not AnnexSettings(allowed_cidrs=("0.0.0.0/1", "128.0.0.0/2")).world_open


@pytest.mark.hostile
def test_host_bits_are_named():
    (warning,) = host_bits_warnings(["10.0.0.1/8", "198.51.100.7/32", "2001:db8::/64"])
    assert "10.0.0.1/8" in warning and "10.0.0.0/8" in warning


def test_collector_port_22_is_fine_without_ssh():
    assert AnnexSettings(collector_port=22, ssh=False).collector_port == 22


def test_context_round_trip_and_string_forms():
    s = AnnexSettings(
        region="eu-west-1",
        allowed_cidrs=("203.0.113.0/24",),
        ssh=False,
        collector_port=9700,
        extra_tags={"team": "hep"},
        retain_bucket=True,
    )
    assert AnnexSettings.from_context(s.to_context()) == s
    # What `cdk -c key=value` hands the app: strings.
    from_cli = AnnexSettings.from_context(
        {
            names.CTX_ALLOWED_CIDRS: "203.0.113.0/24, 198.51.100.7/32",
            names.CTX_SSH: "false",
            names.CTX_COLLECTOR_PORT: "9700",
            names.CTX_EXTRA_TAGS: '{"team": "hep"}',
        }
    )
    assert from_cli.allowed_cidrs == ("203.0.113.0/24", "198.51.100.7/32")
    assert from_cli.ssh is False and from_cli.collector_port == 9700
    assert from_cli.extra_tags == {"team": "hep"}


@pytest.mark.parametrize(
    ("ctx", "setting"),
    [
        ({names.CTX_SSH: "maybe"}, names.CTX_SSH),
        ({names.CTX_COLLECTOR_PORT: "ninety"}, names.CTX_COLLECTOR_PORT),
        ({names.CTX_EXTRA_TAGS: "{nope"}, names.CTX_EXTRA_TAGS),
    ],
)
def test_bad_context_values_name_the_context_key(ctx, setting):
    with pytest.raises(SettingsError, match=setting):
        AnnexSettings.from_context(ctx)


def test_overrides_win_over_context():
    s = AnnexSettings.from_context({names.CTX_COLLECTOR_PORT: 9700}, collector_port=9800)
    assert s.collector_port == 9800
