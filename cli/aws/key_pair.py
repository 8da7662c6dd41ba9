"""The key pair's private key, which AWS keeps in SSM for a CloudFormation-made key pair."""

from __future__ import annotations

from collections.abc import Mapping

from annex_cdk import console
from annex_cdk.aws.session import AwsTarget
from annex_cdk.aws.ssm import Ssm
from annex_stacks import names


def private_key(target: AwsTarget, outputs: Mapping[str, str], *, warn: bool = True) -> str | None:
    """The PEM text named by the key-pair stack's outputs; None when there is none (a reused
    key pair) or its parameter was deleted by hand (then the config can still be written, and
    an existing PEM is kept)."""
    parameter = outputs.get(names.OUT_KEY_PAIR_PARAMETER)
    if not parameter:
        return None
    secret = Ssm(target).secret(parameter)
    if secret is None and warn:
        console.warn(
            f"the key pair's private key parameter {parameter} is gone, so no PEM is "
            "written; `annex-cdk setup --yes` re-creates the key pair"
        )
    return secret
