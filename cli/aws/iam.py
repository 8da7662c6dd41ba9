"""IAM, as the use cases need it: a role's inline policies, the fleet role and the administrator
user the rehearsals use, and the access keys of condor_annex's own user."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

from annex_cdk.aws.parallel import gather
from annex_cdk.aws.service import Service, not_found_raises


@dataclass(frozen=True)
class AccessKey:
    """An IAM user's access key: the secret only when it was just created (never listed)."""

    key_id: str
    created: datetime
    secret: str | None = field(default=None, repr=False)


class Iam(Service):
    name = "iam"

    @not_found_raises
    def role_inline_policies(self, role: str) -> list[dict[str, Any]]:
        """The documents of the role's inline policies (IAM may hand them back URL-decoded
        JSON text or, through boto3, already parsed)."""
        policies = self._client.list_role_policies(RoleName=role)["PolicyNames"]
        read = gather(partial(self._policy_document, role, p) for p in policies)
        return [json.loads(doc) if isinstance(doc, str) else doc for doc in read]

    def _policy_document(self, role: str, policy: str) -> Any:
        return self._client.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]

    def ensure_role(self, name: str, trust: dict[str, Any]) -> str:
        """The ARN of role `name`, created with `trust` if there is none."""
        try:
            return str(self._client.get_role(RoleName=name)["Role"]["Arn"])
        except self._client.exceptions.NoSuchEntityException:
            role = self._client.create_role(
                RoleName=name, AssumeRolePolicyDocument=json.dumps(trust)
            )
            return str(role["Role"]["Arn"])

    def access_keys(self, user: str) -> list[AccessKey]:
        """The user's access keys (ids and ages; IAM never hands a secret back)."""
        listed = self._client.list_access_keys(UserName=user)["AccessKeyMetadata"]
        return [AccessKey(k["AccessKeyId"], k["CreateDate"]) for k in listed]

    def access_keys_and_now(self, user: str) -> tuple[list[AccessKey], datetime]:
        """The user's access keys and IAM's time (its reply's Date header), so that a key's age
        never depends on this machine's clock."""
        reply = self._client.list_access_keys(UserName=user)
        keys = [AccessKey(k["AccessKeyId"], k["CreateDate"]) for k in reply["AccessKeyMetadata"]]
        date = reply["ResponseMetadata"]["HTTPHeaders"]["date"]
        return keys, parsedate_to_datetime(date)

    def create_access_key(self, user: str) -> AccessKey:
        made = self._client.create_access_key(UserName=user)["AccessKey"]
        return AccessKey(made["AccessKeyId"], made["CreateDate"], made["SecretAccessKey"])

    def delete_access_key(self, user: str, key_id: str) -> None:
        self._client.delete_access_key(UserName=user, AccessKeyId=key_id)

    def create_policy_user(self, name: str, documents: list[dict[str, Any]]) -> tuple[str, str]:
        """An IAM user holding exactly `documents`, each as a customer managed policy (as
        `annex-cdk policy` advises), and its access key (id, secret)."""
        self._client.create_user(UserName=name)
        for n, document in enumerate(documents):
            made = self._client.create_policy(
                PolicyName=f"{name}-{n}", PolicyDocument=json.dumps(document)
            )
            self._client.attach_user_policy(UserName=name, PolicyArn=made["Policy"]["Arn"])
        key = self.create_access_key(name)
        assert key.secret is not None  # IAM hands the secret back on creation only
        return key.key_id, key.secret

    def create_admin_user(self, name: str) -> tuple[str, str]:
        """An IAM user allowed everything (HTCondor's guide: AdministratorAccess) and its
        access key (id, secret): a governed account's usual caller, whom SCPs still cap."""
        admin = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        # A retried CreateUser whose first attempt had gone through: the same user.
        with contextlib.suppress(self._client.exceptions.EntityAlreadyExistsException):
            self._client.create_user(UserName=name)
        self._client.put_user_policy(
            UserName=name, PolicyName="AdministratorAccess", PolicyDocument=json.dumps(admin)
        )
        key = self.create_access_key(name)
        assert key.secret is not None  # IAM hands the secret back on creation only
        return key.key_id, key.secret
