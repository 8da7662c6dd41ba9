"""A setup that looks like the first one here starts loading CDK at once (ops.first_setup)."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import pytest

from annex_cdk.local_cache import cache_root, write_private_json
from annex_cdk.ops import deployed_record, first_setup, synth_cache


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The cache under tmp_path; each start of CDK's loading, recorded instead of done."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    started: list[str] = []
    monkeypatch.setattr(first_setup, "warm_up", lambda: started.append("warm_up"))
    return started


def test_an_empty_cache_starts_loading(loads: list[str]) -> None:
    assert first_setup.load_cdk_if_first() is True
    assert loads == ["warm_up"]


def test_a_record_of_any_setup_waits_for_the_targets(loads: list[str]) -> None:
    # The record's own path, for another region and endpoint than any run here would use.
    entry = deployed_record.entry("http://127.0.0.1:1", "ap-southeast-2")
    write_private_json(entry, {"format": 0})
    assert entry.parent.parent == cache_root()
    assert first_setup.load_cdk_if_first() is False
    assert loads == []


def test_templates_in_the_synthesis_cache_wait_for_the_targets(loads: list[str]) -> None:
    write_private_json(synth_cache.cache_dir() / "0123.json", {"templates": {}})
    assert first_setup.load_cdk_if_first() is False
    assert loads == []


def test_other_files_of_the_cache_do_not_count(loads: list[str]) -> None:
    (cache_root() / "botocore").mkdir(parents=True)
    (cache_root() / "botocore" / "x.marshal").write_bytes(b"")
    assert first_setup.nothing_kept() is True


def test_targets_found_start_the_loading(loads: list[str]) -> None:
    found: Future[list[str]] = Future()
    found.set_result(["us-east-1"])
    first_setup.once_found(found)
    assert loads == ["warm_up"]


def test_targets_not_found_load_nothing(loads: list[str]) -> None:
    """A run its targets stop exits at once: it must not wait for CDK to load first."""
    failed: Future[list[str]] = Future()
    failed.set_exception(RuntimeError("key file missing"))
    first_setup.once_found(failed)
    assert loads == []
