"""AWS Organizations as `annex-cdk org` reads it: which accounts a set of OUs holds, and what a
member account already has (through the role Organizations made there)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from annex_cdk.aws.service import Service, error_code, is_not_found
from annex_cdk.aws.session import keyed_session
from annex_cdk.errors import UsageError
from annex_stacks import names

_UNIT_RE = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")


@dataclass(frozen=True)
class MemberAccount:
    id: str
    #: The targeted OU (or root) the account falls under.
    ou: str


class Organizations(Service):
    name = "organizations"

    def management_account(self) -> str:
        return str(self._client.describe_organization()["Organization"]["MasterAccountId"])

    def accounts_under(self, units: Sequence[str]) -> list[MemberAccount]:
        """Every ACTIVE account in `units` or the OUs below them, the management account
        excepted (service-managed StackSets never deploy there), each once, in OU order."""
        for unit in units:
            if not _UNIT_RE.match(unit):
                raise UsageError(
                    f"--ou {unit!r} is not an OU id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)"
                )
        management = self.management_account()
        found: dict[str, str] = {}
        for unit in units:
            for account in self._below(unit):
                if account["Id"] != management and account.get("Status") == "ACTIVE":
                    found.setdefault(account["Id"], unit)
        return [MemberAccount(a, ou) for a, ou in found.items()]

    def _below(self, unit: str) -> list[dict[str, Any]]:
        try:
            accounts = self._pages("list_accounts_for_parent", "Accounts", ParentId=unit)
            children = self._pages(
                "list_children", "Children", ParentId=unit, ChildType="ORGANIZATIONAL_UNIT"
            )
        except Exception as err:
            if error_code(err) in (
                "ParentNotFoundException",
                "OrganizationalUnitNotFoundException",
            ):
                raise UsageError(f"--ou {unit}: no such OU or root in this organization") from None
            if error_code(err) == "AccessDeniedException":
                # A member account that is no delegated administrator, or a caller without
                # organizations:List* rights: both are AWS's same answer.
                raise UsageError(
                    f"--ou {unit}: Organizations refuses this caller the organization's accounts",
                    hint="run from the management account, or from the StackSets' delegated "
                    "administrator with --delegated-admin, as a caller allowed organizations:List*",
                ) from None
            raise
        for child in children:
            accounts.extend(self._below(child["Id"]))
        return accounts


@dataclass(frozen=True)
class ExistingSetup:
    """What of a setup is already in a member account and Region, under the fixed names
    that a StackSet's stacks would take; `unreadable` when the account could not be entered."""

    account: str
    region: str
    taken: tuple[str, ...] = ()
    unreadable: str | None = None


def existing_setup(target: Any, account: str, region: str, role: str) -> ExistingSetup:
    """Look, as `role` in `account`, for the key pair, CheckConnectivity function and bucket
    a setup (annex-cdk's or condor_annex's) made in `region`."""
    try:
        sts = target.session.create_client(
            "sts", region_name=target.region, endpoint_url=target.endpoint_url
        )
        credentials = sts.assume_role(
            RoleArn=f"arn:{names.partition_of(region)}:iam::{account}:role/{role}",
            RoleSessionName="annex-cdk-org",
        )["Credentials"]
    except Exception as err:
        return ExistingSetup(account, region, unreadable=f"cannot assume {role}: {_short(err)}")
    session = keyed_session(
        credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )

    def client(service: str) -> Any:
        return session.create_client(service, region_name=region, endpoint_url=target.endpoint_url)

    checks: tuple[tuple[str, Callable[[], object]], ...] = (
        (
            f"key pair {names.KEY_PAIR_NAME}",
            lambda: client("ec2").describe_key_pairs(KeyNames=[names.KEY_PAIR_NAME]),
        ),
        (
            f"function {names.CHECK_CONNECTIVITY_FUNCTION}",
            lambda: client("lambda").get_function(FunctionName=names.CHECK_CONNECTIVITY_FUNCTION),
        ),
        (
            f"bucket {names.bucket_name(account, region)}",
            lambda: client("s3").head_bucket(Bucket=names.bucket_name(account, region)),
        ),
    )
    taken = []
    for what, call in checks:
        try:
            call()
        except Exception as err:
            if is_not_found(err) or error_code(err) in ("NoSuchKey", "InvalidKeyPair.NotFound"):
                continue
            return ExistingSetup(account, region, unreadable=f"{what}: {_short(err)}")
        taken.append(what)
    return ExistingSetup(account, region, tuple(taken))


def _short(err: Exception) -> str:
    return str(err).splitlines()[0][:200] if str(err) else type(err).__name__
