"""HTCondorAnnex-Image: EC2 Image Builder builds the AMI that condor_annex starts annexes from.

condor_annex falls back to 2019 images of HTCondor 8.8/8.9 when ANNEX_DEFAULT_ODI_IMAGE_ID is
unset, and the access-point path of 24.11+/25.x needs a newer condor-annex-ec2. This optional
stack builds one: the component document in components/ on the newest Amazon Linux 2023
(Image Builder's managed image, resolved when the build runs), and the stack's create waits
for the AMI. Names carry a digest of what the image is built from, so a different series,
architecture or document replaces the component, the recipe and the image, and nothing else.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

from aws_cdk import Aws, CfnOutput, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_imagebuilder as imagebuilder
from constructs import Construct

from annex_stacks import nag, names
from annex_stacks.components.trust import ec2_instance_trust
from annex_stacks.settings import AnnexSettings

_SERIES_PARAMETER = "HTCondorSeries"
# Where the build instance logs (the AWSTOE agent) and what it downloads (AWSTOE itself):
# the paths of AWS's EC2InstanceProfileForImageBuilder policy.
_LOG_GROUPS = (
    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/imagebuilder/*"
)
_TOE_OBJECTS = "arn:${AWS::Partition}:s3:::ec2imagebuilder*"
# What the SSM agent needs so that Image Builder can run the component on the build instance
# (AmazonSSMManagedInstanceCore's actions, without its wildcards on whole services).
_SSM_AGENT_ACTIONS = [
    "ssm:DescribeAssociation",
    "ssm:GetDeployablePatchSnapshotForInstance",
    "ssm:GetDocument",
    "ssm:DescribeDocument",
    "ssm:GetManifest",
    "ssm:ListAssociations",
    "ssm:ListInstanceAssociations",
    "ssm:PutInventory",
    "ssm:PutComplianceItems",
    "ssm:PutConfigurePackageResult",
    "ssm:UpdateAssociationStatus",
    "ssm:UpdateInstanceAssociationStatus",
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
]


def component_document() -> str:
    """The component's AWSTOE document, as versioned in the repository."""
    return (
        resources.files("annex_stacks.components")
        .joinpath(names.IMAGE_COMPONENT_DOCUMENT)
        .read_text(encoding="utf-8")
    )


def image_slug(settings: AnnexSettings) -> str:
    """A name part for the image's series, architecture and document (no dots: Image Builder)."""
    digest = hashlib.sha256(
        "\0".join((component_document(), settings.image_htcondor, settings.image_arch)).encode()
    ).hexdigest()[:8]
    series = settings.image_htcondor.replace(".", "")
    return f"HTCondorAnnex-{series}-{settings.image_arch.replace('_', '-')}-{digest}"


def parent_image(arch: str) -> str:
    """Image Builder's managed Amazon Linux 2023 image; x.x.x resolves to the newest at build."""
    return Fn.sub(
        "arn:${AWS::Partition}:imagebuilder:${AWS::Region}:aws:image/"
        f"{names.AL2023_MANAGED_IMAGE[arch]}/x.x.x"
    )


class ImageStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: AnnexSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        slug = image_slug(settings)
        component = imagebuilder.CfnComponent(
            self,
            names.LID_IMAGE_COMPONENT,
            name=slug,
            platform="Linux",
            version=names.IMAGE_COMPONENT_VERSION,
            supported_os_versions=["Amazon Linux 2023"],
            description="HTCondor and condor-annex-ec2 for condor_annex's instances",
            data=component_document(),
        )
        recipe = imagebuilder.CfnImageRecipe(
            self,
            names.LID_IMAGE_RECIPE,
            name=slug,
            version=settings.image_version,
            parent_image=parent_image(settings.image_arch),
            components=[
                imagebuilder.CfnImageRecipe.ComponentConfigurationProperty(
                    component_arn=component.attr_arn,
                    parameters=[
                        imagebuilder.CfnImageRecipe.ComponentParameterProperty(
                            name=_SERIES_PARAMETER, value=[settings.image_htcondor]
                        )
                    ],
                )
            ],
            description=f"Amazon Linux 2023 with HTCondor {settings.image_htcondor}",
        )
        profile = self._build_instance_profile(component)
        infrastructure = imagebuilder.CfnInfrastructureConfiguration(
            self,
            names.LID_IMAGE_INFRASTRUCTURE,
            name=f"HTCondorAnnex-ImageBuild-{settings.image_arch.replace('_', '-')}",
            instance_profile_name=profile.ref,
            instance_types=[names.IMAGE_BUILD_INSTANCE_TYPE[settings.image_arch]],
            terminate_instance_on_failure=True,
            instance_metadata_options=imagebuilder.CfnInfrastructureConfiguration.InstanceMetadataOptionsProperty(
                http_tokens="required"
            ),
            description="The build instance of HTCondorAnnex-Image (default VPC)",
        )
        distribution = imagebuilder.CfnDistributionConfiguration(
            self,
            names.LID_IMAGE_DISTRIBUTION,
            name=f"{names.IMAGE_STACK}-{Aws.REGION}",
            distributions=[
                imagebuilder.CfnDistributionConfiguration.DistributionProperty(
                    region=Aws.REGION,
                    ami_distribution_configuration={
                        "Name": f"{slug}-{{{{ imagebuilder:buildDate }}}}",
                        "Description": f"condor_annex instance, HTCondor {settings.image_htcondor}",
                        "AmiTags": {
                            names.TAG_SETUP: names.TAG_SETUP_VALUE,
                            names.TAG_IMAGE_STACK: names.IMAGE_STACK,
                            names.TAG_HTCONDOR_SERIES: settings.image_htcondor,
                        },
                    },
                )
            ],
            description="Tags the annex AMI so that destroy and check-setup find it",
        )
        image = imagebuilder.CfnImage(
            self,
            names.LID_IMAGE,
            image_recipe_arn=recipe.attr_arn,
            infrastructure_configuration_arn=infrastructure.attr_arn,
            distribution_configuration_arn=distribution.attr_arn,
            enhanced_image_metadata_enabled=True,
        )
        CfnOutput(self, names.OUT_IMAGE_ID, value=image.attr_image_id)
        CfnOutput(self, names.OUT_IMAGE_HTCONDOR, value=settings.image_htcondor)

    def _build_instance_profile(
        self, component: imagebuilder.CfnComponent
    ) -> iam.CfnInstanceProfile:
        """The build instance's own role: the SSM agent, its component, its logs, AWSTOE."""
        statements = [
            {"Sid": "SsmAgent", "Effect": "Allow", "Action": _SSM_AGENT_ACTIONS, "Resource": "*"},
            {
                "Sid": "ItsComponent",
                "Effect": "Allow",
                "Action": "imagebuilder:GetComponent",
                "Resource": component.attr_arn,
            },
            {
                "Sid": "BuildLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": Fn.sub(_LOG_GROUPS),
            },
            {
                "Sid": "ImageBuilderAgent",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": Fn.sub(_TOE_OBJECTS),
            },
        ]
        role = iam.CfnRole(
            self,
            names.LID_IMAGE_ROLE,
            assume_role_policy_document=ec2_instance_trust(),
            description="HTCondorAnnex-Image build instance: SSM agent and Image Builder only",
            policies=[
                iam.CfnRole.PolicyProperty(
                    policy_name="ImageBuildInstance",
                    policy_document={"Version": "2012-10-17", "Statement": statements},
                )
            ],
        )
        nag.acknowledge(
            role,
            {
                "AwsSolutions-IAM5[Resource::*]": "The SSM agent's calls (instance information, "
                "its messages and channels) name no resource; IAM accepts only * for them.",
                f"AwsSolutions-IAM5[Resource::{nag.finding_resource(_LOG_GROUPS)}]": "The "
                "build's log streams under Image Builder's own log-group prefix.",
                f"AwsSolutions-IAM5[Resource::{nag.finding_resource(_TOE_OBJECTS)}]": "Image "
                "Builder's AWSTOE agent, downloaded from AWS's ec2imagebuilder buckets.",
            },
        )
        return iam.CfnInstanceProfile(self, names.LID_IMAGE_PROFILE, roles=[role.ref], path="/")
