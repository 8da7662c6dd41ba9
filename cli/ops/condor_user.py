"""condor_annex's own identity: the access key of HTCondorAnnex-CondorUser's IAM user.

setup creates the key through IAM (never in a template or a stack output) and keeps it in two
files of ~/.condor, written 0600 and never printed; condor_annex is pointed at them
(ANNEX_DEFAULT_ACCESS_KEY_FILE / _SECRET_KEY_FILE). A re-run keeps files that hold one of the
user's keys; destroy deletes the user's keys (IAM deletes no user that has one) and the files.
"""

from __future__ import annotations

from pathlib import Path

from annex_cdk import console
from annex_cdk.aws.iam import Iam
from annex_cdk.aws.session import AwsTarget, Credentials
from annex_cdk.condor.files import ensure_private_dir, read_optional, write_private
from annex_cdk.condor.key_files import mask
from annex_cdk.condor.paths import LocalPaths
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
