"""AWS::Logs::LogGroup, updated in place (moto has no update and drops KmsKeyId)."""

from __future__ import annotations

from typing import Any

from moto.logs.models import LogGroup, logs_backends

from annex_emulator.resource_properties import (
    previous_properties,
    refuse_custom_named_replacement,
    stash_properties,
    template_tags,
)
from annex_emulator.stack_operation import stack_tags


class LogGroupResource(LogGroup):
    """AWS::Logs::LogGroup: moto has no update (the resource becomes None and the stack breaks)
    and drops KmsKeyId. AWS changes retention, key and tags in place; a new name or class
    replaces the group."""

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LogGroup:
        properties = cloudformation_json.get("Properties") or {}
        group = logs_backends[account_id][region_name].create_log_group(
            resource_name,
            {**stack_tags(), **template_tags(properties)},
            RetentionInDays=properties.get("RetentionInDays"),
            kmsKeyId=properties.get("KmsKeyId"),
        )
        stash_properties(group, properties)
        return group

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: LogGroup,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LogGroup:
        properties = cloudformation_json.get("Properties") or {}
        previous = previous_properties(original_resource)
        if any(properties.get(k) != previous.get(k) for k in ("LogGroupName", "LogGroupClass")):
            refuse_custom_named_replacement("LogGroupName", properties, previous)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        logs = logs_backends[account_id][region_name]
        group = original_resource
        if properties.get("RetentionInDays") is not None:
            logs.put_retention_policy(group.name, properties["RetentionInDays"])
        else:
            logs.delete_retention_policy(group.name)
        group.kms_key_id = properties.get("KmsKeyId")
        wanted = template_tags(properties)
        stale = [k for k in template_tags(previous) if k not in wanted]
        if stale:
            logs.untag_log_group(group.name, stale)
        if wanted:
            logs.tag_log_group(group.name, wanted)
        stash_properties(group, properties)
        return group
