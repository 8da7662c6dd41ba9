"""The one source of truth both tools honour: the settings the deployed stacks record.

`annex-cdk setup` reads them from the deployed templates (flags win) and, when it runs in a
CDK project directory (one holding cdk.json), records them as context in cdk.context.json,
which `cdk synth|diff|deploy` in that directory reads. `cdk deploy` writes the same records
into the templates, so `annex-cdk diff` after `cdk deploy` plans from what `cdk` deployed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from annex_cdk import console
from annex_cdk.condor.files import atomic_write, read_optional
from annex_cdk.errors import LocalFilesError
from annex_stacks.facade import CONTEXT_FILE, recorded_settings_context
from annex_stacks.settings import AnnexSettings

PREFIX = "annex:"


def read_context(project: Path) -> tuple[Path, dict[str, Any]] | None:
    """The project's cdk.context.json and what it holds; None outside a CDK project.

    setup calls it before any AWS change too, so that a broken file stops it early.
    """
    try:
        if not (project / "cdk.json").is_file():
            return None
    except OSError:  # a directory this user may not look into is not their CDK project
        return None
    path = project / CONTEXT_FILE
    raw = read_optional(path)
    try:
        current = json.loads(raw) if raw else {}
    except ValueError:
        current = None
    if not isinstance(current, dict):
        raise LocalFilesError(
            f"{path} is not a JSON object; annex-cdk leaves it alone",
            hint="fix or remove it, then re-run setup",
        )
    return path, current


def record_for_cdk(settings: AnnexSettings, project: Path) -> Path | None:
    """Write the recorded settings into `project`'s cdk.context.json; None if not a project.

    Other context (CDK's own lookups) is kept; annex:* keys are replaced as a whole.
    """
    found = read_context(project)
    if found is None:
        return None
    path, current = found
    kept = {k: v for k, v in current.items() if not k.startswith(PREFIX)}
    document = {**kept, **recorded_settings_context(settings)}
    if document == current:
        return path
    body = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
    try:
        atomic_write(path, body, mode=0o644)
    except LocalFilesError as err:
        # The stacks are deployed and record these settings; only `cdk`'s copy is stale.
        console.warn(f"{err}; `cdk diff` here will not know the settings setup used")
        return None
    console.info(f"Recorded the settings for `cdk` in {path}.")
    return path
