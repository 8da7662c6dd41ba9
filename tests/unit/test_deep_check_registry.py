"""The deep checks are registered objects: an id, the stack each looks into, and how to run it.

The checks' findings against live resources are tested end to end (tests/e2e/test_deep_check.py);
these tests pin the registry and how `run_deep_checks` goes over it.
"""

from __future__ import annotations

import threading
import time

import pytest

from annex_cdk.aws.service import ResourceNotFound
from annex_cdk.aws.session import AwsTarget, Credentials
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.ops.check_report import Check, CheckReport
from annex_cdk.ops.deep_check import DEEP_CHECKS, DeepCheck, DeepInputs, run_deep_checks
from annex_stacks import names, stack_specs

# Never reached: the fake checks below make no AWS call.
TARGET = AwsTarget("us-east-1", Credentials(), endpoint_url="http://127.0.0.1:9")


def test_every_check_is_registered_under_its_own_id():
    assert list(DEEP_CHECKS) == [check.id for check in DEEP_CHECKS.values()]
    assert all(check.id.startswith("deep:") for check in DEEP_CHECKS.values())


def test_each_check_names_a_stack_annex_cdk_manages_or_none():
    stacks = {check.stack for check in DEEP_CHECKS.values()}
    assert stacks - {None} <= set(stack_specs.MANAGED_STACKS)
    assert DEEP_CHECKS[names.DEEP_PEM].stack == names.KEY_PAIR_STACK


def test_only_the_checks_that_read_local_files_say_so():
    local = {check.id for check in DEEP_CHECKS.values() if check.reads_local}
    assert local == {names.DEEP_CONFIG, names.DEEP_PEM, names.DEEP_CONDOR_USER_KEY}


def _recording(ran: list[str], check_id: str, *, reads_local: bool = False) -> DeepCheck:
    def run(inputs: DeepInputs) -> list[Check]:
        ran.append(check_id)
        return [Check(check_id, True, f"Checking {check_id}... OK.")]

    return DeepCheck(check_id, None, run, reads_local=reads_local)


def test_the_checks_report_in_registration_order_and_no_local_skips_the_local_ones(tmp_path):
    ran: list[str] = []
    checks = {
        c.id: c
        for c in (
            _recording(ran, "deep:b"),
            _recording(ran, "deep:local", reads_local=True),
            _recording(ran, "deep:a"),
        )
    }
    report = CheckReport("us-east-1")
    run_deep_checks(report, TARGET, LocalPaths(home=tmp_path), {}, checks)
    assert sorted(ran) == ["deep:a", "deep:b", "deep:local"]
    assert [c.name for c in report.checks] == ["deep:b", "deep:local", "deep:a"]

    ran.clear()
    report = CheckReport("us-east-1")
    run_deep_checks(report, TARGET, None, {}, checks)
    assert sorted(ran) == ["deep:a", "deep:b"]
    assert [c.name for c in report.checks] == ["deep:b", "deep:a"]


def _ending_after(
    check_id: str, other: threading.Event | None, ended: threading.Event
) -> DeepCheck:
    """A check that ends only once `other` is set (by a check registered after it: one by one,
    it would wait in vain and fail), then sets `ended`."""

    def run(inputs: DeepInputs) -> list[Check]:
        waited = other is None or other.wait(timeout=10)
        ended.set()
        return [Check(check_id, waited, f"Checking {check_id}...")]

    return DeepCheck(check_id, None, run)


def test_the_checks_run_at_once_and_report_in_registry_order_whatever_order_they_end():
    first, second, third = threading.Event(), threading.Event(), threading.Event()
    checks = {
        # They end third, second, first.
        "deep:first": _ending_after("deep:first", second, first),
        "deep:second": _ending_after("deep:second", third, second),
        "deep:third": _ending_after("deep:third", None, third),
    }
    report = CheckReport("us-east-1")
    run_deep_checks(report, TARGET, None, {}, checks)
    assert [c.name for c in report.checks] == ["deep:first", "deep:second", "deep:third"]
    assert report.ok  # no check waited in vain: they ran at once


def test_an_error_comes_after_the_findings_before_it_and_every_check_has_ended():
    ended: list[str] = []

    def broken(inputs: DeepInputs) -> list[Check]:
        raise RuntimeError("AWS said no")

    def slow(inputs: DeepInputs) -> list[Check]:
        time.sleep(0.2)
        ended.append("deep:after")
        return [Check("deep:after", True, "after")]

    checks = {
        "deep:before": _recording(ended, "deep:before"),
        "deep:broken": DeepCheck("deep:broken", None, broken),
        "deep:after": DeepCheck("deep:after", None, slow),
    }
    report = CheckReport("us-east-1")
    with pytest.raises(RuntimeError, match="AWS said no"):
        run_deep_checks(report, TARGET, None, {}, checks)
    # As one by one: the findings before the error are reported, none after it; and no check
    # is left running behind the error.
    assert [c.name for c in report.checks] == ["deep:before"]
    assert sorted(ended) == ["deep:after", "deep:before"]


def test_a_resource_gone_stops_only_its_own_check():
    def gone(inputs: DeepInputs) -> list[Check]:
        raise ResourceNotFound("deleted by hand")

    ran: list[str] = []
    checks = {
        "deep:before": _recording(ran, "deep:before"),
        "deep:gone": DeepCheck("deep:gone", None, gone),
        "deep:next": _recording(ran, "deep:next"),
    }
    report = CheckReport("us-east-1")
    run_deep_checks(report, TARGET, None, {}, checks)
    assert sorted(ran) == ["deep:before", "deep:next"]
    assert [c.name for c in report.checks] == ["deep:before", "deep:next"]
