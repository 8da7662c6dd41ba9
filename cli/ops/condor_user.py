"""condor_annex's own identity: the access key of HTCondorAnnex-CondorUser's IAM user.

setup creates the key through IAM (never in a template or a stack output) and keeps it in two
files of ~/.condor, written 0600 and never printed; condor_annex is pointed at them
(ANNEX_DEFAULT_ACCESS_KEY_FILE / _SECRET_KEY_FILE). A re-run keeps files that hold one of the
user's keys; destroy deletes the user's keys (IAM deletes no user that has one) and the files.
`credentials --rotate` replaces the key: the files hold a working key after every failure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from annex_cdk import console
from annex_cdk.aws.cfn import CloudFormation
from annex_cdk.aws.iam import AccessKey, Iam
from annex_cdk.aws.session import AwsTarget, Credentials
from annex_cdk.condor.files import ensure_private_dir, read_optional, write_private
from annex_cdk.condor.key_files import mask
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.errors import AnnexError, CredentialsError
from annex_stacks import names


def key_files(paths: LocalPaths) -> tuple[Path, Path]:
    return (
        paths.condor_dir / names.CONDOR_USER_PUBLIC_KEY_FILE,
        paths.condor_dir / names.CONDOR_USER_PRIVATE_KEY_FILE,
    )


def local_key_id(paths: LocalPaths) -> str | None:
    """The access key id the user's key files hold, if both are there."""
    public, private = key_files(paths)
    found = read_optional(public)
    if found is None or read_optional(private) is None:
        return None
    return found.decode("ascii", "replace").strip() or None


def ensure_key(target: AwsTarget, paths: LocalPaths, user: str) -> Credentials:
    """Key files holding a key of `user`: the ones there if they do, else a new key (IAM keeps
    at most two per user: the oldest other one goes first)."""
    public, private = key_files(paths)
    iam = Iam(target)
    keys = iam.access_keys(user)
    if local_key_id(paths) in {k.key_id for k in keys}:
        return Credentials(access_key_file=public, secret_key_file=private)
    for stale in sorted(keys, key=lambda k: k.created)[: max(0, len(keys) - 1)]:
        iam.delete_access_key(user, stale.key_id)  # no file holds it: nobody can use it
    made = iam.create_access_key(user)
    assert made.secret is not None
    ensure_private_dir(paths.condor_dir)
    # The secret first: a key id file is never left pointing at a missing secret.
    write_private(private, f"{made.secret}\n".encode())
    write_private(public, f"{made.key_id}\n".encode())
    console.info(f"condor_annex's own key {mask(made.key_id)} of {user} is in {public}.")
    return Credentials(access_key_file=public, secret_key_file=private)


def delete_keys(target: AwsTarget, paths: LocalPaths, user: str) -> list[str]:
    """Every access key of `user` deleted, and the key files when they held one of them."""
    iam = Iam(target)
    deleted = [k.key_id for k in iam.access_keys(user)]
    for key_id in deleted:
        iam.delete_access_key(user, key_id)
    if local_key_id(paths) in deleted:
        for path in key_files(paths):
            path.unlink(missing_ok=True)
    return deleted


#: IAM's new keys take a few seconds to work everywhere (eventual consistency): how long the
#: proof waits for one before the rotation gives up and keeps the old key.
PROOF_ATTEMPTS = 6
PROOF_PAUSE_S = 2.0


@dataclass(frozen=True)
class Rotation:
    user: str
    old_key_id: str | None
    new_key_id: str
    files: tuple[Path, Path]


def deployed_user(target: AwsTarget) -> str:
    """The user HTCondorAnnex-CondorUser made (its output), or a one-line error."""
    outputs = CloudFormation(target).outputs_if_deployed(names.CONDOR_USER_STACK) or {}
    if user := outputs.get(names.OUT_CONDOR_USER):
        return user
    raise AnnexError(
        f"{names.CONDOR_USER_STACK} is not deployed in {target.region}: there is no key of "
        "condor_annex's own to rotate",
        hint="annex-cdk setup --condor-user",
    )


def rotate_key(target: AwsTarget, paths: LocalPaths, user: str) -> Rotation:
    """A new key for `user` in the key files, proven to work, then the old one deleted.

    The new key is written beside the files and proven from there; the files are replaced only
    then (the secret first). A failure before that deletes the new key and leaves the files as
    they were; the old key is deleted last, so the files always hold a working key."""
    iam = Iam(target)
    public, private = key_files(paths)
    old = local_key_id(paths)
    keys = iam.access_keys(user)
    # IAM keeps at most two keys a user: one no file holds can be used by nobody, so it goes.
    for stale in [k for k in keys if k.key_id != old][: max(0, len(keys) - 1)]:
        iam.delete_access_key(user, stale.key_id)
    ensure_private_dir(paths.condor_dir)
    made = iam.create_access_key(user)
    staged = (public.with_name(public.name + ".new"), private.with_name(private.name + ".new"))
    try:
        _write_pair(made, *staged)
        _prove(target, *staged)
    except BaseException:
        iam.delete_access_key(user, made.key_id)
        for path in staged:
            path.unlink(missing_ok=True)
        raise
    _write_pair(made, public, private)
    for path in staged:
        path.unlink(missing_ok=True)
    if old is not None and old in {k.key_id for k in keys}:
        iam.delete_access_key(user, old)
    console.info(f"condor_annex's own key {mask(made.key_id)} of {user} is in {public}.")
    return Rotation(user, old, made.key_id, (public, private))


def _write_pair(key: AccessKey, public: Path, private: Path) -> None:
    assert key.secret is not None  # IAM hands the secret back on creation only
    # The secret first: a key id file is never left pointing at a missing secret.
    write_private(private, f"{key.secret}\n".encode())
    write_private(public, f"{key.key_id}\n".encode())


def _prove(target: AwsTarget, public: Path, private: Path) -> None:
    """STS GetCallerIdentity signed with the key in the files (no permission needed)."""
    creds = Credentials(access_key_file=public, secret_key_file=private)
    for attempt in range(PROOF_ATTEMPTS):
        try:
            AwsTarget(target.region, creds, endpoint_url=target.endpoint_url).account_id()
            return
        except CredentialsError:
            if attempt == PROOF_ATTEMPTS - 1:
                raise
            time.sleep(PROOF_PAUSE_S)
