"""`annex-cdk credentials` from an AWS profile: the SDK's key, checked for condor_annex's key files."""

from __future__ import annotations

from pathlib import Path

from annex_cdk.aws.session import long_term_key
from annex_cdk.condor.key_files import KeyPair, Secret, validate_pair
from annex_stacks import names


def from_profile(profile: str | None) -> KeyPair:
    """The current AWS identity's long-term key (the AWS SDK's chain: environment, profile, SSO, ...)."""
    access_key_id, secret, where = long_term_key(profile)
    return validate_pair(access_key_id, Secret(secret), source=where)


def condor_annex_credentials_fix(condor_dir: Path) -> str:
    """What to run when condor_annex has no credentials it can read (it reads only key files
    or FROM INSTANCE, never a profile, SSO or the environment)."""
    public, private = condor_dir / names.PUBLIC_KEY_FILE, condor_dir / names.PRIVATE_KEY_FILE
    return (
        f"annex-cdk credentials && annex-cdk setup --access-key-file {public} "
        f"--secret-key-file {private}   (on an EC2 submit host with an instance profile "
        "instead: annex-cdk setup --from-instance)"
    )
