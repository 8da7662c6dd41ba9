"""The Lambda handler sources, read from the installed annex_lambda_src package.

The text returned here is exactly what goes into the templates' inline ZipFile. Inline code is
one file, index.py; a handler that builds on another file's functions (the guardrail on the
lease teardown) is deployed as a bundle: the files one after the other, each later file without
its `from __future__` line and its imports of the earlier ones (their names are then defined
above it). The files' own top-level names must not collide (a unit test checks).
"""

from __future__ import annotations

import ast
from importlib import resources

LEASE_FILE = "lease.py"
CHECK_CONNECTIVITY_FILE = "check_connectivity.py"
ODI_HANDLER = "index.odi_handler"
SFR_HANDLER = "index.sfr_handler"
CHECK_CONNECTIVITY_HANDLER = "index.condor_ping_handler"
GUARDRAIL_FILES = (LEASE_FILE, "guardrail.py")
GUARDRAIL_HANDLER = "index.guardrail_handler"
_PACKAGE = "annex_lambda_src"


def source(file_name: str) -> str:
    return resources.files(_PACKAGE).joinpath(file_name).read_text(encoding="utf-8")


def _without_bundled_imports(text: str) -> str:
    lines = text.splitlines(keepends=True)
    drop: set[int] = set()
    for node in ast.parse(text).body:
        if isinstance(node, ast.ImportFrom) and (
            node.module == "__future__" or (node.module or "").startswith(_PACKAGE)
        ):
            drop.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def bundle(files: tuple[str, ...]) -> str:
    """One index.py of `files`, in order."""
    first, *rest = files
    return "\n\n".join([source(first), *(_without_bundled_imports(source(f)) for f in rest)])
