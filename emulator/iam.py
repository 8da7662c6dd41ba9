"""AWS::IAM::Role, AWS::IAM::InstanceProfile and AWS::IAM::User, updated in place as on AWS."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from moto.iam.models import InstanceProfile, ManagedPolicy, Role, User, iam_backends
from moto.utilities.utils import get_partition

from annex_emulator.resource_properties import (
    json_text,
    previous_properties,
    refuse_custom_named_replacement,
    stash_properties,
    template_tags,
)


def _iam(account_id: str, region_name: str) -> Any:
    return iam_backends[account_id][get_partition(region_name)]


def _sync_policies(
    entity: Any,
    properties: dict[str, Any],
    previous: dict[str, Any],
    *,
    put: Callable[[str, str], None],
    delete: Callable[[str], None],
    attach: Callable[[str], None],
    detach: Callable[[str], None],
) -> None:
    """A role's or user's inline and managed policies as CloudFormation keeps them: what the
    template names, what it named before and no longer does removed; what others attached out
    of band is left alone."""
    wanted = {
        p["PolicyName"]: json_text(p["PolicyDocument"]) for p in properties.get("Policies") or []
    }
    for policy in previous.get("Policies") or []:
        if policy["PolicyName"] not in wanted:
            with contextlib.suppress(Exception):
                delete(policy["PolicyName"])
    for policy_name, document in wanted.items():
        put(policy_name, document)
    arns = list(properties.get("ManagedPolicyArns") or [])
    for arn in previous.get("ManagedPolicyArns") or []:
        if arn not in arns and arn in entity.managed_policies:
            detach(arn)
    for arn in arns:
        if arn not in entity.managed_policies:
            attach(arn)
    stash_properties(entity, properties)


class RoleResource(Role):
    """AWS::IAM::Role: moto's create ignores ManagedPolicyArns and stores inline policies as
    dicts; its update only touches the description. AWS updates policies, trust policy,
    managed policies and tags in place and replaces only on RoleName/Path changes."""

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Role:
        properties = cloudformation_json.get("Properties") or {}
        iam = _iam(account_id, region_name)
        role: Role = iam.create_role(
            role_name=properties.get("RoleName") or resource_name,
            assume_role_policy_document=json_text(properties["AssumeRolePolicyDocument"]),
            path=properties.get("Path", "/"),
            permissions_boundary=properties.get("PermissionsBoundary", ""),
            description=properties.get("Description", ""),
            tags=properties.get("Tags") or [],
            max_session_duration=properties.get("MaxSessionDuration", 3600),
        )
        try:
            cls._sync(iam, role, properties, {})
        except Exception:
            cls.delete_from_cloudformation_json(role.name, {}, account_id, region_name)
            raise
        return role

    @staticmethod
    def _sync(iam: Any, role: Role, properties: dict[str, Any], previous: dict[str, Any]) -> None:
        _sync_policies(
            role,
            properties,
            previous,
            put=lambda name, document: iam.put_role_policy(role.name, name, document),
            delete=lambda name: iam.delete_role_policy(role.name, name),
            attach=lambda arn: iam.attach_role_policy(arn, role.name),
            detach=lambda arn: iam.detach_role_policy(arn, role.name),
        )

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Role,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Role:
        properties = cloudformation_json.get("Properties") or {}
        previous = previous_properties(original_resource)
        if properties.get("RoleName") != previous.get("RoleName") or properties.get(
            "Path", "/"
        ) != previous.get("Path", "/"):
            refuse_custom_named_replacement("RoleName", properties, previous)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        iam = _iam(account_id, region_name)
        role = original_resource
        iam.update_assume_role_policy(role.name, json_text(properties["AssumeRolePolicyDocument"]))
        role.description = properties.get("Description", "")
        role.max_session_duration = properties.get("MaxSessionDuration", 3600)
        if properties.get("PermissionsBoundary"):
            iam.put_role_permissions_boundary(role.name, properties["PermissionsBoundary"])
        elif previous.get("PermissionsBoundary"):
            iam.delete_role_permissions_boundary(role.name)
        wanted = template_tags(properties)
        stale = [k for k in template_tags(previous) if k not in wanted]
        if stale:
            iam.untag_role(role.name, stale)
        if wanted:
            iam.tag_role(role.name, properties["Tags"])
        cls._sync(iam, role, properties, previous)
        return role

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        iam = _iam(account_id, region_name)
        role = next((r for r in iam.get_roles() if r.name == resource_name), None)
        if role is None:
            return
        # moto's delete refuses a role with attached managed policies; detach them first as
        # CloudFormation's handler does.
        for arn in list(role.managed_policies):
            iam.detach_role_policy(arn, resource_name)
        super().delete_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name
        )


class InstanceProfileResource(InstanceProfile):
    """AWS::IAM::InstanceProfile: moto cannot update one at all (the stack breaks). AWS swaps
    Roles in place and replaces only on InstanceProfileName/Path changes."""

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> InstanceProfile:
        profile = super().create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        stash_properties(profile, cloudformation_json.get("Properties") or {})
        return profile

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: InstanceProfile,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> InstanceProfile:
        properties = cloudformation_json.get("Properties") or {}
        previous = previous_properties(original_resource)
        if properties.get("InstanceProfileName") != previous.get(
            "InstanceProfileName"
        ) or properties.get("Path", "/") != previous.get("Path", "/"):
            refuse_custom_named_replacement("InstanceProfileName", properties, previous)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        iam = _iam(account_id, region_name)
        profile = original_resource
        wanted = list(properties.get("Roles") or [])
        for role in list(profile.roles):
            if role.name not in wanted:
                iam.remove_role_from_instance_profile(profile.name, role.name)
        for role_name in wanted:
            if role_name not in [r.name for r in profile.roles]:
                iam.add_role_to_instance_profile(profile.name, role_name)
        stash_properties(profile, properties)
        return profile


class ManagedPolicyResource(ManagedPolicy):
    """AWS::IAM::ManagedPolicy: moto never deletes it with its stack. CloudFormation detaches it
    from the roles, users and groups its template names, then deletes it; attached anywhere
    else, IAM refuses (DeleteConflict) and the delete fails."""

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        from moto.iam.exceptions import DeleteConflictException

        iam = _iam(account_id, region_name)
        policy = iam.managed_policies.get(resource_name)
        if policy is None:
            return  # already gone: deleted
        props = cloudformation_json.get("Properties") or {}
        for role in props.get("Roles") or []:
            iam.detach_role_policy(policy.arn, role)
        for user in props.get("Users") or []:
            iam.detach_user_policy(policy.arn, user)
        for group in props.get("Groups") or []:
            iam.detach_group_policy(policy.arn, group)
        if policy.attachment_count:
            raise DeleteConflictException("Cannot delete a policy attached to entities.")
        iam.delete_policy(policy.arn)


class UserResource(User):
    """AWS::IAM::User: moto's create ignores ManagedPolicyArns and Policies, and its delete
    removes a user that still has access keys. CloudFormation attaches and detaches the user's
    policies, and fails the delete (DeleteConflict) while keys made outside the stack remain."""

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> User:
        properties = cloudformation_json.get("Properties") or {}
        iam = _iam(account_id, region_name)
        user: User = iam.create_user(
            region_name=region_name,
            user_name=properties.get("UserName") or resource_name,
            path=properties.get("Path", "/"),
            tags=properties.get("Tags") or [],
        )
        try:
            cls._sync(iam, user, properties, {})
        except Exception:
            cls.delete_from_cloudformation_json(user.name, {}, account_id, region_name)
            raise
        return user

    @staticmethod
    def _sync(iam: Any, user: User, properties: dict[str, Any], previous: dict[str, Any]) -> None:
        _sync_policies(
            user,
            properties,
            previous,
            put=lambda name, document: iam.put_user_policy(user.name, name, document),
            delete=lambda name: iam.delete_user_policy(user.name, name),
            attach=lambda arn: iam.attach_user_policy(arn, user.name),
            detach=lambda arn: iam.detach_user_policy(arn, user.name),
        )

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: User,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> User:
        properties = cloudformation_json.get("Properties") or {}
        previous = previous_properties(original_resource)
        if properties.get("UserName") != previous.get("UserName") or properties.get(
            "Path", "/"
        ) != previous.get("Path", "/"):
            refuse_custom_named_replacement("UserName", properties, previous)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        cls._sync(_iam(account_id, region_name), original_resource, properties, previous)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        from moto.iam.exceptions import DeleteConflictException

        iam = _iam(account_id, region_name)
        user = iam.users.get(resource_name)
        if user is None:
            return
        if user.access_keys:
            raise DeleteConflictException("Cannot delete entity, must delete access keys first.")
        for arn in list(user.managed_policies):
            iam.detach_user_policy(arn, resource_name)
        for policy_name in list(user.policies):
            iam.delete_user_policy(resource_name, policy_name)
        iam.delete_user(resource_name)
