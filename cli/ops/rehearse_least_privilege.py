"""`annex-cdk rehearse --least-privilege`: the first-time path as a user holding exactly
`annex-cdk policy` (and its `--condor-user` document), every call evaluated by the emulator's
IAM enforcement, with condor_annex's annex phase run on its own user's key:

1. as the account's root user, the user holding exactly those documents (managed policies);
2. setup --condor-user as that user (HTCondorAnnex-CondorUser and its key files);
3. check-setup --deep;
4. credentials --rotate;
5. the annex phase on the condor user's key: condor_annex's calls as that user, the lease
   functions' runs as the account's root user standing in for their role;
6. destroy.
"""

from __future__ import annotations

from typing import TypeVar

from annex_cdk import console
from annex_cdk.aws.iam import Iam
from annex_cdk.aws.session import AwsTarget, Credentials
from annex_cdk.condor.files import write_private
from annex_cdk.console import StackProgress
from annex_cdk.ops import condor_user
from annex_cdk.ops.annex_lease_rehearsal import ANNEX_STEP, rehearse_annexes
from annex_cdk.ops.check import run_check_setup
from annex_cdk.ops.rehearse import (
    REHEARSAL_CIDR,
    Rehearsal,
    RehearsalReport,
    scratch_rehearsal,
)
from annex_cdk.ops.setup import run_setup
from annex_stacks.policy import policy_document, split
from annex_stacks.settings import SettingsFlags

#: The user holding exactly `annex-cdk policy` and `annex-cdk policy --condor-user`.
POLICY_USER = "annex-cdk-least-privilege"

T = TypeVar("T")


def _policy_documents(region: str, account: str) -> list[dict[str, object]]:
    first = split(policy_document(region=region, account=account))
    return [*first, policy_document(region=region, account=account, condor_user_only=True)]


def run_least_privilege_rehearsal(*, region: str, keep: bool = False) -> RehearsalReport:
    return scratch_rehearsal(
        lambda r: _rehearse_least_privilege(r, region),
        keep=keep,
        emulator={"enforce_iam": True},
        kind=" (IAM enforced)",
        stopped="least-privilege",
    )


def _rehearse_least_privilege(r: Rehearsal, region: str) -> None:
    root_user = AwsTarget(region, r.creds, endpoint_url=r.emu.endpoint_url)
    documents = _policy_documents(region, root_user.account_id())
    key_id, secret = Iam(root_user).create_policy_user(POLICY_USER, documents)
    assert r.creds.access_key_file is not None and r.creds.secret_key_file is not None
    write_private(r.creds.access_key_file, f"{key_id}\n".encode())
    write_private(r.creds.secret_key_file, f"{secret}\n".encode())
    console.info(f"As {POLICY_USER}, holding exactly {len(documents)} policy documents")
    target = AwsTarget(region, r.creds, endpoint_url=r.emu.endpoint_url)
    flags = SettingsFlags(allow_from=(REHEARSAL_CIDR,), condor_user=True)

    first = r.step(
        "setup --condor-user",
        lambda: run_setup(target, r.paths, flags, yes=False, progress=StackProgress()),
    )
    r.ok &= first.ok
    found = r.step("check-setup --deep", lambda: run_check_setup(target, r.paths, deep=True))
    for line in found.lines:
        console.info(line)
    r.ok &= found.ok
    user = condor_user.deployed_user(target)
    r.step("credentials --rotate", lambda: condor_user.rotate_key(target, r.paths, user))
    public, private = condor_user.key_files(r.paths)
    condor = AwsTarget(
        region,
        Credentials(access_key_file=public, secret_key_file=private),
        endpoint_url=r.emu.endpoint_url,
    )
    annexes_ok = r.step(
        f"{ANNEX_STEP} (condor_annex's own key)",
        # The root user stands in for the lease functions' role and the fleet role's
        # maker; condor_annex's own calls are the condor user's.
        lambda: rehearse_annexes(root_user, console.info, condor_annex=condor),
    )
    if not annexes_ok:
        r.ok = False
        console.warn("the annex phase failed on condor_annex's key (see above)")
    r.destroy(target)
