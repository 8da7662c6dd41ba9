"""AWS::EC2::KeyPair, which moto lacks: the key in EC2, its private key in SSM."""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from moto.core.common_models import CloudFormationModel
from moto.ec2.models import ec2_backends
from moto.ssm.models import ssm_backends

from annex_emulator.own_resource import OwnResource
from annex_emulator.resource_properties import (
    EmulatorResourceError,
    previous_properties,
    refuse_custom_named_replacement,
    stash_properties,
    template_tags,
)
from annex_emulator.stack_operation import stack_tags
from annex_stacks.names import KEY_PAIR_SSM_PREFIX


class KeyPairResource(OwnResource, CloudFormationModel):
    """AWS::EC2::KeyPair: the key lives in the EC2 backend, its private key in SSM, as on AWS.

    EC2 stores the private key of a key pair created through CloudFormation as the SecureString
    parameter /ec2/keypair/<KeyPairId> in the same account and region (none for an imported
    PublicKeyMaterial). Ref is the key name; GetAtt offers KeyPairId and KeyFingerprint.
    """

    TYPE = "AWS::EC2::KeyPair"
    NAME_PROPERTY = "KeyName"
    PHYSICAL_ID = "key_name"
    GET_ATT: ClassVar[dict[str, str]] = {
        "KeyPairId": "key_pair_id",
        "KeyFingerprint": "key_fingerprint",
    }

    def __init__(
        self,
        *,
        account_id: str,
        region_name: str,
        key_name: str,
        key_pair_id: str,
        fingerprint: str,
        identity: tuple[str, str, str, str | None],
        parameter_name: str | None,
    ) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.key_name = key_name
        self.key_pair_id = key_pair_id
        self.key_fingerprint = fingerprint
        # (KeyName, KeyType, KeyFormat, PublicKeyMaterial): changing any of them replaces the key.
        self.identity = identity
        self.parameter_name = parameter_name

    @staticmethod
    def _identity(
        resource_name: str, properties: dict[str, Any]
    ) -> tuple[str, str, str, str | None]:
        return (
            properties.get("KeyName") or resource_name,
            properties.get("KeyType") or "rsa",
            properties.get("KeyFormat") or "pem",
            properties.get("PublicKeyMaterial"),
        )

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> KeyPairResource:
        properties = cloudformation_json.get("Properties") or {}
        identity = cls._identity(resource_name, properties)
        key_name, key_type, key_format, public_key = identity
        if key_type not in ("rsa", "ed25519"):
            raise EmulatorResourceError(
                "InvalidParameterValue", f"Invalid KeyType {key_type!r}: use rsa or ed25519."
            )
        if key_format != "pem":
            # moto only generates PEM/OpenSSH material; better to fail than to hand out a
            # private key in a format the template did not ask for.
            raise EmulatorResourceError(
                "InvalidParameterValue", f"The annex-cdk emulator cannot create {key_format} keys."
            )
        ec2 = ec2_backends[account_id][region_name]
        # Fails with InvalidKeyPair.Duplicate when the name is taken, as EC2 does.
        if public_key:
            key = ec2.import_key_pair(key_name, public_key.encode(), tags={})
        else:
            key = ec2.create_key_pair(key_name, key_type, tags={})
        parameter_name = None
        try:
            ec2.create_tags([key.id], {**stack_tags(), **template_tags(properties)})
            if key.material:
                parameter_name = f"{KEY_PAIR_SSM_PREFIX}{key.id}"
                ssm_backends[account_id][region_name].put_parameter(
                    name=parameter_name,
                    description=None,
                    value=key.key_material,
                    parameter_type="SecureString",
                    allowed_pattern=None,
                    keyid=None,  # EC2 uses the aws/ssm key; there is no choice
                    overwrite=False,
                    tags=[],
                    data_type="text",
                    tier=None,
                    policies=None,
                )
        except Exception:
            # Undo our own half-made key, never anything else.
            ec2.delete_key_pair(key_name)
            ec2.tags.pop(key.id, None)
            raise
        resource = cls(
            account_id=account_id,
            region_name=region_name,
            key_name=key_name,
            key_pair_id=key.id,
            fingerprint=key.key_fingerprint,
            identity=identity,
            parameter_name=parameter_name,
        )
        stash_properties(resource, properties)
        return resource

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: KeyPairResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> KeyPairResource:
        properties = cloudformation_json.get("Properties") or {}
        identity = cls._identity(new_resource_name, properties)
        if identity != original_resource.identity:
            # KeyName is required, so a replacement that keeps the name is refused as on AWS.
            refuse_custom_named_replacement(
                "KeyName", properties, previous_properties(original_resource)
            )
            # The engine deletes the old key (and its parameter) once the update succeeded.
            return cls.create_from_cloudformation_json(
                identity[0], cloudformation_json, account_id, region_name
            )
        ec2 = ec2_backends[account_id][region_name]
        wanted = template_tags(properties)
        stale = set(template_tags(previous_properties(original_resource))) - set(wanted)
        if stale:
            ec2.delete_tags([original_resource.key_pair_id], dict.fromkeys(stale))
        if wanted:
            ec2.create_tags([original_resource.key_pair_id], wanted)
        stash_properties(original_resource, properties)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        # Only reached if delete() below cannot run. Knowing just the name, we cannot tell our
        # key from a same-named key the stack never created, so we delete nothing.
        return None

    def delete(self, account_id: str, region_name: str) -> None:
        ec2 = ec2_backends[account_id][region_name]
        current = ec2.key_pairs.get(self.key_name)
        # Delete by identity, not by name: a rollback must never take a key pair that exists
        # under the same name but was not created by this resource.
        if current is not None and current.id == self.key_pair_id:
            ec2.delete_key_pair(self.key_name)
            ec2.tags.pop(self.key_pair_id, None)
        if self.parameter_name:
            ssm = ssm_backends[account_id][region_name]
            with contextlib.suppress(Exception):
                ssm.delete_parameter(self.parameter_name)
