"""HTCondorAnnex-KeyPair: the SSH key pair for annex instances; AWS keeps its key in SSM."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from annex_stacks import names
from annex_stacks.settings import AnnexSettings


class KeyPairStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: AnnexSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # RSA in PEM, as condor_annex's CreateKeyPair got by default. Changing the name, type,
        # format or tags of a key pair replaces it (a new private key), so none of them follow
        # user settings other than the name.
        key = ec2.CfnKeyPair(
            self,
            names.LID_KEY_PAIR,
            key_name=settings.key_pair_name,
            key_type="rsa",
            key_format="pem",
        )
        CfnOutput(self, names.OUT_KEY_PAIR_NAME, value=key.ref)
        CfnOutput(self, names.OUT_KEY_PAIR_ID, value=key.attr_key_pair_id)
        CfnOutput(
            self,
            names.OUT_KEY_PAIR_PARAMETER,
            value=Fn.join("", [names.KEY_PAIR_SSM_PREFIX, key.attr_key_pair_id]),
        )
