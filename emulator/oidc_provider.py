"""AWS::IAM::OIDCProvider (HTCondorAnnex-CiRoles), which moto's CloudFormation lacks."""

from __future__ import annotations

from typing import Any, ClassVar

from moto.core.common_models import CloudFormationModel
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

from annex_emulator.own_resource import OwnResource
from annex_emulator.resource_properties import stash_properties, template_tags
from annex_emulator.stack_operation import stack_tags


def iam_backend(account_id: str, region_name: str) -> Any:
    return iam_backends[account_id][get_partition(region_name)]


class OidcProviderResource(OwnResource, CloudFormationModel):
    """The provider lives in moto's IAM backend, as `aws iam create-open-id-connect-provider`
    makes it. Ref and GetAtt Arn are its ARN; a new Url replaces it (IAM names it by the URL),
    client ids, thumbprints and tags change in place."""

    TYPE = "AWS::IAM::OIDCProvider"
    PHYSICAL_ID = "arn"
    GET_ATT: ClassVar[dict[str, str]] = {"Arn": "arn"}

    def __init__(self, *, account_id: str, region_name: str, arn: str, url: str) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.arn = arn
        self.url = url

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> OidcProviderResource:
        properties = cloudformation_json.get("Properties") or {}
        tags = {**stack_tags(), **template_tags(properties)}
        # Fails with EntityAlreadyExists when the account has one for this URL, as IAM does.
        provider = iam_backend(account_id, region_name).create_open_id_connect_provider(
            url=properties["Url"],
            thumbprint_list=list(properties.get("ThumbprintList") or []),
            client_id_list=list(properties.get("ClientIdList") or []),
            tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        resource = cls(
            account_id=account_id, region_name=region_name, arn=provider.arn, url=properties["Url"]
        )
        stash_properties(resource, properties)
        return resource

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: OidcProviderResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> OidcProviderResource:
        properties = cloudformation_json.get("Properties") or {}
        if properties.get("Url") != original_resource.url:
            # The engine deletes the old provider once the update succeeded.
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        provider = iam_backend(account_id, region_name).get_open_id_connect_provider(
            original_resource.arn
        )
        provider.client_id_list = list(properties.get("ClientIdList") or [])
        provider.thumbprint_list = list(properties.get("ThumbprintList") or [])
        tags = {**stack_tags(), **template_tags(properties)}
        provider.tags = {k: {"Key": k, "Value": v} for k, v in tags.items()}
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
        return None  # delete() below knows the ARN; a name alone names no provider

    def delete(self, account_id: str, region_name: str) -> None:
        iam_backend(account_id, region_name).delete_open_id_connect_provider(self.arn)
