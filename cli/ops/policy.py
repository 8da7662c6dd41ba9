"""`annex-cdk policy`: the least-privilege policy for annex-cdk and condor_annex, filled in.

The policy itself is plain data from annex_stacks.policy (no aws_cdk): this module
fills in the account and region, and, when a setup is deployed where the credentials point,
the names it really has: an adopted condor_annex setup's bucket has a generated name, a key
pair may have been reused, and the lease functions' ARNs are the only lease-rule targets then.
aws/permissions.py simulates the same policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from annex_cdk import console
from annex_cdk.aws.cfn import CloudFormation
from annex_cdk.aws.session import AwsTarget
from annex_cdk.errors import AnnexError, UsageError
from annex_stacks import names
from annex_stacks.policy import attachment_advice, policy_document, runtime_actions, split
from annex_stacks.policy.org_admin import org_admin_document
from annex_stacks.settings import AnnexSettings, SettingsError

#: The stacks whose outputs name what the policy scopes.
_READ_STACKS = (names.BUCKET_STACK, names.KEY_PAIR_STACK, names.LAMBDA_STACK)
_LEASE_OUTPUTS = (names.OUT_ODI_LEASE, names.OUT_SFR_LEASE)


@dataclass(frozen=True)
class Deployed:
    """What a deployed setup names: None where its stack is not there."""

    account: str
    bucket: str | None = None
    key_pair_name: str | None = None
    lease_functions: tuple[str, ...] = field(default_factory=tuple)


def deployed_from_outputs(account: str, outputs: Mapping[str, Mapping[str, str]]) -> Deployed:
    bucket = outputs.get(names.BUCKET_STACK, {}).get(names.OUT_BUCKET)
    key_pair = outputs.get(names.KEY_PAIR_STACK, {}).get(names.OUT_KEY_PAIR_NAME)
    lambdas = outputs.get(names.LAMBDA_STACK, {})
    functions = tuple(sorted(lambdas[k] for k in _LEASE_OUTPUTS if lambdas.get(k)))
    return Deployed(account, bucket or None, key_pair or None, functions)


def read_deployed(target_for: Callable[[], AwsTarget]) -> Deployed | None:
    """The deployed setup's names, or None (with a note) where no account answers: the policy
    is often printed before anything exists, or for an administrator to attach elsewhere."""
    try:
        target = target_for()
        account = target.account_id()
        states = CloudFormation(target, quick=True).engine().read_states(_READ_STACKS)
    except AnnexError as err:
        console.info(f"note: no deployed setup read ({err}); the policy names annex-cdk's defaults")
        return None
    outputs = {name: state.outputs for name, state in states.items() if state.exists}
    return deployed_from_outputs(account, outputs)


def document_for(
    region: str,
    account: str | None,
    *,
    key_name: str | None = None,
    bucket: str | None = None,
    deployed: Deployed | None = None,
    build_image: bool = False,
    runtime: bool = False,
    guardrail: bool = False,
    condor_user: bool = False,
) -> list[dict[str, Any]]:
    """The policy `annex-cdk policy` prints, as managed-policy-sized documents (one, or
    several where one would come too close to IAM's limit); without an account it names any
    account (*). Where each fits goes to stderr.

    Flags win over what the deployed setup names; the deployed setup over the defaults.
    `build_image`: the second policy, which only the optional image stack needs.
    `runtime`: what condor_annex itself calls after setup, for its own identity.
    `guardrail`: the spend guardrail's own policy, which only its optional stack needs.
    `condor_user`: HTCondorAnnex-CondorUser's own (setup --condor-user, credentials --rotate).
    """
    if deployed is not None:
        account = account or deployed.account
        if account == deployed.account:
            key_name = key_name or deployed.key_pair_name
            bucket = bucket or deployed.bucket
        else:  # another account's policy: this one's names say nothing about it
            deployed = None
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
        lease_functions=deployed.lease_functions if deployed else (),
        image_only=build_image,
        actions=runtime_actions() if runtime else None,
        guardrail_only=guardrail,
        condor_user_only=condor_user,
    )
    documents = split(document)
    for line in attachment_advice(documents):
        console.info(line)
    return documents


def org_document(account: str | None) -> dict[str, Any]:
    """`annex-cdk policy --org`: the organization administrator's policy for `annex-cdk org`."""
    if account not in (None, "", "*"):
        try:
            AnnexSettings(account=account)
        except SettingsError as err:
            raise UsageError(f"invalid setting {err}") from None
    return org_admin_document(account=account or "*")
