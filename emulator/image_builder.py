"""EC2 Image Builder's CloudFormation types, which moto lacks: enough that HTCondorAnnex-Image
creates, and that its image is a real AMI in moto's EC2 (RunInstances, DescribeImages,
DeregisterImage and DeleteSnapshot work on it).

Components, recipes, infrastructure and distribution configurations are records kept per
account and region, by ARN. An image resolves its recipe's parent image as Image Builder does
(an Image Builder image ARN, `x.x.x` for the newest, or an AMI that exists), then registers the
AMI in the EC2 backend with the distribution's name and AmiTags and the recipe's architecture.
As on AWS, deleting the image resource (DeleteImage) leaves the AMI and its snapshot:
"Deleting an image does not delete the underlying resources" (Image Builder API reference,
DeleteImage).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from moto.core.common_models import CloudFormationModel
from moto.ec2.models import ec2_backends

from annex_emulator.own_resource import OwnResource
from annex_emulator.resource_properties import (
    EmulatorResourceError,
    previous_properties,
    stash_properties,
)

#: Where an account and region's Image Builder records live: an attribute of moto's EC2 backend
#: for them, so that the emulator's reset (moto's POST /moto-api/reset re-creates every backend)
#: forgets them with everything else; a module-level dict outlived it, and a session's next
#: test met "already exists" for the previous test's distribution configuration.
_RECORDS_ATTRIBUTE = "annex_image_builder_records"


def records(account_id: str, region_name: str) -> dict[str, ImageBuilderResource]:
    """The account and region's Image Builder records, by ARN (what GetAtt Arn resolves)."""
    backend = ec2_backends[account_id][region_name]
    found: dict[str, ImageBuilderResource] | None = getattr(backend, _RECORDS_ATTRIBUTE, None)
    if found is None:
        found = {}
        setattr(backend, _RECORDS_ATTRIBUTE, found)
    return found


# An Image Builder managed image: arn:<partition>:imagebuilder:<region>:aws:image/<name>/<version>.
_MANAGED_IMAGE = re.compile(r"^arn:[\w-]+:imagebuilder:[\w-]+:aws:image/([a-z0-9-]+)/(x|\d+)\.")
_ARCH_OF_MANAGED_IMAGE = {"amazon-linux-2023-x86": "x86_64", "amazon-linux-2023-arm64": "arm64"}


def _map_tags(properties: dict[str, Any]) -> dict[str, str]:
    # Image Builder's Tags are a map, not CloudFormation's usual list of Key/Value.
    return {str(k): str(v) for k, v in (properties.get("Tags") or {}).items()}


class ImageBuilderResource(OwnResource, CloudFormationModel):
    """A named, versioned Image Builder record; Ref and GetAtt Arn answer its ARN."""

    NAME_PROPERTY = "Name"
    PHYSICAL_ID = "arn"
    GET_ATT: ClassVar[dict[str, str]] = {"Arn": "arn", "Name": "name"}
    #: The ARN's resource type ("component", "image-recipe", ...).
    KIND: ClassVar[str] = ""
    #: Properties whose change replaces the record (the others update in place).
    REPLACED_BY: ClassVar[frozenset[str]] = frozenset()
    #: Properties the record requires.
    REQUIRED: ClassVar[tuple[str, ...]] = ("Name",)

    def __init__(self, arn: str, name: str, properties: dict[str, Any]) -> None:
        self.arn = arn
        self.name = name
        self.properties = properties

    @classmethod
    def arn_for(cls, account_id: str, region_name: str, properties: dict[str, Any]) -> str:
        name = str(properties["Name"]).lower().replace(" ", "-")
        version = f"/{properties['Version']}" if "Version" in properties else ""
        build = "/1" if cls.KIND == "component" else ""
        return f"arn:aws:imagebuilder:{region_name}:{account_id}:{cls.KIND}/{name}{version}{build}"

    @classmethod
    def check(cls, properties: dict[str, Any], account_id: str, region_name: str) -> None:
        """Refuse what Image Builder refuses (override for more)."""

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ImageBuilderResource:
        properties = dict(cloudformation_json.get("Properties") or {})
        if missing := [p for p in cls.REQUIRED if properties.get(p) in (None, "", [])]:
            raise EmulatorResourceError(
                "InvalidParameterValueException",
                f"{cls.TYPE}: missing required properties {', '.join(missing)}",
            )
        cls.check(properties, account_id, region_name)
        arn = cls.arn_for(account_id, region_name, properties)
        if arn in records(account_id, region_name):
            raise EmulatorResourceError(
                "ResourceAlreadyExistsException", f"The resource {arn} already exists."
            )
        record = cls.build(arn, properties, account_id, region_name)
        records(account_id, region_name)[arn] = record
        stash_properties(record, properties)
        return record

    @classmethod
    def build(
        cls, arn: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> ImageBuilderResource:
        return cls(arn, str(properties.get("Name", "")), properties)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: ImageBuilderResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> ImageBuilderResource:
        properties = dict(cloudformation_json.get("Properties") or {})
        before = previous_properties(original_resource)
        if any(properties.get(p) != before.get(p) for p in cls.REPLACED_BY):
            # The engine deletes the old record once the update succeeded; a replacement under
            # the same name and version clashes, as on AWS (ResourceAlreadyExistsException).
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        original_resource.properties = properties
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
        return None  # only the record itself knows its ARN: delete() below

    def delete(self, account_id: str, region_name: str) -> None:
        records(account_id, region_name).pop(self.arn, None)


class ComponentResource(ImageBuilderResource):
    TYPE = "AWS::ImageBuilder::Component"
    KIND = "component"
    REQUIRED = ("Name", "Version", "Platform")
    # Components are immutable: any change is a new component.
    REPLACED_BY = frozenset(
        {"Name", "Version", "Platform", "Data", "Uri", "SupportedOsVersions", "Description"}
    )

    @classmethod
    def check(cls, properties: dict[str, Any], account_id: str, region_name: str) -> None:
        if bool(properties.get("Data")) == bool(properties.get("Uri")):
            raise EmulatorResourceError(
                "InvalidParameterCombinationException", "Specify exactly one of Data and Uri."
            )


class ImageRecipeResource(ImageBuilderResource):
    TYPE = "AWS::ImageBuilder::ImageRecipe"
    KIND = "image-recipe"
    REQUIRED = ("Name", "Version", "ParentImage", "Components")
    REPLACED_BY = frozenset(
        {"Name", "Version", "ParentImage", "Components", "BlockDeviceMappings", "Description"}
    )

    @classmethod
    def check(cls, properties: dict[str, Any], account_id: str, region_name: str) -> None:
        for component in properties["Components"]:
            if component.get("ComponentArn") not in records(account_id, region_name):
                raise EmulatorResourceError(
                    "InvalidParameterValueException",
                    f"The component {component.get('ComponentArn')} does not exist.",
                )


class InfrastructureConfigurationResource(ImageBuilderResource):
    TYPE = "AWS::ImageBuilder::InfrastructureConfiguration"
    KIND = "infrastructure-configuration"
    REQUIRED = ("Name", "InstanceProfileName")
    REPLACED_BY = frozenset({"Name"})


class DistributionConfigurationResource(ImageBuilderResource):
    TYPE = "AWS::ImageBuilder::DistributionConfiguration"
    KIND = "distribution-configuration"
    REQUIRED = ("Name", "Distributions")
    REPLACED_BY = frozenset({"Name"})


def _parent_architecture(parent: str, account_id: str, region_name: str) -> str:
    """The parent image's architecture, or the error Image Builder gives for a missing one."""
    if match := _MANAGED_IMAGE.match(parent):
        if match.group(1) in _ARCH_OF_MANAGED_IMAGE:
            return _ARCH_OF_MANAGED_IMAGE[match.group(1)]
    elif parent.startswith("ami-"):
        amis = ec2_backends[account_id][region_name].amis
        if parent in amis:
            return str(amis[parent].architecture or "x86_64")
    raise EmulatorResourceError(
        "InvalidParameterValueException",
        f"The annex-cdk emulator knows no parent image {parent}",
    )


class ImageResource(ImageBuilderResource):
    """AWS::ImageBuilder::Image: the build, finished at once, leaves a registered AMI."""

    TYPE = "AWS::ImageBuilder::Image"
    KIND = "image"
    NAME_PROPERTY = ""
    GET_ATT: ClassVar[dict[str, str]] = {"Arn": "arn", "Name": "name", "ImageId": "image_id"}
    REQUIRED = ("InfrastructureConfigurationArn", "ImageRecipeArn")
    # Every property of an image is create-only: a change builds a new image.
    REPLACED_BY = frozenset(
        {
            "ImageRecipeArn",
            "InfrastructureConfigurationArn",
            "DistributionConfigurationArn",
            "EnhancedImageMetadataEnabled",
            "ImageTestsConfiguration",
        }
    )
    _builds: ClassVar[int] = 0

    def __init__(self, arn: str, name: str, properties: dict[str, Any], image_id: str) -> None:
        super().__init__(arn, name, properties)
        self.image_id = image_id

    @classmethod
    def arn_for(cls, account_id: str, region_name: str, properties: dict[str, Any]) -> str:
        recipe = records(account_id, region_name).get(str(properties.get("ImageRecipeArn")))
        if not isinstance(recipe, ImageRecipeResource):
            raise EmulatorResourceError(
                "InvalidParameterValueException",
                f"The image recipe {properties.get('ImageRecipeArn')} does not exist.",
            )
        cls._builds += 1  # each build of a recipe version gets its own build number
        version = recipe.properties["Version"]
        return (
            f"arn:aws:imagebuilder:{region_name}:{account_id}:image/"
            f"{recipe.name.lower()}/{version}/{cls._builds}"
        )

    @classmethod
    def build(
        cls, arn: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> ImageBuilderResource:
        recipe = records(account_id, region_name)[str(properties["ImageRecipeArn"])]
        for key in ("InfrastructureConfigurationArn", "DistributionConfigurationArn"):
            if key in properties and properties[key] not in records(account_id, region_name):
                raise EmulatorResourceError(
                    "InvalidParameterValueException", f"{properties[key]} does not exist."
                )
        architecture = _parent_architecture(
            str(recipe.properties["ParentImage"]), account_id, region_name
        )
        when = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
        name, description, tags = f"{recipe.name} {when}", "", {}
        distribution = records(account_id, region_name).get(
            str(properties.get("DistributionConfigurationArn"))
        )
        for target in distribution.properties["Distributions"] if distribution else ():
            if target.get("Region") == region_name:
                ami = target.get("AmiDistributionConfiguration") or {}
                name = str(ami.get("Name", name)).replace("{{ imagebuilder:buildDate }}", when)
                description = str(ami.get("Description", ""))
                tags = {str(k): str(v) for k, v in (ami.get("AmiTags") or {}).items()}
        ec2 = ec2_backends[account_id][region_name]
        ami = ec2.register_image(name=name, description=description)
        ami.architecture = architecture
        ami.root_device_type = "ebs"
        ami.root_device_name = "/dev/xvda"
        # Image Builder's own tags on every AMI it distributes, then the distribution's.
        ec2.create_tags([ami.id], {"CreatedBy": "EC2 Image Builder", "Ec2ImageBuilderArn": arn})
        if tags:
            ec2.create_tags([ami.id], tags)
        return cls(arn, recipe.name, properties, ami.id)
