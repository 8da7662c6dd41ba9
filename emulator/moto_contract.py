"""What the emulator relies on in moto, checked before it teaches moto anything.

The emulator patches moto's callables and reads its objects' private attributes, so a moto
upgrade that renames a parameter or an attribute would not fail: the emulator would misbehave.
`check()` compares moto with this contract first and fails with one line that names the first
difference, e.g. ``emulator: moto 5.3.0 changed moto.cloudformation.parsing.ResourceMap.update
(expected parameters (self, template, parameters), found (self, template)); annex-cdk's emulator
supports moto 5.2.5``.

The tables: `PATCHED` (every moto callable `annex_emulator.teach` replaces), `CALLED` (the moto
callables the emulator calls, most with keywords), `PRESENT` (other names it imports), and
`ATTRIBUTES` (the attributes it reads or sets on moto's objects). Instance attributes are
checked at start-up as far as reading moto's code shows them (a class that never mentions the
name fails); tests/unit/test_emulator.py checks them on real objects too (`missing_attributes`).
"""

from __future__ import annotations

import importlib
import inspect
import types
from typing import Any, Final

from annex_emulator import patches

#: The moto release the emulator was written and tested against (pyproject pins >=5.2.5,<5.3).
SUPPORTED_MOTO: Final = "5.2.5"

#: (module, attribute path, parameter names): every moto callable `teach` replaces.
#: A property is checked through its getter.
PATCHED: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("moto.cloudformation.parsing", "get_model_map", ()),
    (
        "moto.cloudformation.parsing",
        "parse_and_create_resource",
        ("logical_id", "resource_json", "resources_map", "account_id", "region_name"),
    ),
    (
        "moto.cloudformation.parsing",
        "ResourceMap._delete_resource",
        ("self", "parsed_resource", "resource_json"),
    ),
    ("moto.cloudformation.parsing", "ResourceMap.update", ("self", "template", "parameters")),
    ("moto.cloudformation.models", "Stack._create_resource_map", ("self",)),
    (
        "moto.cloudformation.models",
        "Stack._add_stack_event",
        ("self", "resource_status", "resource_status_reason", "resource_properties"),
    ),
    (
        "moto.cloudformation.models",
        "Stack.update",
        ("self", "template", "role_arn", "parameters", "tags"),
    ),
    ("moto.cloudformation.models", "Stack.outputs", ("self",)),
    ("moto.cloudformation.models", "Stack.stack_resources", ("self",)),
    (
        "moto.cloudformation.models",
        "CloudFormationBackend.create_stack",
        (
            "self",
            "name",
            "template",
            "parameters",
            "notification_arns",
            "tags",
            "role_arn",
            "enable_termination_protection",
            "timeout_in_mins",
            "stack_policy_body",
        ),
    ),
    (
        "moto.cloudformation.models",
        "CloudFormationBackend.delete_stack",
        ("self", "name_or_stack_id"),
    ),
    (
        "moto.cloudformation.models",
        "CloudFormationBackend.execute_change_set",
        ("self", "change_set_name", "stack_name"),
    ),
    ("moto.cloudformation.responses", "CloudFormationResponse.create_stack", ("self",)),
    ("moto.cloudformation.responses", "CloudFormationResponse.create_change_set", ("self",)),
    (
        "moto.cloudformation.models",
        "CloudFormationBackend.describe_change_set",
        ("self", "change_set_name"),
    ),
    (
        "moto.cloudformation.models",
        "CloudFormationBackend.delete_change_set",
        ("self", "change_set_name"),
    ),
    ("moto.cloudformation.responses", "CloudFormationResponse.describe_change_set", ("self",)),
    ("moto.cloudformation.responses", "CloudFormationResponse.delete_change_set", ("self",)),
    ("moto.cloudformation.responses", "CloudFormationResponse.execute_change_set", ("self",)),
    ("moto.s3.models", "FakeBucket.get_permission", ("self", "action", "resource")),
    ("moto.awslambda.models", "LambdaBackend.create_function", ("self", "spec")),
    ("moto.awslambda.models", "LambdaFunction.update_configuration", ("self", "config_updates")),
    ("moto.awslambda.models", "LambdaFunction.get_configuration", ("self", "on_create")),
    ("moto.awslambda.models", "LambdaFunction._invoke_lambda", ("self", "event")),
    ("moto.ec2.utils", "passes_filter_dict", ("instance", "filter_dict")),
    ("moto.ec2.models.instances", "utcnow", ()),
    ("moto.cloudformation.models", "Stack.parse_template", ("template",)),
    ("moto.cloudformation.models", "ChangeSet._parse_template", ("self",)),
    ("moto.ec2.models", "EC2Backend.delete_security_group", ("self", "name", "group_id")),
    ("moto.ec2.models", "EC2Backend.__init__", ("self", "region_name", "account_id")),
    ("moto.ec2.models", "EC2Backend.create_default_vpc", ("self",)),
    ("moto.ec2.models", "EC2Backend._load_amis", ("self",)),
    ("moto.backends", "list_of_moto_modules", ()),
    ("moto.iam.models", "IAMBackend.__init__", ("self", "region_name", "account_id")),
    (
        "moto.ec2.models",
        "EC2Backend.create_security_group",
        ("self", "name", "description", "vpc_id", "tags", "force", "is_default"),
    ),
    ("moto.ec2.models", "EC2Backend.get_default_security_group", ("self", "vpc_id")),
    (
        "moto.ec2.models",
        "EC2Backend.run_instances",
        ("self", "image_id", "count", "user_data", "security_group_names", "kwargs"),
    ),
    (
        "moto.ec2.models",
        "EC2Backend.modify_instance_metadata_options",
        (
            "self",
            "instance_id",
            "http_tokens",
            "hop_limit",
            "http_endpoint",
            "dry_run",
            "http_protocol",
            "metadata_tags",
        ),
    ),
    ("moto.ec2.responses", "EC2Response.register_image", ("self",)),
    ("moto.ec2.responses", "EC2Response.modify_image_attribute", ("self",)),
    ("moto.ec2.responses.spot_fleets", "SpotFleets.request_spot_fleet", ("self",)),
    (
        "moto.ec2.models.spot_requests",
        "SpotFleetRequest.spot_fleet_request_config",
        ("self",),
    ),
    ("moto.iam.access_control", "IAMRequestBase.check_action_permitted", ("self", "resource")),
    ("moto.iam.access_control", "IAMRequestBase.check_signature", ("self",)),
    # annex_emulator.stack_set_api and .organization
    *(
        ("moto.cloudformation.responses", f"CloudFormationResponse.{handler}", ("self",))
        for handler in (
            "create_stack_set",
            "update_stack_set",
            "delete_stack_set",
            "describe_stack_set",
            "list_stack_sets",
            "create_stack_instances",
            "update_stack_instances",
            "delete_stack_instances",
            "describe_stack_instance",
            "list_stack_instances",
            "describe_stack_set_operation",
            "list_stack_set_operations",
            "list_stack_set_operation_results",
            "stop_stack_set_operation",
        )
    ),
    ("moto.organizations.models", "OrganizationsBackend.create_account", ("self", "kwargs")),
    ("moto.organizations.models", "OrganizationsBackend.move_account", ("self", "kwargs")),
    (
        "moto.organizations.models",
        "FakeDelegatedAdministrator.supported_service",
        ("service_principal",),
    ),
    ("moto.sts.responses", "TokenResponse.assume_role", ("self",)),
    ("moto.organizations.responses", "OrganizationsResponse.organizations_backend", ("self",)),
    (
        "moto.iam.access_control",
        "create_access_key",
        ("account_id", "partition", "access_key_id", "headers"),
    ),
    ("moto.ec2.responses", "EC2Response.deregister_image", ("self",)),
    # intrinsics.py (Fn::If to AWS::NoValue in a list) and generated_names.py (length limits).
    ("moto.cloudformation.parsing", "clean_json", ("resource_json", "resources_map")),
    (
        "moto.cloudformation.parsing",
        "generate_resource_name",
        ("resource_type", "stack_name", "logical_id"),
    ),
)

#: (module, class, attribute): what the emulator adds to moto because moto lacks it; a moto
#: that gains one must be read before the emulator shadows it.
ABSENT: Final[tuple[tuple[str, str, str], ...]] = (
    *(
        ("moto.cloudformation.responses", "CloudFormationResponse", action)
        for action in (
            "detect_stack_set_drift",
            "activate_organizations_access",
            "deactivate_organizations_access",
            "describe_organizations_access",
            "continue_update_rollback",
        )
    ),
    ("moto.iam.responses", "IamResponse", "simulate_principal_policy"),
    # annex_emulator.ami_catalog: properties over the instance attributes moto sets.
    ("moto.ec2.models", "EC2Backend", "amis"),
    ("moto.ec2.models", "EC2Backend", "snapshots"),
)

_CFN_CREATE = ("cls", "resource_name", "cloudformation_json", "account_id", "region_name", "kwargs")
_CFN_UPDATE = (
    "cls",
    "original_resource",
    "new_resource_name",
    "cloudformation_json",
    "account_id",
    "region_name",
)
_CFN_DELETE = ("cls", "resource_name", "cloudformation_json", "account_id", "region_name")
_RULE_CHANGE = ("group_name_or_id", "ip_protocol", "from_port", "to_port", "ip_ranges")
_RULE_REVOKE = (
    "self",
    *_RULE_CHANGE,
    "source_groups",
    "prefix_list_ids",
    "security_rule_ids",
    "vpc_id",
)
_RULE_AUTHORIZE = (
    "self",
    *_RULE_CHANGE,
    "sgrule_tags",
    "source_groups",
    "prefix_list_ids",
    "security_rule_ids",
    "vpc_id",
)

#: (module, attribute path, parameter names): the moto callables the emulator calls, and the
#: CloudFormationModel hooks its resource classes override (moto calls those).
CALLED: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    # annex_emulator.iam_enforcement, iam_principals, iam_requests, stack_authorization
    ("moto.ec2.models", "EC2Backend.delete_snapshot", ("self", "snapshot_id")),
    ("moto.ec2.models", "EC2Backend.get_default_vpc", ("self",)),
    ("moto.ec2.models", "EC2Backend.describe_subnets", ("self", "subnet_ids", "filters")),
    ("moto.ec2.models", "EC2Backend.get_security_group_from_name", ("self", "name", "vpc_id")),
    ("moto.ssm.models", "SimpleSystemManagerBackend.get_parameter", ("self", "name")),
    ("moto.kms.models", "KmsBackend.get_key_id_from_alias", ("self", "alias_name")),
    ("moto.iam.access_control", "IAMUserAccessKey.collect_policies", ("self",)),
    ("moto.iam.access_control", "AssumedRoleAccessKey.collect_policies", ("self",)),
    ("moto.iam.models", "IAMBackend.get_user", ("self", "name")),
    ("moto.iam.models", "IAMBackend.get_role", ("self", "role_name")),
    ("moto.iam.models", "IAMBackend.get_policy", ("self", "policy_arn")),
    ("moto.iam.access_control", "IAMPolicy.__init__", ("self", "policy")),
    ("moto.iam.access_control", "IAMRequestBase._calculate_signature", ("self",)),
    ("moto.iam.access_control", "IAMRequestBase._raise_access_denied", ("self",)),
    ("moto.iam.access_control", "IAMRequestBase._raise_signature_does_not_match", ("self",)),
    ("moto.backends", "get_backend", ("name",)),
    ("moto.utilities.utils", "get_partition", ("region",)),
    ("moto.cloudformation.parsing", "get_model_list", ()),
    ("moto.cloudformation.parsing", "get_name_type_map", ()),
    ("moto.cloudformation.parsing", "resource_class_from_type", ("resource_type",)),
    ("moto.cloudformation.parsing", "resource_name_property_from_type", ("resource_type",)),
    (
        "moto.cloudformation.parsing",
        "parse_and_update_resource",
        ("logical_id", "resource_json", "resources_map", "account_id", "region_name"),
    ),
    (
        "moto.cloudformation.parsing",
        "ResourceMap.build_resource_diff",
        ("self", "other_template", "parameters"),
    ),
    ("moto.cloudformation.parsing", "ResourceMap.load_mapping", ("self",)),
    ("moto.cloudformation.parsing", "ResourceMap.load_parameters", ("self",)),
    ("moto.cloudformation.parsing", "ResourceMap.load_conditions", ("self",)),
    ("moto.cloudformation.parsing", "ResourceMap.delete", ("self",)),
    ("moto.cloudformation.parsing", "ResourceMap.__getitem__", ("self", "key")),
    ("moto.cloudformation.models", "Stack.parse_template", ("template",)),
    ("moto.cloudformation.models", "Stack._parse_template", ("self",)),
    ("moto.cloudformation.models", "Stack._create_output_map", ("self",)),
    (
        "moto.cloudformation.models",
        "Event.__init__",
        (
            "self",
            "stack_id",
            "stack_name",
            "logical_resource_id",
            "physical_resource_id",
            "resource_type",
            "resource_status",
            "resource_status_reason",
            "resource_properties",
        ),
    ),
    (
        "moto.cloudformation.models",
        "Event.sendToSns",
        ("self", "account_id", "region", "sns_topic_arns"),
    ),
    (
        "moto.cloudformation.responses",
        "CloudFormationResponse._get_param",
        ("self", "param_name", "if_none"),
    ),
    ("moto.core.common_models", "CloudFormationModel.create_from_cloudformation_json", _CFN_CREATE),
    ("moto.core.common_models", "CloudFormationModel.update_from_cloudformation_json", _CFN_UPDATE),
    ("moto.core.common_models", "CloudFormationModel.delete_from_cloudformation_json", _CFN_DELETE),
    ("moto.iam.models", "Role.delete_from_cloudformation_json", _CFN_DELETE),
    ("moto.iam.models", "User.create_from_cloudformation_json", _CFN_CREATE),
    ("moto.iam.models", "User.update_from_cloudformation_json", _CFN_UPDATE),
    ("moto.iam.models", "User.delete_from_cloudformation_json", _CFN_DELETE),
    (
        "moto.iam.models",
        "IAMBackend.create_user",
        ("self", "region_name", "user_name", "path", "tags"),
    ),
    ("moto.iam.models", "IAMBackend.attach_user_policy", ("self", "policy_arn", "user_name")),
    ("moto.iam.models", "IAMBackend.detach_user_policy", ("self", "policy_arn", "user_name")),
    (
        "moto.iam.models",
        "IAMBackend.put_user_policy",
        ("self", "user_name", "policy_name", "policy_json"),
    ),
    ("moto.iam.models", "IAMBackend.delete_user_policy", ("self", "user_name", "policy_name")),
    ("moto.iam.models", "IAMBackend.delete_user", ("self", "user_name")),
    ("moto.iam.models", "InstanceProfile.create_from_cloudformation_json", _CFN_CREATE),
    (
        "moto.s3.models",
        "S3Backend.create_bucket",
        ("self", "bucket_name", "region_name", "bucket_namespace"),
    ),
    ("moto.s3.models", "S3Backend.delete_bucket", ("self", "bucket_name")),
    ("moto.s3.models", "S3Backend.get_bucket", ("self", "bucket_name")),
    ("moto.s3.models", "S3Backend.put_bucket_encryption", ("self", "bucket_name", "encryption")),
    (
        "moto.s3.models",
        "S3Backend.put_public_access_block",
        ("self", "bucket_name", "pub_block_config"),
    ),
    ("moto.s3.models", "S3Backend.delete_public_access_block", ("self", "bucket_name")),
    (
        "moto.s3.models",
        "S3Backend.put_bucket_ownership_controls",
        ("self", "bucket_name", "ownership"),
    ),
    ("moto.s3.models", "S3Backend.delete_bucket_ownership_controls", ("self", "bucket_name")),
    ("moto.s3.models", "S3Backend.put_bucket_versioning", ("self", "bucket_name", "status")),
    ("moto.s3.models", "S3Backend.put_bucket_tagging", ("self", "bucket_name", "tags")),
    ("moto.s3.models", "S3Backend.delete_bucket_tagging", ("self", "bucket_name")),
    ("moto.s3.models", "S3Backend.put_bucket_policy", ("self", "bucket_name", "policy")),
    ("moto.s3.models", "S3Backend.delete_bucket_policy", ("self", "bucket_name")),
    ("moto.iam.access_control", "IAMPolicy.__init__", ("self", "policy")),
    (
        "moto.iam.access_control",
        "IAMPolicy.is_action_permitted",
        ("self", "action", "resource", "principal", "incoming_condition_values"),
    ),
    (
        "moto.ec2.models",
        "EC2Backend.import_key_pair",
        ("self", "key_name", "public_key_material", "tags"),
    ),
    ("moto.ec2.models", "EC2Backend.create_key_pair", ("self", "name", "key_type", "tags")),
    ("moto.ec2.models", "EC2Backend.delete_key_pair", ("self", "name")),
    ("moto.ec2.models", "EC2Backend.create_tags", ("self", "resource_ids", "tags")),
    ("moto.ec2.models", "EC2Backend.delete_tags", ("self", "resource_ids", "tags")),
    (
        "moto.ec2.models",
        "EC2Backend.create_security_group",
        ("self", "name", "description", "vpc_id", "tags", "force", "is_default"),
    ),
    ("moto.ec2.models", "EC2Backend.delete_security_group", ("self", "name", "group_id")),
    ("moto.ec2.models", "EC2Backend.authorize_security_group_ingress", _RULE_AUTHORIZE),
    ("moto.ec2.models", "EC2Backend.authorize_security_group_egress", _RULE_AUTHORIZE),
    ("moto.ec2.models", "EC2Backend.revoke_security_group_ingress", _RULE_REVOKE),
    ("moto.ec2.models", "EC2Backend.revoke_security_group_egress", _RULE_REVOKE),
    (
        "moto.ec2.models",
        "EC2Backend.get_security_group_by_name_or_id",
        ("self", "group_name_or_id", "vpc_id"),
    ),
    ("moto.ec2.models", "EC2Backend.get_security_group_from_id", ("self", "group_id")),
    ("moto.ec2.models.security_groups", "SecurityGroup.get_rule", ("self", "rule_id")),
    ("moto.ec2.models.vpcs", "VPC.get_cidr_block_association_set", ("self", "ipv6")),
    (
        "moto.ssm.models",
        "SimpleSystemManagerBackend.put_parameter",
        (
            "self",
            "name",
            "description",
            "value",
            "parameter_type",
            "allowed_pattern",
            "keyid",
            "overwrite",
            "tags",
            "data_type",
            "tier",
            "policies",
        ),
    ),
    ("moto.ssm.models", "SimpleSystemManagerBackend.delete_parameter", ("self", "name")),
    (
        "moto.iam.models",
        "IAMBackend.create_role",
        (
            "self",
            "role_name",
            "assume_role_policy_document",
            "path",
            "permissions_boundary",
            "description",
            "tags",
            "max_session_duration",
            "linked_service",
        ),
    ),
    ("moto.iam.models", "IAMBackend.get_roles", ("self",)),
    (
        "moto.iam.models",
        "IAMBackend.create_open_id_connect_provider",
        ("self", "url", "thumbprint_list", "client_id_list", "tags"),
    ),
    ("moto.iam.models", "IAMBackend.get_open_id_connect_provider", ("self", "arn")),
    ("moto.iam.models", "IAMBackend.delete_open_id_connect_provider", ("self", "arn")),
    (
        "moto.iam.models",
        "IAMBackend.put_role_policy",
        ("self", "role_name", "policy_name", "policy_json"),
    ),
    ("moto.iam.models", "IAMBackend.delete_role_policy", ("self", "role_name", "policy_name")),
    (
        "moto.iam.models",
        "IAMBackend.create_policy",
        ("self", "description", "path", "policy_document", "policy_name", "tags"),
    ),
    ("moto.iam.models", "IAMBackend.attach_role_policy", ("self", "policy_arn", "role_name")),
    ("moto.iam.models", "IAMBackend.detach_role_policy", ("self", "policy_arn", "role_name")),
    (
        "moto.iam.models",
        "IAMBackend.update_assume_role_policy",
        ("self", "role_name", "policy_document"),
    ),
    (
        "moto.iam.models",
        "IAMBackend.put_role_permissions_boundary",
        ("self", "role_name", "permissions_boundary"),
    ),
    ("moto.iam.models", "IAMBackend.delete_role_permissions_boundary", ("self", "role_name")),
    ("moto.iam.models", "IAMBackend.tag_role", ("self", "role_name", "tags")),
    ("moto.iam.models", "IAMBackend.untag_role", ("self", "role_name", "tag_keys")),
    (
        "moto.iam.models",
        "IAMBackend.add_role_to_instance_profile",
        ("self", "profile_name", "role_name"),
    ),
    (
        "moto.iam.models",
        "IAMBackend.remove_role_from_instance_profile",
        ("self", "profile_name", "role_name"),
    ),
    ("moto.awslambda.utils", "get_backend", ("account_id", "region")),
    (
        "moto.awslambda.models",
        "LambdaBackend.get_function",
        ("self", "function_name_or_arn", "qualifier"),
    ),
    ("moto.awslambda.models", "LambdaFunction.update_function_code", ("self", "updated_spec")),
    ("moto.awslambda.models", "LambdaFunction._create_zipfile_from_plaintext_code", ("code",)),
    ("moto.awslambda.policy", "Policy.add_statement", ("self", "raw", "qualifier")),
    ("moto.awslambda.policy", "Policy.del_statement", ("self", "sid", "revision")),
    (
        "moto.logs.models",
        "LogsBackend.create_log_group",
        ("self", "log_group_name", "tags", "kwargs"),
    ),
    (
        "moto.logs.models",
        "LogsBackend.put_retention_policy",
        ("self", "log_group_name", "retention_in_days"),
    ),
    ("moto.logs.models", "LogsBackend.delete_retention_policy", ("self", "log_group_name")),
    ("moto.logs.models", "LogsBackend.tag_log_group", ("self", "log_group_name", "tags")),
    ("moto.logs.models", "LogsBackend.untag_log_group", ("self", "log_group_name", "tags")),
    # annex_emulator.stack_set_engine, .stack_set_api, .stack_drift, .organization
    (
        "moto.cloudformation.models",
        "CloudFormationBackend.update_stack",
        ("self", "name", "template", "role_arn", "parameters", "tags"),
    ),
    ("moto.cloudformation.parsing", "clean_json", ("resource_json", "resources_map")),
    (
        "moto.organizations.models",
        "OrganizationsBackend.enable_aws_service_access",
        ("self", "kwargs"),
    ),
    (
        "moto.organizations.models",
        "OrganizationsBackend.disable_aws_service_access",
        ("self", "kwargs"),
    ),
    ("moto.sts.models", "STSBackend.get_caller_identity", ("self", "access_key_id", "region")),
    (
        "moto.iam.models",
        "IAMBackend.put_role_policy",
        ("self", "role_name", "policy_name", "policy_json"),
    ),
    ("moto.iam.models", "IAMBackend.get_role", ("self", "role_name")),
    ("moto.ec2.models", "EC2Backend.get_security_group_from_id", ("self", "group_id")),
    (
        "moto.sts.models",
        "STSBackend.assume_role",
        (
            "self",
            "region_name",
            "role_session_name",
            "role_arn",
            "policy",
            "duration",
            "external_id",
        ),
    ),
    (
        "moto.scheduler.models",
        "EventBridgeSchedulerBackend.create_schedule",
        (
            "self",
            "description",
            "end_date",
            "flexible_time_window",
            "group_name",
            "kms_key_arn",
            "name",
            "schedule_expression",
            "schedule_expression_timezone",
            "start_date",
            "state",
            "target",
            "action_after_completion",
        ),
    ),
    (
        "moto.scheduler.models",
        "EventBridgeSchedulerBackend.delete_schedule",
        ("self", "group_name", "name"),
    ),
    (
        "moto.budgets.models",
        "BudgetsBackend.create_budget",
        ("self", "account_id", "budget", "notifications"),
    ),
    ("moto.budgets.models", "BudgetsBackend.delete_budget", ("self", "account_id", "budget_name")),
    ("moto.iam.models", "IAMBackend.detach_user_policy", ("self", "policy_arn", "user_name")),
    ("moto.iam.models", "IAMBackend.detach_group_policy", ("self", "policy_arn", "group_name")),
    ("moto.iam.models", "IAMBackend.delete_policy", ("self", "policy_arn")),
)

#: (module, attribute path): other names the emulator imports or reads from moto's modules.
PRESENT: Final[tuple[tuple[str, str], ...]] = (
    ("moto", "__version__"),
    ("moto.core", "DEFAULT_ACCOUNT_ID"),
    ("moto.core.exceptions", "ServiceException"),
    ("moto.core.exceptions", "_RESTError"),
    ("moto.core.exceptions", "JsonRESTError"),
    ("moto.core.responses", "ActionResult"),
    ("moto.iam.exceptions", "NotFoundException"),
    ("moto.core.common_models", "CloudFormationModel"),
    ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication"),
    ("moto.moto_server.werkzeug_app", "create_backend_app"),
    ("moto.moto_server.werkzeug_app", "MotoRequestHandler"),
    ("moto.cloudformation.parsing", "NULL_MODELS"),
    ("moto.cloudformation.exceptions", "UnformattedGetAttTemplateException"),
    ("moto.cloudformation.exceptions", "ValidationError"),
    ("moto.iam.access_control", "PermissionResult.NEUTRAL"),
    ("moto.iam.models", "iam_backends"),
    ("moto.cloudformation.models", "cloudformation_backends"),
    ("moto.kms.models", "kms_backends"),
    ("moto.ec2.models", "ec2_backends"),
    ("moto.ec2.models.security_groups", "SecurityGroupRule"),
    ("moto.s3.models", "s3_backends"),
    ("moto.s3.exceptions", "BucketNotEmpty"),
    ("moto.s3.exceptions", "MissingBucket"),
    ("moto.ssm.models", "ssm_backends"),
    ("moto.logs.models", "logs_backends"),
    ("moto.logs.models", "LogGroup"),
    ("moto.organizations.models", "organizations_backends"),
    ("moto.organizations.exceptions", "OrganizationsClientError"),
    ("moto.sts.models", "sts_backends"),
    ("moto.awslambda.models", "lambda_backends"),
    ("moto.core.exceptions", "AccessDeniedError"),
    ("moto.core.responses", "ActionResult"),
    ("moto.core.responses", "EmptyResult"),
    ("moto.core.utils", "utcnow"),
    ("moto.scheduler.models", "scheduler_backends"),
    ("moto.budgets.models", "budgets_backends"),
    ("moto.iam.models", "ManagedPolicy"),
    ("moto.iam.exceptions", "DeleteConflictException"),
)

#: (module, class) -> the attributes the emulator reads or sets on that class's objects.
ATTRIBUTES: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("moto.iam.models", "OpenIDConnectProvider"): (
        "arn",
        "client_id_list",
        "tags",
        "thumbprint_list",
    ),
    ("moto.cloudformation.models", "Stack"): (
        "account_id",
        "events",
        "name",
        "notification_arns",
        "output_map",
        "parameters",
        "region_name",
        "resource_map",
        "stack_id",
        "status",
        "tags",
        "template",
        "template_dict",
    ),
    ("moto.cloudformation.parsing", "ResourceMap"): (
        "_account_id",
        "_parsed_resources",
        "_region_name",
        "_resource_json_map",
        "_template",
        "input_parameters",
        "lazy_condition_map",
        "resources",
    ),
    ("moto.cloudformation.models", "CloudFormationBackend"): (
        "change_sets",
        "deleted_stacks",
        "stacks",
    ),
    ("moto.cloudformation.models", "ChangeSet"): (
        "change_set_name",
        "change_set_type",
        "execution_status",
        "stack_id",
        "stack_name",
        "template",
    ),
    ("moto.s3.models", "FakeBucket"): ("keys", "name", "policy", "versioning_status"),
    ("moto.ec2.models", "EC2Backend"): ("amis", "default_vpc", "key_pairs", "tags", "vpcs"),
    ("moto.ec2.models.amis", "Ami"): ("state",),
    ("moto.ec2.models.key_pairs", "KeyPair"): ("id", "key_fingerprint", "key_material", "material"),
    ("moto.ec2.models.security_groups", "SecurityGroup"): (
        "egress_rules",
        "id",
        "ingress_rules",
        "vpc_id",
    ),
    ("moto.ec2.models.security_groups", "SecurityGroupRule"): (
        "from_port",
        "id",
        "ip_protocol",
        "ip_range",
        "prefix_list_id",
        "source_group",
        "to_port",
    ),
    ("moto.iam.models", "Role"): (
        "arn",
        "assume_role_policy_document",
        "description",
        "managed_policies",
        "max_session_duration",
        "name",
        "policies",
    ),
    ("moto.iam.models", "InstanceProfile"): ("name", "roles"),
    ("moto.awslambda.models", "LambdaFunction"): (
        "account_id",
        "architectures",
        "code_bytes",
        "environment_vars",
        "ephemeral_storage",
        "function_name",
        "handler",
        "policy",
        "region",
        "reserved_concurrency",
        "role",
        "run_time",
        "tags",
        "timeout",
        "tracing_config",
    ),
    ("moto.sts.models", "AssumedRole"): ("access_key_id", "secret_access_key", "session_token"),
    ("moto.scheduler.models", "Schedule"): (
        "arn",
        "creation_date",
        "group_name",
        "schedule_expression",
        "state",
        "target",
    ),
    ("moto.scheduler.models", "EventBridgeSchedulerBackend"): ("schedule_groups",),
    ("moto.scheduler.models", "ScheduleGroup"): ("schedules",),
    ("moto.logs.models", "LogGroup"): ("kms_key_id", "name"),
}


class MotoContractError(RuntimeError):
    """moto differs from what the emulator was written against (one line, see `check`)."""


def check() -> None:
    """Raise MotoContractError naming the first difference between moto and this contract."""
    found = problems()
    if found:
        raise MotoContractError(_line(found[0]))


def problems() -> list[str]:
    """Every difference, each as "changed <name> (...)" or "has no <name>"."""
    found: list[str] = []
    for module, path, expected in (*PATCHED, *CALLED):
        obj = _resolve(module, path)
        if obj is _MISSING:
            found.append(f"has no {module}.{path}")
            continue
        parameters = _parameters(obj)
        if parameters != expected:
            found.append(
                f"changed {module}.{path} (expected parameters ({', '.join(expected)}), "
                f"found ({', '.join(parameters) if parameters is not None else 'no signature'}))"
            )
    found += [f"has no {m}.{p}" for m, p in PRESENT if _resolve(m, p) is _MISSING]
    added = {(owner.__name__, name) for owner, name in patches.added()}
    found += [
        f"now has {m}.{c}.{a}"
        for m, c, a in ABSENT
        if _resolve(m, f"{c}.{a}") is not _MISSING and (c, a) not in added
    ]
    for (module, name), attributes in ATTRIBUTES.items():
        cls = _resolve(module, name)
        if cls is _MISSING:
            found.append(f"has no {module}.{name}")
            continue
        used = _names_used_by(cls)
        found += [f"has no {module}.{name}.{a}" for a in attributes if a not in used]
    return found


def missing_attributes(obj: object, module: str, name: str) -> list[str]:
    """The attributes of `ATTRIBUTES[(module, name)]` that a real moto object lacks."""
    return [a for a in ATTRIBUTES[(module, name)] if not hasattr(obj, a)]


def _line(problem: str) -> str:
    import moto

    version = getattr(moto, "__version__", "?")
    return (
        f"emulator: moto {version} {problem}; annex-cdk's emulator supports moto {SUPPORTED_MOTO}"
    )


_MISSING = object()


def _resolve(module: str, path: str) -> Any:
    try:
        obj: Any = importlib.import_module(module)
    except ImportError:
        return _MISSING
    for part in path.split("."):
        obj = (
            inspect.getattr_static(obj, part, _MISSING)
            if isinstance(obj, type)
            else getattr(obj, part, _MISSING)
        )
        if obj is _MISSING:
            return _MISSING
    return obj


def _parameters(obj: Any) -> tuple[str, ...] | None:
    if isinstance(obj, property):
        obj = obj.fget
    elif isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    try:
        return tuple(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return None


def _names_used_by(cls: type) -> set[str]:
    """Every attribute name the class (and its bases in moto) defines or mentions in its code:
    an instance attribute moto renamed disappears from here."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object:
            continue
        names |= set(vars(klass))
        for member in vars(klass).values():
            function = getattr(member, "fget", None) or getattr(member, "__func__", member)
            code = getattr(function, "__code__", None)
            if isinstance(code, types.CodeType):
                names |= _code_names(code)
    return names


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names
