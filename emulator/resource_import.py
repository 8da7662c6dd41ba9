"""IMPORT change sets: a new stack takes over resources that exist already (a bucket a stack
kept with DeletionPolicy Retain), as CloudFormation's resource import does.

moto treats an IMPORT change set as a CREATE, ignores ResourcesToImport and creates every
resource again (for a kept bucket: BucketAlreadyExists). Here the change set is checked as
CloudFormation checks it (the template holds exactly the resources to import, each with a
DeletionPolicy, each existing), and executing it adopts the resources instead of creating them.
The emulator imports into new stacks only, which is what annex-cdk does.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import yaml
from moto.cloudformation.exceptions import ValidationError
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from annex_emulator.patches import ORIGINALS

if TYPE_CHECKING:
    from moto.cloudformation.responses import CloudFormationResponse

#: The resources the change set being executed imports: logical id -> ResourceIdentifier.
importing: ContextVar[dict[str, dict[str, str]] | None] = ContextVar(
    "annex_importing", default=None
)
#: The importable types the emulator knows, and the identifier property naming each.
IMPORTABLE = {"AWS::S3::Bucket": "BucketName"}


def _to_import(self: CloudFormationResponse) -> list[dict[str, Any]]:
    """ResourcesToImport from the query string (moto's parser drops the identifier map)."""
    params = self.querystring
    found: list[dict[str, Any]] = []
    n = 1
    while f"ResourcesToImport.member.{n}.LogicalResourceId" in params:
        prefix = f"ResourcesToImport.member.{n}"
        identifier: dict[str, str] = {}
        m = 1
        while f"{prefix}.ResourceIdentifier.entry.{m}.key" in params:
            key = params[f"{prefix}.ResourceIdentifier.entry.{m}.key"][0]
            identifier[key] = params[f"{prefix}.ResourceIdentifier.entry.{m}.value"][0]
            m += 1
        found.append(
            {
                "LogicalResourceId": params[f"{prefix}.LogicalResourceId"][0],
                "ResourceType": params[f"{prefix}.ResourceType"][0],
                "ResourceIdentifier": identifier,
            }
        )
        n += 1
    return found


def _exists(resource_type: str, identifier: dict[str, str], account: str, region: str) -> bool:
    name = identifier.get(IMPORTABLE[resource_type], "")
    return name in s3_backends[account][get_partition(region)].buckets


def _check(self: CloudFormationResponse, imports: list[dict[str, Any]]) -> None:
    """CloudFormation's own refusals of an import change set (ValidationError)."""
    backend = self.cloudformation_backend
    stack_name = self._get_param("StackName")
    if any(s.name == stack_name and s.status != "DELETE_COMPLETE" for s in backend.stacks.values()):
        raise ValidationError(
            message=f"The annex-cdk emulator imports into new stacks only; {stack_name} exists"
        )
    body = self._get_param("TemplateBody") or "{}"
    try:
        template = json.loads(body)
    except ValueError:
        template = yaml.safe_load(body)
    resources = template.get("Resources", {})
    wanted = {i["LogicalResourceId"]: i for i in imports}
    if set(resources) != set(wanted):
        raise ValidationError(
            message="The template must hold exactly the resources to import: "
            f"{sorted(resources)} vs {sorted(wanted)}"
        )
    for logical_id, entry in wanted.items():
        resource = resources[logical_id]
        if resource.get("Type") != entry["ResourceType"]:
            raise ValidationError(message=f"{logical_id}: ResourceType does not match the template")
        if "DeletionPolicy" not in resource:
            raise ValidationError(
                message=f"{logical_id}: resources to import must have a DeletionPolicy"
            )
        if entry["ResourceType"] not in IMPORTABLE:
            raise ValidationError(
                message=f"The annex-cdk emulator cannot import {entry['ResourceType']}"
            )
        if not _exists(
            entry["ResourceType"],
            entry["ResourceIdentifier"],
            backend.account_id,
            backend.region_name,
        ):
            raise ValidationError(
                message=f"Resources [{logical_id}] to import do not exist: "
                f"{entry['ResourceIdentifier']}"
            )


def response_create_change_set(self: CloudFormationResponse) -> Any:
    """Wraps the CreateChangeSet handler: checks an IMPORT and records what it imports."""
    if self._get_param("ChangeSetType") != "IMPORT":
        return ORIGINALS["CloudFormationResponse.create_change_set"](self)
    imports = _to_import(self)
    _check(self, imports)
    result = ORIGINALS["CloudFormationResponse.create_change_set"](self)
    backend = self.cloudformation_backend
    name, stack_name = self._get_param("ChangeSetName"), self._get_param("StackName")
    [*_, change_set] = [
        cs
        for cs in backend.change_sets.values()
        if cs.change_set_name == name and cs.stack_name == stack_name
    ]
    change_set.annex_imports = {i["LogicalResourceId"]: i["ResourceIdentifier"] for i in imports}
    return result


def adopt(resource_type: str, identifier: dict[str, str], account: str, region: str) -> Any:
    """The existing resource an import takes over (the model moto would have created)."""
    name = identifier[IMPORTABLE[resource_type]]
    return s3_backends[account][get_partition(region)].buckets[name]
