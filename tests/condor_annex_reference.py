"""condor_annex's own templates, read from the shared reference beside the clone.

CI checks the repository out with ../shared/ beside it (read-only); tests pin our stacks'
logical ids, outputs and ports against these files, never against our own constants.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TEMPLATES_DIR = (
    Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "condor_annex_templates"
)


def template(name: str) -> dict[str, Any]:
    """One of condor_annex's templates, e.g. "security-group-11.json"."""
    return json.loads((TEMPLATES_DIR / name).read_text())


def security_group_ports() -> set[int]:
    """The tcp ports condor_annex's security group opens (22 and the instances' 9618)."""
    group = template("security-group-11.json")["Resources"]["SecurityGroup"]["Properties"]
    return {int(r["FromPort"]) for r in group["SecurityGroupIngress"]}
