"""The resource types the emulator teaches moto, and the class it uses for each."""

from __future__ import annotations

from moto.core.common_models import CloudFormationModel

from annex_emulator.budget import BudgetResource
from annex_emulator.iam import (
    InstanceProfileResource,
    ManagedPolicyResource,
    RoleResource,
    UserResource,
)
from annex_emulator.image_builder import (
    ComponentResource,
    DistributionConfigurationResource,
    ImageRecipeResource,
    ImageResource,
    InfrastructureConfigurationResource,
)
from annex_emulator.key_pair import KeyPairResource
from annex_emulator.lambda_function import LambdaFunctionResource, LambdaPermissionResource
from annex_emulator.log_group import LogGroupResource
from annex_emulator.oidc_provider import OidcProviderResource
from annex_emulator.s3_bucket import BucketPolicyResource, BucketResource
from annex_emulator.schedules import ScheduleResource
from annex_emulator.security_groups import (
    SecurityGroupEgressResource,
    SecurityGroupIngressResource,
    SecurityGroupResource,
)

#: Resource type -> the class the emulator uses for it (wins over moto's own lookup).
MODELS: dict[str, type[CloudFormationModel]] = {
    "AWS::EC2::KeyPair": KeyPairResource,
    "AWS::EC2::SecurityGroup": SecurityGroupResource,
    "AWS::EC2::SecurityGroupIngress": SecurityGroupIngressResource,
    "AWS::EC2::SecurityGroupEgress": SecurityGroupEgressResource,
    "AWS::S3::Bucket": BucketResource,
    "AWS::S3::BucketPolicy": BucketPolicyResource,
    "AWS::IAM::Role": RoleResource,
    "AWS::IAM::InstanceProfile": InstanceProfileResource,
    "AWS::IAM::ManagedPolicy": ManagedPolicyResource,
    "AWS::IAM::User": UserResource,
    "AWS::IAM::OIDCProvider": OidcProviderResource,
    "AWS::Lambda::Function": LambdaFunctionResource,
    "AWS::Lambda::Permission": LambdaPermissionResource,
    "AWS::Logs::LogGroup": LogGroupResource,
    "AWS::ImageBuilder::Component": ComponentResource,
    "AWS::ImageBuilder::ImageRecipe": ImageRecipeResource,
    "AWS::ImageBuilder::InfrastructureConfiguration": InfrastructureConfigurationResource,
    "AWS::ImageBuilder::DistributionConfiguration": DistributionConfigurationResource,
    "AWS::ImageBuilder::Image": ImageResource,
    "AWS::Scheduler::Schedule": ScheduleResource,
    "AWS::Budgets::Budget": BudgetResource,
}

#: Real resource types without observable effect that the emulator skips (moto: a warning).
SKIPPED_TYPES = frozenset({"AWS::CDK::Metadata"})
