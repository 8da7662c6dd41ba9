"""AWS Organizations as StackSets and cross-account callers meet it.

moto keeps an organization in its management account's Organizations backend (root, OUs,
accounts with a parent each) and creates `OrganizationAccountAccessRole` in every account it
creates, trusting the management account. Taught here:

- the role gets the administrator policy AWS gives it (moto's has no policy, so a caller that
  assumed it could do nothing once IAM is enforced);
- AssumeRole is refused, as AWS refuses it, unless the role exists in its account and its trust
  policy names the caller (moto hands out credentials for any ARN, existing or not);
- CloudFormation StackSets can be a delegated administrator's service
  (`member.org.stacksets.cloudformation.amazonaws.com`, which moto's list lacks);
- a delegated administrator (of any service) reads the organization with Organizations'
  read-only calls, as AWS lets it; any other member account is refused them (moto answers a
  member from its own, empty, backend, or for ListRoots from the organization's);
- creating an account or moving it between OUs tells the StackSets engine
  (`stack_set_engine.account_placed`), which runs automatic deployments as AWS does.

The helpers answer what StackSets asks of an organization: whose it is, which accounts a set of
OUs holds (nested OUs included, the management account never), and whether trusted access or a
delegated administrator is registered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from moto.core.exceptions import AccessDeniedError
from moto.iam.models import iam_backends
from moto.organizations.exceptions import OrganizationsClientError
from moto.organizations.models import (
    FakeDelegatedAdministrator,
    OrganizationsBackend,
    organizations_backends,
)
from moto.organizations.responses import OrganizationsResponse
from moto.sts.models import sts_backends
from moto.sts.responses import TokenResponse

from annex_emulator import patches
from annex_emulator.patches import ORIGINALS

#: The service principal of CloudFormation StackSets' trusted access and delegated admins.
STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
#: The role AWS Organizations creates in every account it creates.
ACCESS_ROLE = "OrganizationAccountAccessRole"
_ADMINISTRATOR = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def organization_of(account: str) -> OrganizationsBackend | None:
    """The management account's Organizations backend of the organization `account` is in."""
    management = management_account(account)
    if management is None:
        return None
    backend = organizations_backends[management]["aws"]
    return backend if backend.org is not None else None


def management_account(account: str) -> str | None:
    if account in organizations_backends.master_accounts:
        return str(organizations_backends.master_accounts[account][0])
    if account in organizations_backends and organizations_backends[account]["aws"].org:
        return account
    return None


def trusted_access(org: OrganizationsBackend) -> bool:
    """Whether StackSets' trusted access is activated for the organization."""
    return any(s["ServicePrincipal"] == STACKSETS_PRINCIPAL for s in org.services)


def delegated_admin(org: OrganizationsBackend, account: str) -> bool:
    return any(
        admin.account.id == account and STACKSETS_PRINCIPAL in admin.services
        for admin in org.admins
    )


def parent_of(org: OrganizationsBackend, account: str) -> str | None:
    found = next((a for a in org.accounts if a.id == account), None)
    return found.parent_id if found is not None else None


def ancestors(org: OrganizationsBackend, parent_id: str | None) -> list[str]:
    """`parent_id` and every OU above it, up to the root."""
    chain: list[str] = []
    by_id = {ou.id: ou for ou in org.ou}
    while parent_id is not None and parent_id in by_id and parent_id not in chain:
        chain.append(parent_id)
        parent_id = getattr(by_id[parent_id], "parent_id", None)
    return chain


def accounts_under(org: OrganizationsBackend, ou_ids: list[str]) -> list[tuple[str, str]]:
    """(account, the targeted OU it falls under) for every active account in the OUs or their
    descendants, in the order given. Service-managed StackSets never reach the management
    account, wherever it sits."""
    found: dict[str, str] = {}
    for account in org.accounts:
        if account.id == org.org.master_account_id or account.status != "ACTIVE":
            continue
        chain = ancestors(org, account.parent_id)
        for ou_id in ou_ids:
            if ou_id in chain and account.id not in found:
                found[account.id] = ou_id
    return sorted(found.items(), key=lambda item: ou_ids.index(item[1]))


def known_unit(org: OrganizationsBackend, ou_id: str) -> bool:
    return any(ou.id == ou_id for ou in org.ou)


# --- what is taught ----------------------------------------------------------------------------

#: Called with (management account, account, old parent or None, new parent) after an account
#: is created or moved; the StackSets engine sets it.
_placed: list[Callable[[str, str, str | None, str], None]] = []


def on_account_placed(callback: Callable[[str, str, str | None, str], None]) -> None:
    _placed[:] = [callback]


def _notify(org: OrganizationsBackend, account: str, old: str | None, new: str) -> None:
    for callback in _placed:
        callback(org.account_id, account, old, new)


def backend_create_account(self: OrganizationsBackend, **kwargs: Any) -> dict[str, Any]:
    status = ORIGINALS["OrganizationsBackend.create_account"](self, **kwargs)
    account = status["CreateAccountStatus"]["AccountId"]
    iam = iam_backends[account]["global"]
    # AWS attaches AdministratorAccess to the role it creates; moto attaches nothing.
    iam.put_role_policy(ACCESS_ROLE, "AdministratorAccess", _ADMINISTRATOR)
    _notify(self, account, None, self.org.root_id)
    return status


def backend_move_account(self: OrganizationsBackend, **kwargs: Any) -> None:
    old = parent_of(self, kwargs["AccountId"])
    ORIGINALS["OrganizationsBackend.move_account"](self, **kwargs)
    new = parent_of(self, kwargs["AccountId"])
    if new is not None and new != old:
        _notify(self, kwargs["AccountId"], old, new)


def _caller(response: TokenResponse) -> tuple[str, str]:
    """(caller ARN, caller account) of the request, as GetCallerIdentity would say."""
    account = response.current_account
    _, arn, account = sts_backends[account]["aws"].get_caller_identity(
        response.get_access_key(), response.region
    )
    return arn, account


def _principal_matches(principal: Any, caller_arn: str, caller_account: str) -> bool:
    values = principal.get("AWS", []) if isinstance(principal, dict) else [principal]
    values = values if isinstance(values, list) else [values]
    # A session of an assumed role is matched by its role's ARN.
    session = re.match(r"arn:([^:]+):sts::(\d+):assumed-role/([^/]+)/", caller_arn)
    role_arn = f"arn:{session[1]}:iam::{session[2]}:role/{session[3]}" if session else None
    for value in values:
        if value in ("*", caller_account, caller_arn, role_arn):
            return True
        if value == f"arn:aws:iam::{caller_account}:root":
            return True
    return False


def _trusts(document: str, caller_arn: str, caller_account: str) -> bool:
    try:
        policy = json.loads(document)
    except (TypeError, ValueError):
        return False
    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if (
            statement.get("Effect") == "Allow"
            and any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions)
            and _principal_matches(statement.get("Principal"), caller_arn, caller_account)
        ):
            return True
    return False


def response_assume_role(self: TokenResponse) -> Any:
    """AssumeRole as AWS answers it: the role must exist and trust the caller."""
    role_arn = self._get_param("RoleArn") or ""
    caller_arn, caller_account = _caller(self)
    match = re.match(r"arn:[^:]+:iam::(\d{12}):role/(?:.*/)?([^/]+)$", role_arn)
    denied = AccessDeniedError(caller_arn, f"sts:AssumeRole on resource: {role_arn}")
    if match is None:
        raise denied
    try:
        role = iam_backends[match[1]]["global"].get_role(match[2])
    except Exception:
        raise denied from None
    if not _trusts(role.assume_role_policy_document, caller_arn, caller_account):
        raise denied
    return ORIGINALS["TokenResponse.assume_role"](self)


def supported_service(service_principal: str) -> bool:
    """Delegated administrators' services, StackSets' among them (moto's list lacks it)."""
    return service_principal == STACKSETS_PRINCIPAL or bool(
        ORIGINALS["FakeDelegatedAdministrator.supported_service"](service_principal)
    )


#: The calls AWS's Organizations API Reference says "can be called only from the
#: organization's management account or by a member account that is a delegated administrator".
DELEGATED_READS = frozenset(
    {
        "DescribeAccount",
        "DescribeCreateAccountStatus",
        "DescribeEffectivePolicy",
        "DescribeHandshake",
        "DescribeOrganizationalUnit",
        "DescribePolicy",
        "ListAWSServiceAccessForOrganization",
        "ListAccounts",
        "ListAccountsForParent",
        "ListChildren",
        "ListCreateAccountStatus",
        "ListDelegatedAdministrators",
        "ListDelegatedServicesForAccount",
        "ListHandshakesForOrganization",
        "ListOrganizationalUnitsForParent",
        "ListParents",
        "ListPolicies",
        "ListPoliciesForTarget",
        "ListRoots",
        "ListTagsForResource",
        "ListTargetsForPolicy",
    }
)


def response_backend(self: OrganizationsResponse) -> OrganizationsBackend:
    """The backend a request reads: a member account's read-only call reaches its
    organization's (moto keeps it in the management account's backend) when the member is a
    delegated administrator of any service, and is refused as AWS refuses it otherwise."""
    own: OrganizationsBackend = ORIGINALS["OrganizationsResponse.organizations_backend"](self)
    if own.org is not None or self._get_action() not in DELEGATED_READS:
        return own
    org = organization_of(self.current_account)
    if org is None:
        return own  # not in an organization: moto's AWSOrganizationsNotInUseException
    if any(admin.account.id == self.current_account for admin in org.admins):
        return org
    raise OrganizationsClientError(
        "AccessDeniedException", "You don't have permissions to access this resource."
    )


def install(patch: Callable[[Any, str, Any], None]) -> None:
    patch(OrganizationsBackend, "create_account", backend_create_account)
    patch(OrganizationsBackend, "move_account", backend_move_account)
    patch(FakeDelegatedAdministrator, "supported_service", staticmethod(supported_service))
    patch(TokenResponse, "assume_role", response_assume_role)
    patches.patch_property(OrganizationsResponse, "organizations_backend", response_backend)
