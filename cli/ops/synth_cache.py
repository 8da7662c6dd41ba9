"""Skip synthesis when nothing that feeds it has changed.

A synthesis starts jsii and Node and takes seconds; the templates are a pure function of the
settings, the stack and handler sources and the CDK library versions. So the templates are kept
under the user's cache directory, keyed by a hash of exactly those inputs.

What is deployed comes from here, so the cache is not trusted blindly (`local_cache`: 0700
directories, 0600 files, nothing another user owns or can write), and an entry is used only if
its templates still hash to the digest written with them (an edited template is synthesized
afresh, with a warning).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from annex_cdk import console
from annex_cdk.env import env_flag
from annex_cdk.local_cache import SYNTH_DIR, cache_root, read_trusted_json, write_private_json
from annex_stacks.facade import synth, synth_regions
from annex_stacks.settings import AnnexSettings

_PACKAGES = ("annex_stacks", "annex_lambda_src")
_DISTRIBUTIONS = ("aws-cdk-lib", "constructs", "cdk-nag", "jsii")
_FORMAT = 2


@dataclass(frozen=True)
class Templates:
    templates: dict[str, dict[str, Any]]
    warnings: tuple[str, ...]
    cached: bool
    key: str


def cache_dir() -> Path:
    return cache_root() / SYNTH_DIR


def inputs_key(settings: AnnexSettings) -> str:
    """A digest of everything the templates depend on. Not the account: the templates name it
    only as AWS::AccountId (tests/infra/test_synth_regions.py), so a run can tell whether its
    templates are cached before it knows the account."""
    digest = hashlib.sha256()
    context = settings.with_(account=None).to_context()
    digest.update(json.dumps([_FORMAT, context], sort_keys=True).encode())
    for package in _PACKAGES:
        for path in sorted(_sources(resources.files(package)), key=str):
            digest.update(str(path.relative_to(resources.files(package))).encode())  # type: ignore[arg-type]  # importlib's Traversable is a Path here (a package on disk)
            digest.update(path.read_bytes())
    for dist in _DISTRIBUTIONS:
        try:
            digest.update(f"{dist}=={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{dist} missing".encode())
    return digest.hexdigest()


def _sources(root: Any) -> list[Path]:
    return [p for p in Path(str(root)).rglob("*.py") if "__pycache__" not in p.parts]


def enabled() -> bool:
    return not env_flag("ANNEX_CDK_NO_SYNTH_CACHE")


def _digest(templates: Any, warnings: Any) -> str:
    canonical = json.dumps([templates, warnings], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _entry(key: str) -> Path:
    return cache_dir() / f"{key}.json"


def holds(key: str) -> bool:
    """Whether an entry for `key` is there (not yet whether it can be trusted: `_load`)."""
    return enabled() and _entry(key).is_file()


def _load(key: str) -> Templates | None:
    entry = _entry(key)
    data = read_trusted_json(entry, what="the synthesis cache")
    try:
        templates, warnings = data["templates"], data["warnings"]
    except (KeyError, TypeError):
        return None  # missing or damaged: synthesize afresh
    if data.get("digest") != _digest(templates, warnings):
        console.warn(f"ignoring {entry}: its templates were changed after synthesis")
        return None
    return Templates(templates, tuple(warnings), cached=True, key=key)


def synth_templates(settings: AnnexSettings) -> Templates:
    """The templates for `settings`, from the cache when the inputs are unchanged; while
    regions are set up at once (`shared_synthesis`), from their one synthesis."""
    key = inputs_key(settings)
    batch = _batch
    if enabled() and (hit := _load(key)) is not None:
        if batch is not None and settings.region is not None:
            batch.leave(settings.region)
        return hit
    if batch is not None and settings.region in batch.regions:
        return batch.ask(settings, key)
    with tempfile.TemporaryDirectory(prefix="annex-cdk-synth-") as outdir:
        result = synth(settings, outdir=Path(outdir))
    return Templates(result.templates, result.warnings, cached=False, key=key)


class SynthesisBatch:
    """One synthesis for the regions of one run.

    Each region's thread reads its deployed stacks and resolves its own settings, then asks
    here; once every region still running has asked (a region that failed before, or found
    its templates in the cache, leaves), the asking thread that comes first synthesizes for
    all of them in one CDK app (facade.synth_regions: one set of stacks for the regions whose
    settings differ only by region, each region's templates exactly as a run for that region
    alone builds them, for the cost of one jsii start and one synthesis) and every thread gets
    its own region's templates. jsii is not made for concurrent use, so this is
    also what keeps the threads out of each other's way.
    """

    def __init__(self, regions: Sequence[str]) -> None:
        self.regions = tuple(regions)
        self._pending = set(regions)
        self._asked: dict[str, tuple[AnnexSettings, str]] = {}
        self._done: dict[str, Templates] | None = None
        self._error: BaseException | None = None
        self._working = False
        self._cond = threading.Condition()

    def leave(self, region: str) -> None:
        """`region` asks nothing (it failed, or its templates were cached)."""
        with self._cond:
            self._pending.discard(region)
            self._cond.notify_all()

    def ask(self, settings: AnnexSettings, key: str) -> Templates:
        region = str(settings.region)
        with self._cond:
            if self._done is None:
                self._asked[region] = (settings, key)
                self._cond.notify_all()
            while self._done is None and self._error is None:
                if not self._working and self._pending <= set(self._asked):
                    self._working = True
                    break
                self._cond.wait()
            else:
                return self._answer(region, settings, key)
        try:
            done = self._synthesize()
        except BaseException as err:
            with self._cond:
                self._error = err
                self._cond.notify_all()
            raise
        with self._cond:
            self._done = done
            self._cond.notify_all()
            return self._answer(region, settings, key)

    def _answer(self, region: str, settings: AnnexSettings, key: str) -> Templates:
        if self._error is not None:
            raise self._error
        assert self._done is not None
        if region in self._done:
            return self._done[region]
        with tempfile.TemporaryDirectory(prefix="annex-cdk-synth-") as outdir:
            result = synth(settings, outdir=Path(outdir))
        return Templates(result.templates, result.warnings, cached=False, key=key)

    def _synthesize(self) -> dict[str, Templates]:
        asked = dict(self._asked)
        with tempfile.TemporaryDirectory(prefix="annex-cdk-synth-") as outdir:
            results = synth_regions([s for s, _ in asked.values()], outdir=Path(outdir))
        return {
            region: Templates(result.templates, result.warnings, cached=False, key=asked[region][1])
            for region, result in results.items()
        }


_batch: SynthesisBatch | None = None


@contextmanager
def shared_synthesis(regions: Sequence[str]) -> Iterator[SynthesisBatch]:
    """While inside, the regions' synth_templates calls share one synthesis."""
    global _batch
    _batch = SynthesisBatch(regions)
    try:
        yield _batch
    finally:
        _batch = None


def remember(templates: Templates) -> None:
    """Keep freshly synthesized templates: setup calls this once they deployed (it writes
    nothing locally before its deploy succeeded), diff once it has compared them."""
    if templates.cached or not enabled():
        return
    warnings = list(templates.warnings)
    record = {
        "templates": templates.templates,
        "warnings": warnings,
        "digest": _digest(templates.templates, warnings),
    }
    write_private_json(_entry(templates.key), record)
