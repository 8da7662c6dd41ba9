"""`annex-cdk destroy`: the reverse of setup, then a check that nothing annex-cdk made is left."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from annex_cdk import console
from annex_cdk.aws.cfn import CloudFormation
from annex_cdk.aws.ec2 import Ec2
from annex_cdk.aws.engine import DELETED, Live, StackResult
from annex_cdk.aws.guardrail import DenyPolicy
from annex_cdk.aws.key_pair import private_key as read_private_key
from annex_cdk.aws.permissions import principal_arn
from annex_cdk.aws.s3 import S3
from annex_cdk.aws.session import AwsTarget
from annex_cdk.aws.ssm import Ssm
from annex_cdk.condor import destroy_journal, user_config
from annex_cdk.condor.files import decode_exact, directory_locked, read_optional
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.condor.syntax import ConfigError
from annex_cdk.errors import AnnexError, LocalFilesError, StackFailedError, UsageError
from annex_cdk.ops import condor_user, deployed_record
from annex_cdk.ops.post_deploy import pem_material, preflight
from annex_cdk.ops.stack_ownership import foreign_stacks, refuse_foreign
from annex_stacks import names
from annex_stacks.stack_specs import CORE_STACKS, MANAGED_STACKS, OPTIONAL_STACKS, STACKS


@dataclass(frozen=True)
class DestroyReport:
    """What destroy removed, and what annex-cdk made that is still there (`leftovers`)."""

    region: str
    stacks: Mapping[str, StackResult]
    bucket_objects_deleted: int
    bucket_retained: str | None  # the bucket --retain-bucket kept, if any
    images_removed: list[str]  # AMIs and their snapshots
    local: Mapping[str, Any]  # what happened to the PEM and the user_config block
    leftovers: list[str]

    @property
    def ok(self) -> bool:
        return not self.leftovers


def run_destroy(
    target: AwsTarget,
    paths: LocalPaths,
    *,
    force: bool,
    confirm: Callable[[str], bool],
    progress: Any,
    keep_image: bool = False,
    take_over: Sequence[str] = (),
) -> DestroyReport:
    target.account_id()
    engine = CloudFormation(target).engine(progress=progress)
    ec2 = Ec2(target)
    running = ec2.annex_instances()
    if running and not force:
        raise UsageError(
            f"{len(running)} annex instance(s) still exist ({', '.join(running[:5])}"
            f"{', ...' if len(running) > 5 else ''})",
            hint="shut the annexes down first (condor_off -annex NAME), or pass --force",
        )
    live = engine.read_all(MANAGED_STACKS)
    # Every local fault before any AWS change: after the stacks are gone it is too late to
    # find that the PEM or user_config cannot be cleaned up.
    preflight(
        paths, target.region, live[names.KEY_PAIR_STACK].state.outputs.get(names.OUT_KEY_PAIR_NAME)
    )
    destroy_journal.check(paths, target.region)
    refuse_foreign(foreign_stacks(live), take_over, "delete")
    keep = own_role_stacks(target, live)
    for name in keep:
        console.warn(f"keeping {name}: this run uses its role's credentials")
    present = [n for n, lv in live.items() if lv.state.exists and n not in keep]
    if not confirm(
        f"Delete {', '.join(present) or 'no stacks'} in {target.region}, and annex-cdk's "
        f"files and config lines under {paths.condor_dir}?"
    ):
        raise AnnexError("nothing deleted", hint="pass --yes to skip the question")

    found = Teardown(keep_image=keep_image)
    with Ssm(target).lock("destroy"):
        for spec in STACKS:
            for step in spec.before_destroy:
                BEFORE_DESTROY[step](target, paths, live[spec.name], found)
        results = engine.delete(CORE_STACKS)
        if all(r.status == DELETED for r in results.values()):
            # Last: CloudFormation deletes the others with the caller's credentials, which may
            # come from the submit host role.
            results.update(engine.delete([n for n in OPTIONAL_STACKS if n not in keep]))
        failed = [r for r in results.values() if r.status != DELETED]
        if failed:
            raise StackFailedError(
                "; ".join(f"{r.name}: {r.status} ({r.reason})" for r in failed),
                hint="nothing local was changed; fix the cause and re-run destroy",
            )
        for spec in STACKS:
            for step in spec.after_destroy:
                AFTER_DESTROY[step](target, paths, live[spec.name], found)

    deployed_record.forget(target)
    local = _remove_local(paths, target.region, found.key_name, found.digest)
    destroy_journal.remove(paths, target.region)
    leftovers = verify_gone(
        target,
        paths,
        bucket=None if found.retained else found.bucket,
        key_name=found.key_name,
        key_parameter=found.key_parameter,
        keep=keep,
        keep_image=keep_image,
    )
    return DestroyReport(
        region=target.region,
        stacks=results,
        bucket_objects_deleted=found.emptied,
        bucket_retained=found.bucket if found.retained else None,
        images_removed=found.removed_images,
        local=local,
        leftovers=leftovers,
    )


@dataclass
class Teardown:
    """What destroy's steps found and did: the local clean-up and the final check read it."""

    keep_image: bool = False
    bucket: str | None = None
    retained: bool = False
    emptied: int = 0
    key_name: str | None = None
    key_parameter: str | None = None
    digest: str | None = None
    removed_images: list[str] = field(default_factory=list)


def _empty_bucket(target: AwsTarget, paths: LocalPaths, live: Live, found: Teardown) -> None:
    """CloudFormation deletes only an empty bucket (and never one kept by --retain-bucket)."""
    found.bucket = live.state.outputs.get(names.OUT_BUCKET)
    resources = (live.template or {}).get("Resources", {})
    found.retained = resources.get(names.LID_BUCKET, {}).get("DeletionPolicy") == "Retain"
    if found.bucket and not found.retained:
        found.emptied = S3(target).empty_bucket(found.bucket)


def _journal_key_pair(target: AwsTarget, paths: LocalPaths, live: Live, found: Teardown) -> None:
    """What the local clean-up needs outlives the stacks: an interrupted destroy, re-run,
    still knows which PEM was the deleted key pair's (by digest, never the key itself)."""
    key_outputs = live.state.outputs
    found.key_name = key_outputs.get(names.OUT_KEY_PAIR_NAME)
    found.key_parameter = key_outputs.get(names.OUT_KEY_PAIR_PARAMETER)
    # Deleted by hand: no digest, so the PEM is kept.
    private_key = read_private_key(target, key_outputs, warn=False)
    found.digest = _pem_digest(private_key) if private_key else None
    if found.key_name and found.digest:
        destroy_journal.write(paths, target.region, found.key_name, found.digest)
    elif not found.key_name and (journal := destroy_journal.read(paths, target.region)):
        found.key_name, found.digest = journal


def _deregister_images(target: AwsTarget, paths: LocalPaths, live: Live, found: Teardown) -> None:
    """The stack's AMIs outlive it (and earlier builds outlive their rebuilds)."""
    if found.keep_image:
        return
    ec2 = Ec2(target)
    found.removed_images = [
        r for image in ec2.built_images() for r in ec2.deregister_with_snapshots(image)
    ]


def _condor_user_keys(target: AwsTarget, paths: LocalPaths, live: Live, found: Teardown) -> None:
    """IAM deletes no user that still has access keys, and setup made them."""
    if user := live.state.outputs.get(names.OUT_CONDOR_USER):
        condor_user.delete_keys(target, paths, user)


_Step = Callable[[AwsTarget, LocalPaths, Live, Teardown], None]


#: The steps a StackSpec's before_destroy and after_destroy name, by id.
def _detach_guardrail_deny(
    target: AwsTarget, paths: LocalPaths, live: Live, found: Teardown
) -> None:
    """setup attached the Deny to condor_annex's identities; IAM deletes no attached policy."""
    if arn := live.state.outputs.get(names.OUT_GUARDRAIL_DENY_POLICY):
        DenyPolicy(target, arn).detach_all()


BEFORE_DESTROY: dict[str, _Step] = {
    "empty-bucket": _empty_bucket,
    "key-pair-journal": _journal_key_pair,
    "detach-guardrail-deny": _detach_guardrail_deny,
    "condor-user-keys": _condor_user_keys,
}
AFTER_DESTROY: dict[str, _Step] = {"deregister-images": _deregister_images}


def _pem_digest(private_key: str) -> str:
    return hashlib.sha256(pem_material(private_key)).hexdigest()


def _remove_local(
    paths: LocalPaths, region: str, key_name: str | None, digest: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"pem": None, "user_config": None}
    if key_name:
        pem = paths.pem(region, key_name)
        if pem.exists():
            # Only the PEM of the key pair just deleted: any other file of that name is the user's.
            if digest and hashlib.sha256(pem.read_bytes()).hexdigest() == digest:
                pem.unlink()
                out["pem"] = f"removed {pem}"
            else:
                console.warn(f"{pem} is not the private key of the deleted key pair; left it alone")
                out["pem"] = f"kept {pem}"
    # The same local lock as setup's write: a setup of another region meanwhile keeps its block.
    lock = (
        directory_locked(paths.condor_dir)
        if paths.condor_dir.is_dir()
        else contextlib.nullcontext()
    )
    try:
        with lock:
            result = user_config.unwrite_user_config(paths.user_config, region)
    except (ConfigError, LocalFilesError) as err:
        raise AnnexError(
            f"stacks deleted, but {paths.user_config} was not changed: {err}"
        ) from None
    out["user_config"] = result.action
    out["backup"] = str(result.backup) if result.backup else None
    return out


def verify_gone(
    target: AwsTarget,
    paths: LocalPaths,
    *,
    bucket: str | None,
    key_name: str | None,
    key_parameter: str | None,
    keep: tuple[str, ...] = (),
    keep_image: bool = False,
) -> list[str]:
    """Everything annex-cdk made that still exists (but what it had to `keep`), one line each."""
    left: list[str] = []
    engine = CloudFormation(target).engine()
    for name in MANAGED_STACKS:
        if name not in keep and engine.state(name).exists:
            left.append(f"stack {name}")
    if bucket and S3(target).bucket_exists(bucket):
        left.append(f"bucket {bucket}")
    ec2 = Ec2(target)
    if key_name and ec2.key_pair_exists(key_name):
        left.append(f"key pair {key_name}")
    if not keep_image:
        left.extend(f"image {image.image_id}" for image in ec2.built_images())
    ssm = Ssm(target)
    left.extend(
        f"SSM parameter {parameter}"
        for parameter in filter(None, [key_parameter, names.LOCK_PARAMETER])
        if ssm.parameter_exists(parameter)
    )
    # Read once, not looked at first: another region's destroy in the same run deletes the
    # file when it takes the last block out.
    data = read_optional(paths.user_config)
    if data is not None and target.region in user_config.parse(decode_exact(data)).ours:
        left.append(f"annex-cdk block in {paths.user_config}")
    return left


#: The stacks whose roles a run may itself be using, and the outputs naming them.
_OWN_ROLE_OUTPUTS = {s.name: s.role_outputs for s in STACKS if s.role_outputs}


def own_role_stacks(target: AwsTarget, live: Mapping[str, Live]) -> tuple[str, ...]:
    """The stacks of the role this run's credentials are (the submit host's, a pipeline's):
    deleting it would cut the run (and CloudFormation's deletes on its behalf) off half-way."""
    roles = {
        stack: {live[stack].state.outputs.get(out) for out in outs} - {None}
        for stack, outs in _OWN_ROLE_OUTPUTS.items()
        if stack in live and live[stack].state.exists
    }
    if not any(roles.values()):
        return ()
    caller = principal_arn(target.caller_arn())
    return tuple(stack for stack, arns in roles.items() if caller in arns)
