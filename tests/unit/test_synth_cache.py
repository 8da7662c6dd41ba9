"""The synthesis cache: hit only when every input is the same; never trusted when damaged."""

from __future__ import annotations

import json
import os
import stat
from typing import ClassVar

import pytest

from annex_cdk.ops import synth_cache
from annex_stacks import AnnexSettings


@pytest.fixture(autouse=True)
def _cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("ANNEX_CDK_NO_SYNTH_CACHE", raising=False)


def test_key_follows_every_setting():
    base = AnnexSettings(allowed_cidrs=("198.51.100.7/32",))
    keys = {
        synth_cache.inputs_key(s)
        for s in (
            base,
            base.with_(ssh=False),
            base.with_(collector_port=9700),
            base.with_(allowed_cidrs=("198.51.100.8/32",)),
            base.with_(extra_tags={"a": "b"}),
            base.with_(key_pair_name="other"),
            base.with_(retain_bucket=True),
            base.with_(region="eu-west-1"),
        )
    }
    assert len(keys) == 8
    assert synth_cache.inputs_key(base) == synth_cache.inputs_key(
        AnnexSettings(allowed_cidrs=("198.51.100.7/32",))
    )


def test_key_follows_the_handler_sources(monkeypatch):
    settings = AnnexSettings()
    before = synth_cache.inputs_key(settings)
    real = synth_cache._sources

    def with_extra(root):
        files = real(root)
        return files[:-1] if files else files

    monkeypatch.setattr(synth_cache, "_sources", with_extra)
    assert synth_cache.inputs_key(settings) != before


def test_hit_after_remember_and_damaged_entry_is_ignored(monkeypatch):
    settings = AnnexSettings(allowed_cidrs=("198.51.100.7/32",))
    calls = []

    class FakeResult:
        templates: ClassVar = {"HTCondorAnnex-X": {"Resources": {}}}
        warnings = ("w",)

    def fake_synth(s, outdir):
        calls.append(s)
        return FakeResult()

    monkeypatch.setattr(synth_cache, "synth", fake_synth)
    first = synth_cache.synth_templates(settings)
    assert not first.cached and len(calls) == 1
    # Not remembered until the deploy succeeded: still a miss.
    assert not synth_cache.synth_templates(settings).cached
    synth_cache.remember(first)
    hit = synth_cache.synth_templates(settings)
    assert hit.cached and hit.templates == FakeResult.templates and hit.warnings == ("w",)
    assert len(calls) == 2

    (synth_cache.cache_dir() / f"{first.key}.json").write_text("{not json")
    assert not synth_cache.synth_templates(settings).cached


def test_cache_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("ANNEX_CDK_NO_SYNTH_CACHE", "1")
    assert not synth_cache.enabled()


class _Fake:
    templates: ClassVar = {"HTCondorAnnex-X": {"Resources": {"G": {"Type": "T"}}}}
    warnings = ()


def _remembered(monkeypatch) -> synth_cache.Templates:
    monkeypatch.setattr(synth_cache, "synth", lambda s, outdir: _Fake())
    first = synth_cache.synth_templates(AnnexSettings())
    synth_cache.remember(first)
    assert synth_cache.synth_templates(AnnexSettings()).cached
    return first


@pytest.mark.hostile
def test_an_edited_cached_template_is_not_used(monkeypatch, capsys):
    """Regression: an edited template (a group opened to 0.0.0.0/0) was deployed from the cache."""
    first = _remembered(monkeypatch)
    entry = synth_cache.cache_dir() / f"{first.key}.json"
    data = json.loads(entry.read_text())
    data["templates"]["HTCondorAnnex-X"]["Resources"]["G"]["Properties"] = {"CidrIp": "0.0.0.0/0"}
    entry.write_text(json.dumps(data))
    again = synth_cache.synth_templates(AnnexSettings())
    assert not again.cached and again.templates == _Fake.templates
    assert "changed after synthesis" in capsys.readouterr().err


@pytest.mark.hostile
def test_cache_directories_are_private_under_any_umask(monkeypatch, tmp_path):
    old = os.umask(0)
    try:
        _remembered(monkeypatch)
    finally:
        os.umask(old)
    made = synth_cache.cache_dir()
    for directory in (made, made.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@pytest.mark.hostile
def test_a_cache_others_can_write_is_ignored(monkeypatch, capsys):
    first = _remembered(monkeypatch)
    os.chmod(synth_cache.cache_dir(), 0o777)
    assert not synth_cache.synth_templates(AnnexSettings()).cached
    assert "writable by others" in capsys.readouterr().err
    os.chmod(synth_cache.cache_dir(), 0o700)
    entry = synth_cache.cache_dir() / f"{first.key}.json"
    os.chmod(entry, 0o666)
    assert not synth_cache.synth_templates(AnnexSettings()).cached


@pytest.mark.hostile
def test_a_cache_another_user_owns_is_ignored(monkeypatch, capsys):
    _remembered(monkeypatch)
    real = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: real + 1)
    assert not synth_cache.synth_templates(AnnexSettings()).cached
    assert "not by you" in capsys.readouterr().err
