"""Shared test set-up: quiet jsii on Node 20, and dummy AWS credentials so nothing real is hit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")
# CI=true switches setup, diff and check-setup to the AWS-side-only mode (--no-local); the
# suite tests the local mode unless a test asks for the other explicitly.
os.environ.pop("CI", None)
os.environ.pop("ANNEX_CDK_NO_LOCAL", None)


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def one_botocore_loader() -> None:
    """Every boto3 client a test made (in-process moto, emulator checks) parsed botocore's JSON
    models again with a new session's loader, EC2's 4.5 MB among them: a test process shares
    one, as the emulator's does (annex_emulator.botocore_data). annex-cdk's own sessions keep
    their loader (annex_cdk.aws.session registers it)."""
    from annex_emulator import botocore_data

    botocore_data.share_one_loader()


@pytest.fixture(autouse=True)
def checkout_left_alone() -> Iterator[None]:
    """No test may write into the checkout: `annex-cdk setup` records its settings in the CDK
    project it runs in, so a CLI run with the checkout as its directory would leave files."""
    before = {p.name for p in ROOT.iterdir()}
    yield
    added = sorted({p.name for p in ROOT.iterdir()} - before - {".pytest_cache"})
    assert added == [], f"tests left files in the checkout: {added}"
