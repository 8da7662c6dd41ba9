"""Skip synthesis when nothing that feeds it has changed.

A synthesis starts jsii and Node and takes seconds; the templates are a pure function of the
settings, the stack and handler sources and the CDK library versions. So the templates are kept
under the user's cache directory, keyed by a hash of exactly those inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from annex_stacks.facade import synth
from annex_stacks.settings import AnnexSettings

_PACKAGES = ("annex_stacks", "annex_lambda_src")
_DISTRIBUTIONS = ("aws-cdk-lib", "constructs", "cdk-nag", "jsii")
_FORMAT = 1


@dataclass(frozen=True)
class Templates:
    templates: dict[str, dict[str, Any]]
    warnings: tuple[str, ...]
    cached: bool
    key: str


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "annex-cdk" / "synth"


def inputs_key(settings: AnnexSettings) -> str:
    """A digest of everything the templates depend on."""
    digest = hashlib.sha256()
    digest.update(json.dumps([_FORMAT, settings.to_context()], sort_keys=True).encode())
    for package in _PACKAGES:
        for path in sorted(_sources(resources.files(package)), key=str):
            digest.update(str(path.relative_to(resources.files(package))).encode())  # type: ignore[arg-type]
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
    return os.environ.get("ANNEX_CDK_NO_SYNTH_CACHE", "") in ("", "0")


def synth_templates(settings: AnnexSettings) -> Templates:
    """The templates for `settings`, from the cache when the inputs are unchanged."""
    key = inputs_key(settings)
    if enabled():
        try:
            data = json.loads((cache_dir() / f"{key}.json").read_text())
            return Templates(data["templates"], tuple(data["warnings"]), cached=True, key=key)
        except (OSError, ValueError, KeyError):
            pass  # missing or damaged: synthesize afresh
    with tempfile.TemporaryDirectory(prefix="annex-cdk-synth-") as outdir:
        result = synth(settings, outdir=Path(outdir))
    return Templates(result.templates, result.warnings, cached=False, key=key)


def remember(templates: Templates) -> None:
    """Keep freshly synthesized templates; called once they deployed, so setup writes nothing
    locally before its deploy succeeded."""
    if templates.cached or not enabled():
        return
    entry = cache_dir() / f"{templates.key}.json"
    try:
        entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile("w", dir=entry.parent, delete=False, suffix=".tmp") as tmp:
            json.dump({"templates": templates.templates, "warnings": list(templates.warnings)}, tmp)
        os.replace(tmp.name, entry)
    except OSError:
        pass  # a cache that cannot be written only costs time
