"""Who makes a request, and every policy that applies to it: the account's root user (the
credentials the emulator prints), IAM users and assumed roles, each with its identity policies,
its permissions boundary and the organization's SCPs (`set_scps`).

On AWS the root user "has full access" except where an SCP denies it; an IAM user or role has
what its policies allow, capped by its boundary and the SCPs. The emulator's account is in an
organization only once SCPs are given (`--scp FILE`, `EmulatorProcess(scps=...)`); like
Organizations, it then attaches the AWS-managed FullAWSAccess SCP beside them, so that a file of
Deny statements (the usual guardrail) denies what it says and no more.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Final

from annex_emulator.credentials import (
    ACCESS_KEY_ID,
    KEY_FILE_ACCESS_KEY_ID,
    KEY_FILE_SECRET_ACCESS_KEY,
    SECRET_ACCESS_KEY,
)
from annex_emulator.iam_evaluation import PolicySet, Request

#: The root user's access keys (AWS allows it two): the printed one and the key-file one.
ROOT_KEYS: Final = {
    ACCESS_KEY_ID: SECRET_ACCESS_KEY,
    KEY_FILE_ACCESS_KEY_ID: KEY_FILE_SECRET_ACCESS_KEY,
}

#: Organizations' default SCP, attached to every account of an organization.
FULL_AWS_ACCESS: Final[Mapping[str, Any]] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}

_lock = threading.Lock()
_scps: list[Mapping[str, Any]] | None = None


def set_scps(documents: Sequence[Mapping[str, Any]] | None) -> None:
    """The SCPs attached to the account (besides FullAWSAccess); None: in no organization."""
    global _scps
    for document in documents or ():
        check_policy_document(document)
    with _lock:
        _scps = None if documents is None else [dict(d) for d in documents]


def scps() -> list[Mapping[str, Any]] | None:
    """Every SCP that applies to the account, FullAWSAccess included; None outside one."""
    with _lock:
        return None if _scps is None else [FULL_AWS_ACCESS, *_scps]


def check_policy_document(document: Any) -> None:
    """A policy document the evaluator can read, or ValueError saying what is wrong."""
    if not isinstance(document, Mapping) or "Statement" not in document:
        raise ValueError("a policy document is a JSON object with a Statement")
    statements = document["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise ValueError("every statement needs an Effect of Allow or Deny")
        if ("Action" in statement) == ("NotAction" in statement):
            raise ValueError("every statement needs one of Action and NotAction")
        if "Resource" not in statement and "NotResource" not in statement:
            # SCPs may leave Resource out (it is then "*"); identity policies may not.
            statement.setdefault("Resource", "*")


@dataclass(frozen=True)
class Principal:
    """A caller: its ARN, the policies that apply to it and the global keys it brings to every
    request's context (aws:PrincipalArn, aws:username ...)."""

    arn: str
    account: str
    kind: str  # "Account" (the root user), "User" or "AssumedRole"
    policies: PolicySet
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def request(self, request: Request, region: str) -> Request:
        # Global condition keys every request carries (aws:RequestedRegion is what region SCPs
        # test); the emulator stands in for AWS's HTTPS endpoints.
        return request.with_context(
            {
                "aws:PrincipalArn": [self.arn],
                "aws:PrincipalAccount": [self.account],
                "aws:PrincipalType": [self.kind],
                "aws:RequestedRegion": [region] if region else [],
                "aws:SecureTransport": ["true"],
                **self.context,
                **request.context,
            }
        )


def _iam(account: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account]["aws"]


def policy_documents(policies: list[Any]) -> list[dict[str, Any]]:
    from moto.iam.access_control import IAMPolicy

    # moto's own reading of inline and attached policies (default versions).
    return [IAMPolicy(policy)._policy_json for policy in policies]


def _managed_document(backend: Any, arn: str | None) -> dict[str, Any] | None:
    if not arn:
        return None
    try:
        return policy_documents([backend.get_policy(arn)])[0]
    except Exception:
        # A boundary naming a policy that does not exist allows nothing, as on AWS.
        return {"Version": "2012-10-17", "Statement": []}


def root(account: str) -> Principal:
    return Principal(
        f"arn:aws:iam::{account}:root", account, "Account", PolicySet(root=True, scps=scps())
    )


def user(account: str, name: str) -> Principal:
    from moto.iam.access_control import IAMUserAccessKey

    backend = _iam(account)
    owner = SimpleNamespace(backend=backend, _owner_user_name=name)
    documents = policy_documents(IAMUserAccessKey.collect_policies(owner))  # type: ignore[arg-type]  # moto's collect_policies is unannotated; it gives the policy documents
    found = backend.get_user(name)
    boundary = _managed_document(backend, getattr(found, "permissions_boundary_arn", None))
    return Principal(
        found.arn,
        account,
        "User",
        PolicySet(identity=documents, boundary=boundary, scps=scps()),
        {"aws:username": [name], "aws:userid": [found.id]},
    )


def role(account: str, name: str, session: str | None = None) -> Principal:
    from moto.iam.access_control import AssumedRoleAccessKey

    backend = _iam(account)
    owner = SimpleNamespace(backend=backend, _owner_role_name=name)
    documents = policy_documents(AssumedRoleAccessKey.collect_policies(owner))  # type: ignore[arg-type]  # moto's collect_policies is unannotated; it gives the policy documents
    found = backend.get_role(name)
    boundary = _managed_document(backend, found.permissions_boundary_arn)
    arn = f"arn:aws:sts::{account}:assumed-role/{name}/{session}" if session else found.arn
    return Principal(
        arn,
        account,
        "AssumedRole" if session else "Role",
        PolicySet(identity=documents, boundary=boundary, scps=scps()),
        {"aws:userid": [f"{found.id}:{session}" if session else found.id]},
    )


def of_access_key(access_key: Any) -> Principal:
    """The principal behind moto's access-key object (or ours for root)."""
    if isinstance(access_key, RootAccessKey):
        return root(access_key.account_id)
    if role_name := getattr(access_key, "_owner_role_name", None):
        return role(access_key.account_id, role_name, access_key._session_name)
    return user(access_key.account_id, access_key._owner_user_name)


def of_arn(account: str, arn: str) -> Principal:
    """The principal an IAM ARN names (SimulatePrincipalPolicy's PolicySourceArn); LookupError
    if there is none."""
    resource = arn.split(":", 5)[-1]
    kind, _, rest = resource.partition("/")
    name = rest.rsplit("/", 1)[-1]
    try:
        if kind == "user":
            return user(account, name)
        if kind == "role":
            return role(account, name)
    except Exception as err:
        raise LookupError(arn) from err
    raise LookupError(arn)


class RootAccessKey:
    """moto's access-key protocol for the root user's key (moto knows only IAM users' keys)."""

    def __init__(self, account_id: str, partition: str, access_key_id: str) -> None:
        self.account_id = account_id
        self.partition = partition
        self.access_key_id = access_key_id

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"

    def create_credentials(self) -> Any:
        from botocore.credentials import Credentials

        return Credentials(self.access_key_id, ROOT_KEYS[self.access_key_id])

    def collect_policies(self) -> list[Any]:
        return []


def create_access_key(
    account_id: str, partition: str, access_key_id: str, headers: dict[str, str]
) -> Any:
    """moto's create_access_key, knowing the root user's key as well."""
    from annex_emulator.patches import ORIGINALS

    if access_key_id in ROOT_KEYS and "X-Amz-Security-Token" not in headers:
        return RootAccessKey(account_id, partition, access_key_id)
    return ORIGINALS["access_control.create_access_key"](
        account_id, partition, access_key_id, headers
    )


def load_scp_file(path: str) -> dict[str, Any]:
    """One SCP file as `--scp` takes it; ValueError with a one-line reason."""
    try:
        with open(path, encoding="utf-8") as handle:
            document: dict[str, Any] = json.load(handle)
    except OSError as err:
        raise ValueError(f"cannot read the SCP file {path}: {err.strerror or err}") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"the SCP file {path} is not JSON: {err.msg} (line {err.lineno})") from err
    try:
        check_policy_document(document)
    except ValueError as err:
        raise ValueError(f"the SCP file {path}: {err}") from err
    return document
