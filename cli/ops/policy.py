"""`annex-cdk policy`: the least-privilege policy for annex-cdk and condor_annex, filled in.

The policy itself is plain data from annex_stacks.submit_host_policy (no aws_cdk): this module
fills in the account and region and checks the flags; aws/permissions.py simulates it.
"""

from __future__ import annotations

from typing import Any

from annex_cdk import console
from annex_cdk.errors import UsageError
from annex_stacks import names
from annex_stacks.settings import AnnexSettings, SettingsError
from annex_stacks.submit_host_policy import MANAGED_POLICY_LIMIT, policy_document, size


def document_for(
    region: str, account: str | None, *, key_name: str | None = None, bucket: str | None = None
) -> dict[str, Any]:
    """The policy `annex-cdk policy` prints; without an account it names any account (*)."""
    any_account = account in (None, "", "*")
    try:
        settings = AnnexSettings(
            region=region,
            account=None if any_account else account,
            key_pair_name=key_name or names.KEY_PAIR_NAME,
            bucket_name=bucket,
        )
    except SettingsError as err:
        raise UsageError(f"invalid setting {err}") from None
    document = policy_document(
        region=region,
        account=settings.account or "*",
        bucket=settings.bucket_name,
        key_pair_name=settings.key_pair_name,
    )
    if size(document) > MANAGED_POLICY_LIMIT:  # only with extreme names: still usable inline
        console.warn(
            f"the policy has {size(document)} characters, more than a managed policy's "
            f"{MANAGED_POLICY_LIMIT}; attach it as an inline policy (limit 10,240) instead"
        )
    return document
