"""AWS::Lambda::Function and AWS::Lambda::Permission, and Lambda's LoggingConfig in
GetFunction (moto drops it; the three LambdaBackend/LambdaFunction patches keep it)."""

from __future__ import annotations

import base64
import json
from typing import Any

from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.utils import get_backend as lambda_backend
from moto.core.common_models import CloudFormationModel

from annex_emulator.own_resource import OwnResource
from annex_emulator.patches import ORIGINALS
from annex_emulator.resource_properties import (
    previous_properties,
    refuse_custom_named_replacement,
    stash_properties,
    template_tags,
)
from annex_emulator.stack_events import is_not_found
from annex_emulator.stack_operation import stack_tags

#: Template properties passed through to moto's create_function spec (same names there).
_LAMBDA_SPEC_PROPERTIES = (
    "Description",
    "MemorySize",
    "Timeout",
    "VpcConfig",
    "Environment",
    "ReservedConcurrentExecutions",
    "Architectures",
    "EphemeralStorage",
    "TracingConfig",
    "Layers",
    "PackageType",
    "ImageConfig",
    "LoggingConfig",
)


def _lambda_code(code: dict[str, Any]) -> dict[str, Any]:
    """Inline ZipFile source becomes a base64 zip (index.py plus cfnresponse.py), as on AWS."""
    result = dict(code)
    if isinstance(result.get("ZipFile"), str):
        archive = LambdaFunction._create_zipfile_from_plaintext_code(result["ZipFile"])
        result["ZipFile"] = base64.b64encode(archive)
    return result


class LambdaFunctionResource(LambdaFunction):
    """AWS::Lambda::Function: moto's handler drops Tags, Architectures, LoggingConfig & co., and
    its update crashes on inline ZipFile code ("Incorrect padding"), breaking the stack."""

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LambdaFunction:
        properties = cloudformation_json.get("Properties") or {}
        spec: dict[str, Any] = {
            "FunctionName": resource_name,
            "Code": _lambda_code(properties["Code"]),
            "Handler": properties.get("Handler"),
            "Role": properties["Role"],
            "Runtime": properties.get("Runtime"),
            "Tags": {**stack_tags(), **template_tags(properties)},
        }
        spec.update({k: properties[k] for k in _LAMBDA_SPEC_PROPERTIES if k in properties})
        if "KmsKeyArn" in properties:
            spec["KMSKeyArn"] = properties["KmsKeyArn"]
        function = lambda_backend(account_id, region_name).create_function(spec)
        stash_properties(function, properties)
        return function

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: LambdaFunction,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LambdaFunction:
        properties = cloudformation_json.get("Properties") or {}
        previous = previous_properties(original_resource)
        if properties.get("FunctionName") != previous.get("FunctionName"):
            refuse_custom_named_replacement("FunctionName", properties, previous)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        function = original_resource
        # A property removed from the template returns to Lambda's default, as on AWS.
        config: dict[str, Any] = {
            "Description": properties.get("Description", ""),
            "Handler": properties.get("Handler"),
            "MemorySize": properties.get("MemorySize", 128),
            "Role": properties["Role"],
            "Runtime": properties.get("Runtime"),
            "Timeout": properties.get("Timeout", 3),
            "Environment": properties.get("Environment") or {"Variables": {}},
            "Layers": properties.get("Layers") or [],
            "LoggingConfig": properties.get("LoggingConfig"),
        }
        if "VpcConfig" in properties or "VpcConfig" in previous:
            config["VpcConfig"] = properties.get("VpcConfig")
        function.update_configuration(config)
        function.architectures = properties.get("Architectures") or ["x86_64"]
        function.ephemeral_storage = (properties.get("EphemeralStorage") or {}).get("Size", 512)
        function.tracing_config = properties.get("TracingConfig") or {"Mode": "PassThrough"}
        function.reserved_concurrency = properties.get("ReservedConcurrentExecutions")
        if properties["Code"] != previous.get("Code"):
            function.update_function_code(_lambda_code(properties["Code"]))
        wanted = template_tags(properties)
        for key in set(template_tags(previous)) - set(wanted):
            function.tags.pop(key, None)
        function.tags.update(wanted)
        stash_properties(function, properties)
        return function


def lambda_create_function(self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
    """moto ignores LoggingConfig; keep it so GetFunction answers with it as AWS does."""
    function = ORIGINALS["LambdaBackend.create_function"](self, spec)
    function.annex_logging_config = spec.get("LoggingConfig")
    return function


def lambda_update_configuration(
    self: LambdaFunction, config_updates: dict[str, Any]
) -> dict[str, Any]:
    if "LoggingConfig" in config_updates:
        self.annex_logging_config = config_updates["LoggingConfig"]
    return ORIGINALS["LambdaFunction.update_configuration"](self, config_updates)


def lambda_get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
    config = ORIGINALS["LambdaFunction.get_configuration"](self, on_create)
    # AWS always reports a LoggingConfig: Text format and /aws/lambda/<name> unless configured.
    logging_config = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{self.function_name}"}
    logging_config.update(getattr(self, "annex_logging_config", None) or {})
    if logging_config["LogFormat"] == "JSON":
        logging_config.setdefault("ApplicationLogLevel", "INFO")
        logging_config.setdefault("SystemLogLevel", "INFO")
    config["LoggingConfig"] = logging_config
    return config


class LambdaPermissionResource(OwnResource, CloudFormationModel):
    """AWS::Lambda::Permission: moto's adds the statement but can neither delete nor update it
    (an update breaks the stack). The statement id is the physical id, as on AWS; every
    property change replaces the permission."""

    TYPE = "AWS::Lambda::Permission"
    PHYSICAL_ID = "statement_id"

    def __init__(
        self, account_id: str, region_name: str, function_name: str, statement_id: str
    ) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.function_name = function_name
        self.statement_id = statement_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LambdaPermissionResource:
        properties = dict(cloudformation_json.get("Properties") or {})
        function = lambda_backend(account_id, region_name).get_function(
            properties.pop("FunctionName")
        )
        statement = {**properties, "StatementId": resource_name}
        function.policy.add_statement(json.dumps(statement))
        return cls(account_id, region_name, function.function_name, resource_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: LambdaPermissionResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LambdaPermissionResource:
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        return None  # only reached if delete() cannot run; the function is unknown here

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            function = lambda_backend(account_id, region_name).get_function(self.function_name)
            function.policy.del_statement(self.statement_id)
        except Exception as exc:
            if not is_not_found(exc):
                raise
