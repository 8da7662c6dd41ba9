"""The real-AWS model benchmark (benchmarks/model.py), run fast: its figures are measured."""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from dataclasses import replace

import pytest

from annex_stacks import names
from benchmarks import model
from benchmarks.table import Section, render

#: 1/500 of real time: the slowest stack takes 0.24 s, condor_annex's chain about 0.55 s.
SCALE = 0.002


@pytest.fixture(scope="module")
def measured() -> tuple[Section, model.ModelResult]:
    return model.measure(runs=1, scale=SCALE)


def test_rows_and_result_hold_the_measured_numbers(measured) -> None:
    section, result = measured
    assert [row.key for row in section.rows] == ["4a", "4b"]
    assert len(result.engine_walls) == len(result.condor_annex_walls) == 1
    # Medians of the measured walls, converted back to real-AWS seconds.
    assert result.engine_s == pytest.approx(statistics.median(result.engine_walls) / SCALE)
    assert result.condor_annex_s == pytest.approx(
        statistics.median(result.condor_annex_walls) / SCALE
    )
    assert result.critical_path_s == max(s.seconds for s in model.GUIDE)
    # The ratios come from those numbers, and the verdict from the ratio.
    assert result.engine_vs_critical == pytest.approx(result.engine_s / result.critical_path_s)
    assert result.condor_annex_vs_engine == pytest.approx(result.condor_annex_s / result.engine_s)
    assert result.engine_passed is (result.engine_vs_critical <= model.ENGINE_TARGET)
    engine_row = section.rows[0]
    assert engine_row.passed is result.engine_passed
    assert f"{result.engine_vs_critical:.3f}x" in engine_row.ratio
    assert "4a" in render([section])


def test_the_engine_starts_every_stack_before_any_finishes() -> None:
    """Concurrency shown by the order of events, not by timing: every stack is held in
    progress until all of them have begun."""
    cfn = model.FakeCloudFormation({s.name: 3600.0 for s in model.GUIDE})
    worker = threading.Thread(target=model.engine_setup, args=(cfn, model.GUIDE, SCALE))
    worker.start()
    deadline = time.monotonic() + 120  # only a margin against a hang
    while len(cfn.operations) < len(model.GUIDE) and worker.is_alive():
        assert time.monotonic() < deadline, cfn.operations
        time.sleep(0.01)
    begun = sorted(op.name for op in cfn.operations)
    cfn.finish_all()
    worker.join(120)
    assert not worker.is_alive()
    assert begun == sorted(s.name for s in model.GUIDE)


def test_condor_annex_creates_one_stack_after_the_other() -> None:
    cfn = model.FakeCloudFormation({s.name: s.seconds * SCALE for s in model.GUIDE})
    model.condor_annex_setup(cfn, model.GUIDE, SCALE)
    stacks = [s.name for s in model.GUIDE if s.name != names.KEY_PAIR_STACK]
    assert [op.name for op in cfn.operations] == stacks  # the key pair is one EC2 call
    assert cfn.calls["CreateKeyPair"] == 1
    for before, after in itertools.pairwise(cfn.operations):
        assert after.started >= before.started + before.duration


def test_the_critical_path_follows_the_stacks_given() -> None:
    slower = tuple(
        replace(s, seconds=150.0) if s.name.endswith("InstanceProfile") else s for s in model.GUIDE
    )
    result = model.run_model(1, scale=SCALE, stacks=slower)
    assert result.critical_path_s == 150.0
    assert result.engine_vs_critical == pytest.approx(result.engine_s / 150.0)
    chained = (
        model.StackModel("A", 10.0),
        model.StackModel("B", 20.0, after=("A",)),
        model.StackModel("C", 5.0),
    )
    assert model.critical_path(chained) == 30.0


def test_the_fake_cloudformation_reports_missing_stacks_as_aws_does() -> None:
    from botocore.exceptions import ClientError

    cfn = model.FakeCloudFormation({"S": 0.0})
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName="S")
    stack_id = cfn.create_stack(StackName="S", TemplateBody="{}")["StackId"]
    assert cfn.describe_stacks(StackName="S")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    with pytest.raises(ClientError, match="No updates"):
        cfn.update_stack(StackName=stack_id, TemplateBody="{}")
    cfn.delete_stack(StackName=stack_id)
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName="S")
