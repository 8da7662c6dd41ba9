"""`annex-cdk credentials` from an AWS profile: boto3's key, checked for condor_annex's key files."""

from __future__ import annotations

from annex_cdk.aws.session import long_term_key
from annex_cdk.condor.key_files import KeyPair, Secret, validate_pair


def from_profile(profile: str | None) -> KeyPair:
    """The current AWS identity's long-term key (boto3's chain: environment, profile, SSO, ...)."""
    access_key_id, secret, where = long_term_key(profile)
    return validate_pair(access_key_id, Secret(secret), source=where)
