"""The Lambda handler sources, read from the installed annex_lambda_src package.

The text returned here is exactly what goes into the templates' inline ZipFile.
"""

from __future__ import annotations

from importlib import resources

LEASE_FILE = "lease.py"
CHECK_CONNECTIVITY_FILE = "check_connectivity.py"
ODI_HANDLER = "index.odi_handler"
SFR_HANDLER = "index.sfr_handler"
CHECK_CONNECTIVITY_HANDLER = "index.condor_ping_handler"


def source(file_name: str) -> str:
    return resources.files("annex_lambda_src").joinpath(file_name).read_text(encoding="utf-8")
