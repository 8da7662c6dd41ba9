"""IAM, as the use cases need it: a role's inline policies, and the fleet role the rehearsal uses."""

from __future__ import annotations

import json
from typing import Any

from annex_cdk.aws.service import Service, not_found_raises


class Iam(Service):
    name = "iam"

    @not_found_raises
    def role_inline_policies(self, role: str) -> list[dict[str, Any]]:
        """The documents of the role's inline policies (IAM may hand them back URL-decoded
        JSON text or, through boto3, already parsed)."""
        documents = []
        for policy in self._client.list_role_policies(RoleName=role)["PolicyNames"]:
            doc = self._client.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
            documents.append(json.loads(doc) if isinstance(doc, str) else doc)
        return documents

    def ensure_role(self, name: str, trust: dict[str, Any]) -> str:
        """The ARN of role `name`, created with `trust` if there is none."""
        try:
            return str(self._client.get_role(RoleName=name)["Role"]["Arn"])
        except self._client.exceptions.NoSuchEntityException:
            role = self._client.create_role(
                RoleName=name, AssumeRolePolicyDocument=json.dumps(trust)
            )
            return str(role["Role"]["Arn"])
