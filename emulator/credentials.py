"""The emulator's own credentials (no import of moto or boto3: the CLI reads them)."""

from __future__ import annotations

from typing import Final

#: Dummy credentials: moto accepts any, and these make an accidental real call fail fast. While
#: IAM is enforced they are the account's root user's (annex_emulator.iam_principals).
ACCESS_KEY_ID: Final = "testing"
SECRET_ACCESS_KEY: Final = "testing"
#: The root user's second key, shaped like a real IAM user key (AWS's documentation example):
#: annex-cdk checks condor_annex's key files for that shape, and a scratch HOME's hold it.
KEY_FILE_ACCESS_KEY_ID: Final = "AKIAIOSFODNN7EXAMPLE"
KEY_FILE_SECRET_ACCESS_KEY: Final = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
