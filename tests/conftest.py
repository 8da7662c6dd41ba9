"""Shared test set-up: quiet jsii on Node 20, and dummy AWS credentials so nothing real is hit."""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")
# CI=true switches setup, diff and check-setup to the AWS-side-only mode (--no-local); the
# suite tests the local mode unless a test asks for the other explicitly.
os.environ.pop("CI", None)
os.environ.pop("ANNEX_CDK_NO_LOCAL", None)
