"""`annex-cdk org`'s local side: the overrides file, the CIDR slots and the operation
preferences, each refused before any AWS call with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from annex_cdk.aws.stacksets import Preferences
from annex_cdk.errors import UsageError
from annex_cdk.ops.org_overrides import cidr_slots, read_overrides, slot_cidrs
from annex_stacks import names

LAB = "111111111111"
#: One more IPv4 network than a StackSet's security group has slots for.
TOO_MANY_NETWORKS = str([f"10.0.{i}.0/24" for i in range(names.CIDR_SLOTS + 1)]).replace("'", '"')


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labs.toml"
    path.write_text(text)
    return path


def test_overrides_file_read_and_normalised(tmp_path: Path):
    path = _file(
        tmp_path,
        f'[accounts."{LAB}"]\nallow-from = ["198.51.100.7", "2001:db8::/64"]\n'
        '[accounts."222222222222"]\nallow-from = ["203.0.113.0/28"]\n',
    )
    assert read_overrides(path) == {
        LAB: ("198.51.100.7/32", "2001:db8::/64"),
        "222222222222": ("203.0.113.0/28",),
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[accounts.12345]\nallow-from = []\n", "12-digit"),
        (f'[accounts."{LAB}"]\nallow-from = ["not a cidr"]\n', "not a CIDR"),
        (f'[accounts."{LAB}"]\ncollector = "x"\n', "only allow-from"),
        (f'[accounts."{LAB}"]\nallow-from = "198.51.100.7/32"\n', "list of CIDR"),
        ("[labs]\n", "unknown table"),
        ("accounts = [\n", "not TOML"),
        (
            f'[accounts."{LAB}"]\nallow-from = {TOO_MANY_NETWORKS}\n',
            f"at most {names.CIDR_SLOTS}",
        ),
    ],
)
def test_overrides_file_faults_are_one_line(tmp_path: Path, text: str, says: str):
    with pytest.raises(UsageError, match=says) as err:
        read_overrides(_file(tmp_path, text))
    assert "\n" not in str(err.value)


def test_missing_overrides_file_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="No such file"):
        read_overrides(tmp_path / "absent.toml")


def test_cidr_slots_fill_each_family_in_order_and_read_back():
    slots = cidr_slots(["198.51.100.7/32", "2001:db8::/64", "203.0.113.0/28"])
    assert slots[names.cidr_parameter(4, 1)] == "198.51.100.7/32"
    assert slots[names.cidr_parameter(4, 2)] == "203.0.113.0/28"
    assert slots[names.cidr_parameter(6, 1)] == "2001:db8::/64"
    assert len(slots) == 2 * names.CIDR_SLOTS
    assert sum(1 for v in slots.values() if v) == 3
    assert slot_cidrs(slots) == ("198.51.100.7/32", "203.0.113.0/28", "2001:db8::/64")


def test_preferences_as_cloudformation_takes_them():
    assert Preferences().as_api() == {"RegionConcurrencyType": "PARALLEL"}
    assert Preferences(False, "10%", "3", ("us-west-2", "us-east-1")).as_api() == {
        "RegionConcurrencyType": "SEQUENTIAL",
        "RegionOrder": ["us-west-2", "us-east-1"],
        "FailureTolerancePercentage": 10,
        "MaxConcurrentCount": 3,
    }
