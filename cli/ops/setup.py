"""`annex-cdk setup`: synthesize in-process, converge the stacks, then write the local files."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from annex_cdk import console
from annex_cdk.aws.cfn import CloudFormation
from annex_cdk.aws.ec2 import Ec2
from annex_cdk.aws.engine import (
    DEPLOYED,
    UPDATABLE,
    Action,
    Engine,
    Live,
    StackResult,
    StackState,
    plan,
    way_on,
)
from annex_cdk.aws.key_pair import private_key
from annex_cdk.aws.parallel import InBackground
from annex_cdk.aws.permissions import check_permissions
from annex_cdk.aws.resources import gone_resources_of
from annex_cdk.aws.s3 import S3
from annex_cdk.aws.session import AwsTarget
from annex_cdk.aws.ssm import Ssm
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.errors import AnnexError, StackBlockedError, UsageError
from annex_cdk.ops import condor_user, deployed_record
from annex_cdk.ops.account_posture import (
    configured_image,
    declare_image_imds_v2,
    make_default_vpc,
    preflight_account,
)
from annex_cdk.ops.cdk_context import read_context, record_for_cdk
from annex_cdk.ops.guardrail import after_setup as guardrail_after_setup
from annex_cdk.ops.post_deploy import (
    PostDeployReport,
    local_writes_coming,
    post_deploy,
    preflight,
    region_verdict,
    set_aside_pem,
)
from annex_cdk.ops.settings_resolution import resolve_settings
from annex_cdk.ops.stack_ownership import (
    foreign_stacks,
    refuse_foreign,
    refuse_stack_set_stacks,
)
from annex_cdk.ops.synth_cache import Templates, holds, inputs_key, remember, synth_templates
from annex_cdk.ops.unchanged import remember as remember_deployed
from annex_cdk.ops.unchanged import unchanged
from annex_cdk.templates.change_set import (
    NO_DETAILS,
    can_say,
    from_template,
    with_change_set,
)
from annex_cdk.templates.diff import diff_stack
from annex_cdk.templates.diff_model import KEPT, StackDiff
from annex_cdk.templates.exposure import ingress_cidrs
from annex_cdk.templates.ownership import marked_foreign
from annex_stacks import names
from annex_stacks.facade import recorded_context, warm_up
from annex_stacks.policy.ci_roles import deploy_actions, plan_actions
from annex_stacks.settings import AnnexSettings, SettingsFlags, covers_everything
from annex_stacks.stack_specs import MANAGED_STACKS, STACKS, in_deployment_order


def warn_if_world_open(templates: Mapping[str, Mapping[str, Any]]) -> None:
    """Judge what is about to be deployed, not the settings: a set of CIDRs that adds up to
    every address (0.0.0.0/1 + 128.0.0.0/1) is as open as 0.0.0.0/0."""
    cidrs = ingress_cidrs(templates)
    if covers_everything(cidrs):
        console.warn(
            "the security group will accept connections from anywhere "
            f"({', '.join(cidrs)} covers every address)"
        )


def check_key_pair(
    target: AwsTarget, state: StackState, settings: AnnexSettings, paths: LocalPaths | None
) -> None:
    """Refuse to let CloudFormation collide with a key pair annex-cdk did not make.

    A failed KeyPair creation would roll back, and a rollback must never touch the user's key.
    """
    name = settings.key_pair_name
    found = Ec2(target).key_pair_exists(name)
    ours = state.exists and state.outputs.get(names.OUT_KEY_PAIR_NAME) == name
    if not settings.create_key_pair:
        if ours:
            raise UsageError(
                f"the key pair {name!r} is annex-cdk's own ({names.KEY_PAIR_STACK})",
                hint="drop --reuse-key-pair; annex-cdk keeps managing it",
            )
        if not found:
            raise UsageError(
                f"--reuse-key-pair: there is no key pair {name!r} in {target.region}",
                hint="drop --reuse-key-pair to let annex-cdk create it",
            )
        return
    if not found or ours:
        return
    pem = paths.pem(target.region, name) if paths is not None else None
    raise UsageError(
        f"a key pair named {name!r} already exists in {target.region} and annex-cdk did not create it",
        hint=(
            f"its PEM {pem} is here: re-run with --reuse-key-pair to use it"
            if pem is not None and pem.exists()
            else "re-run with --key-name NAME to create another one, or --reuse-key-pair if you "
            "have its private key"
        ),
    )


@dataclass(frozen=True)
class Desired:
    """What the stacks should be, next to what they are."""

    account: str
    settings: AnnexSettings
    live: dict[str, Live]
    templates: Templates
    synth_s: float  # what the synthesis took beyond the pre-flight checks it overlapped


def desired_state(
    target: AwsTarget,
    paths: LocalPaths | None,
    flags: SettingsFlags,
    engine: Engine,
    *,
    local_checks: bool,
    needs: Mapping[str, set[str]] | None = None,
    account_checks: bool = False,
    create_default_vpc: bool = False,
) -> Desired:
    """Read the deployed stacks, resolve the settings, pre-flight, and synthesize (or reuse).

    `needs`: the actions by scope the permission pre-flight asks for (None: `annex-cdk policy`).
    `account_checks` (setup): the account's posture and the organization's rules too, every
    finding at once; `create_default_vpc`: the run will make the region's default VPC.
    """
    account = target.account_id()
    live = engine.read_all(MANAGED_STACKS)
    recorded = recorded_context({n: lv.template for n, lv in live.items() if lv.template})
    recorded.update(adoption(target, live, flags))
    settings = resolve_settings(flags, region=target.region, recorded=recorded, paths=paths)
    settings = settings.with_(account=account)
    # CDK builds the templates (seconds of CPU) while the checks below mostly wait on AWS.
    synthesis = InBackground(partial(synth_templates, settings), name="synthesis")
    try:
        if account_checks:
            preflight_account(
                target,
                settings,
                image_id=None if settings.build_image else configured_image(paths, target.region),
                create_default_vpc=create_default_vpc,
                actions=needs,
            )
        else:
            check_permissions(target, settings, needs)
        if local_checks and paths is not None:
            preflight(
                paths,
                target.region,
                settings.key_pair_name,
                secret_key_file=target.credentials.secret_key_file,
            )
        check_key_pair(target, live[names.KEY_PAIR_STACK].state, settings, paths)
    except BaseException:
        synthesis.wait()  # nothing left running (or in the temporary directory) behind the error
        raise
    t0 = time.monotonic()
    templates = synthesis.result()
    for warning in templates.warnings:
        console.warn(warning)
    warn_if_world_open(templates.templates)
    return Desired(account, settings, live, templates, time.monotonic() - t0)


def adoption(target: AwsTarget, live: Mapping[str, Live], flags: SettingsFlags) -> dict[str, Any]:
    """Settings that let annex-cdk take over a setup condor_annex -setup made, in place.

    Its bucket has a generated name (renaming would replace the bucket and its contents), and
    its key pair was made outside CloudFormation (a new one would orphan the user's PEM).
    """
    bucket = live[names.BUCKET_STACK]
    template = bucket.template or {}
    if not bucket.state.exists:
        return _kept_bucket_stays_kept(target, flags)
    if names.SETTINGS_METADATA in template.get("Metadata", {}):
        return {}
    kept: dict[str, Any] = {}
    if name := bucket.state.outputs.get(names.OUT_BUCKET):
        kept[names.CTX_BUCKET_NAME] = name
        console.info(
            f"Adopting the setup condor_annex made: keeping the bucket {name} and its contents."
        )
    group = live[names.SECURITY_GROUP_STACK]
    props = ((group.template or {}).get("Resources", {}).get(names.LID_SECURITY_GROUP, {})).get(
        "Properties", {}
    )
    if group.state.exists and isinstance(desc := props.get("GroupDescription"), str):
        # A new description would replace the group under running annex instances (EC2
        # refuses: DependencyViolation); keeping it lets the rules narrow in place.
        kept[names.CTX_GROUP_DESCRIPTION] = desc
        console.info("Keeping condor_annex's security group; its rules are narrowed in place.")
    key_name = flags.given.get("key_pair_name")
    key = key_name or names.KEY_PAIR_NAME
    if (
        not live[names.KEY_PAIR_STACK].state.exists
        and not key_name
        and Ec2(target).key_pair_exists(key)
    ):
        kept[names.CTX_CREATE_KEY_PAIR] = False
        console.info(f"Keeping condor_annex's key pair {key} (and your PEM for it).")
    return kept


def _kept_bucket_stays_kept(target: AwsTarget, flags: SettingsFlags) -> dict[str, Any]:
    """A bucket an earlier `destroy` kept (--retain-bucket) is imported by this setup: it stays
    kept (a later destroy leaves it and its objects) until the user says --no-retain-bucket."""
    if "retain_bucket" in flags.given:
        return {}
    account = target.account_id()
    if not S3(target).owns_bucket(names.bucket_name(account, target.region), account):
        return {}
    console.info("The bucket an earlier destroy kept stays kept (--no-retain-bucket to change).")
    return {names.CTX_RETAIN_BUCKET: True}


def lost_resources(target: AwsTarget, live: Mapping[str, Live]) -> dict[str, str]:
    """Stacks with a resource deleted behind CloudFormation's back (it won't notice).

    Each gets re-created (with --yes), which is how CloudFormation makes the resource again.
    """
    deployed = [stack for stack, lv in live.items() if lv.state.status in DEPLOYED]
    gone = gone_resources_of(target, deployed)
    return {stack: ", ".join(g.what for g in found) for stack, found in gone.items() if found}


def plan_setup(
    target: AwsTarget, want: Desired
) -> tuple[dict[str, tuple[StackState, Action]], dict[str, str]]:
    """The one plan `setup` carries out and `diff` shows, and the resources lost behind
    CloudFormation's back (their stacks are planned for replacement, which needs consent)."""
    todo = plan(want.templates.templates, want.live)
    lost = lost_resources(target, want.live)
    for stack in lost:
        todo[stack] = (todo[stack][0], Action.REPLACE)
    return todo, lost


def _empty_a_bucket_that_failed_to_delete(target: AwsTarget, live: Mapping[str, Live]) -> None:
    """A bucket stack left in DELETE_FAILED (its bucket was not empty): the deletion was asked
    for already, so finish it; otherwise replacing the stack fails the same way again."""
    state = live[names.BUCKET_STACK].state
    if state.status != "DELETE_FAILED":
        return
    resources = CloudFormation(target).stack_resources(state.stack_id or names.BUCKET_STACK)
    for resource in resources:
        if resource.logical_id == names.LID_BUCKET and resource.physical_id:
            bucket = resource.physical_id
            count = S3(target).empty_bucket(bucket)
            console.info(f"Emptied {bucket} ({count} object version(s)) to finish its deletion.")


def kept_bucket_imports(
    target: AwsTarget, want: Desired, todo: Mapping[str, tuple[StackState, Action]]
) -> dict[str, list[dict[str, Any]]]:
    """The bucket a --retain-bucket destroy left behind, to import into the new bucket stack.

    Creating it again would fail with BucketAlreadyExists; importing keeps it and its contents.
    Only a bucket this account owns is taken over (HeadBucket answers 404 when there is none,
    403 when it is someone else's, and then creating fails as it should).
    """
    if names.BUCKET_STACK not in todo:
        return {}
    state, action = todo[names.BUCKET_STACK]
    # REVIEW_IN_PROGRESS: an import cut off before its change set ran left an empty stack;
    # replacing it is creating it, and the bucket is still to be imported.
    if not (
        action is Action.CREATE
        or (action is Action.REPLACE and state.status == "REVIEW_IN_PROGRESS")
    ):
        return {}
    resource = want.templates.templates[names.BUCKET_STACK]["Resources"][names.LID_BUCKET]
    if not resource.get("Properties", {}).get("BucketName"):
        return {}  # a generated name: nothing can be in its way
    bucket = names.bucket_name(want.account, target.region)
    if not S3(target).owns_bucket(bucket, want.account):
        return {}
    console.info(f"Adopting the bucket {bucket} that an earlier destroy kept, with its contents.")
    return {
        names.BUCKET_STACK: [
            {
                "ResourceType": resource["Type"],
                "LogicalResourceId": names.LID_BUCKET,
                "ResourceIdentifier": {"BucketName": bucket},
            }
        ]
    }


def _declare_imds_v2(target: AwsTarget, image_stack: StackResult) -> None:
    if declare_image_imds_v2(target, image_stack.outputs.get(names.OUT_IMAGE_ID)):
        console.info("Registered the annex image for IMDSv2 (ImdsSupport v2.0).")


def _guardrail_deny_and_heartbeat(target: AwsTarget, guardrail_stack: StackResult) -> None:
    done = guardrail_after_setup(target, guardrail_stack.outputs)
    for line in done.lines() if done else ():
        console.info(line)


#: The steps a StackSpec's after_deploy names, by id.
AFTER_DEPLOY: dict[str, Callable[[AwsTarget, StackResult], None]] = {
    "declare-imds-v2": _declare_imds_v2,
    "guardrail-deny-and-heartbeat": _guardrail_deny_and_heartbeat,
}


@dataclass(frozen=True)
class SetupReport:
    """What a setup did: each stack's result, the local files, the settings it deployed."""

    region: str
    account: str
    stacks: Mapping[str, StackResult]
    local: PostDeployReport | None  # None: --no-local wrote nothing
    settings: AnnexSettings
    cdk_context: Path | None  # where the settings were recorded for plain cdk
    timings: Mapping[str, float]
    synth_cached: bool

    @property
    def ok(self) -> bool:
        return self.local is None or not self.local.problems

    @property
    def changed_stacks(self) -> list[str]:
        return [name for name, r in self.stacks.items() if r.action is not Action.SKIP]


def run_setup(
    target: AwsTarget,
    paths: LocalPaths | None,
    flags: SettingsFlags,
    *,
    yes: bool,
    progress: Any,
    retire_annex_blocks: bool = False,
    cdk_project: Path | None = None,
    default_region: str | None = None,
    create_default_vpc: bool = False,
    take_over: Sequence[str] = (),
) -> SetupReport:
    """Converge the stacks, then write the local files. With `cdk_project` (the directory the
    user runs setup in), also record the settings there for plain `cdk`; the rehearsal's
    scratch world passes none, so a demo never leaves its settings in the user's project."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    if (
        create_default_vpc
        or take_over
        or not deployed_record.entry(target.endpoint_url, target.region).exists()
    ):
        _warm_up(target, paths, flags)  # from the start
    engine = CloudFormation(target).engine(progress=progress)
    if cdk_project is not None:
        read_context(cdk_project)  # a broken cdk.context.json stops setup before any AWS change

    # Whether our block is to set the default region, judged by HTCondor's parser (a process
    # of its own) while AWS is asked; post_deploy takes it if user_config is the same by then.
    early = (
        InBackground(partial(region_verdict, paths, target.region), name="region-verdict")
        if paths is not None and default_region is None
        else None
    )

    def local_checks(settings: AnnexSettings) -> None:
        if paths is not None:
            secret = target.credentials.secret_key_file
            preflight(paths, target.region, settings.key_pair_name, secret_key_file=secret)

    same = (
        None
        if create_default_vpc or take_over
        else unchanged(target, paths, flags, engine, local_checks=local_checks)
    )
    lost: dict[str, str] = {}
    # The run lock, when taken, goes in the background once the stacks are done.
    with ExitStack() as run_lock:
        if same is not None:
            # Nothing to deploy: no lock, no synthesis, no pre-deploy checks (they guard changes).
            settings, account, synth_cached = same.settings, same.account, True
            timings["preflight_s"] = time.monotonic() - started
            timings["synth_s"] = 0.0
            t0 = time.monotonic()
            results = engine.converge({}, same.plan(), replace_ok=False)
            timings["deploy_s"] = time.monotonic() - t0
            local_writes_coming(target.region)
            _after_deploy(target, results)
        else:
            _warm_up(target, paths, flags)  # while the stacks are read and the account checked
            _caller_and_stack_sets(target, engine)  # before the lock: nothing is written
            lock = run_lock.enter_context(Ssm(target).lock("setup"))
            # --no-local is the pipeline's mode: it needs only what the deploy role holds.
            needs = deploy_actions() if paths is None else None
            want = desired_state(
                target,
                paths,
                flags,
                engine,
                local_checks=True,
                needs=needs,
                account_checks=True,
                create_default_vpc=create_default_vpc,
            )
            timings["preflight_s"] = time.monotonic() - started - want.synth_s
            if create_default_vpc:
                make_default_vpc(target)  # the first change: the security group's stack needs it
            timings["synth_s"] = want.synth_s
            t0 = time.monotonic()
            todo, lost = plan_setup(target, want)
            refuse_foreign(foreign_stacks(want.live, todo), take_over, "change")
            for stack, what in lost.items():
                if not yes:
                    raise StackBlockedError(
                        f"{what} was deleted outside annex-cdk, and CloudFormation cannot bring "
                        f"it back into {stack}",
                        hint="re-run with --yes to delete and re-create that stack",
                    )
            if yes:
                _empty_a_bucket_that_failed_to_delete(target, want.live)
            imports = kept_bucket_imports(target, want, todo)
            results = engine.converge(
                want.templates.templates, todo, replace_ok=yes, imports=imports
            )
            timings["deploy_s"] = time.monotonic() - t0
            local_writes_coming(target.region)
            remember(want.templates)
            _after_deploy(target, results)
            _record_deployed(target, want, results)
            lock.release_soon()  # the stacks are done: the lock goes while the files are written
            settings, account, synth_cached = want.settings, want.account, want.templates.cached
        key_name = settings.key_pair_name
        # A key pair deleted by hand and made anew: its old PEM opens nothing any more.
        if (
            names.KEY_PAIR_STACK in lost
            and key_name
            and paths is not None
            and (aside := set_aside_pem(paths, target.region, key_name))
        ):
            console.info(f"The old key pair is gone: its PEM was moved to {aside}.")

        t0 = time.monotonic()
        local = None
        if paths is not None:  # --no-local: no PEM, no user_config, the key stays in SSM
            outputs = {name: r.outputs for name, r in results.items()}
            key_outputs = outputs.get(names.KEY_PAIR_STACK, {})
            credentials = target.credentials
            if user := outputs.get(names.CONDOR_USER_STACK, {}).get(names.OUT_CONDOR_USER):
                credentials = condor_user.ensure_key(target, paths, user)
            local = post_deploy(
                paths,
                target.region,
                outputs,
                credentials,
                key_name=key_name,
                private_key=(same and same.private_key) or private_key(target, key_outputs),
                retire_annex_blocks=retire_annex_blocks,
                default_region=default_region,
                early=early.result() if early else None,
            )
        cdk_context = record_for_cdk(settings, cdk_project) if cdk_project is not None else None
    timings["local_s"] = time.monotonic() - t0
    timings["total_s"] = time.monotonic() - started
    return SetupReport(
        region=target.region,
        account=account,
        stacks=results,
        local=local,
        settings=settings,
        cdk_context=cdk_context,
        timings=timings,
        synth_cached=synth_cached,
    )


def _warm_up(target: AwsTarget, paths: LocalPaths | None, flags: SettingsFlags) -> None:
    """CDK starts loading for a synthesis to come, unless its templates are at hand."""
    warm_up(unless=partial(_templates_at_hand, target, paths, flags))


def _templates_at_hand(target: AwsTarget, paths: LocalPaths | None, flags: SettingsFlags) -> bool:
    """Whether the synthesis cache most likely holds this run's templates: those of these flags
    over what the last setup here recorded (nothing: a first setup). Then CDK is not loaded
    ahead (a second of CPU): a wrong guess costs time, never a result."""
    record = deployed_record.load(target, warn=False)  # unchanged() says why not, if it must
    try:
        settings = resolve_settings(
            flags,
            region=target.region,
            recorded=record.recorded if record else {},
            paths=paths,
            quiet=True,
        )
    except AnnexError:
        return False
    return holds(inputs_key(settings))


def _caller_and_stack_sets(target: AwsTarget, engine: Engine) -> None:
    """Who the caller is, and no StackSet's stacks in the way: one round of calls at once.
    The caller's error comes first (bad credentials or endpoint fail both)."""
    listed = InBackground(partial(refuse_stack_set_stacks, engine), name="stack-sets")
    target.account_id()
    listed.result()


def _after_deploy(target: AwsTarget, results: Mapping[str, StackResult]) -> None:
    for spec in STACKS:
        for step in spec.after_deploy if spec.name in results else ():
            AFTER_DEPLOY[step](target, results[spec.name])


def _record_deployed(target: AwsTarget, want: Desired, results: Mapping[str, StackResult]) -> None:
    """What this setup left, for the next run to skip synthesis if nothing changes. Stacks it
    changed are as their operation left them (their LastUpdatedTime moved)."""
    states = {name: lv.state for name, lv in want.live.items()}
    states.update({name: r.state for name, r in results.items() if r.state is not None})
    deployed = want.templates.templates
    kept = {n: lv.template for n, lv in want.live.items() if lv.template and n not in deployed}
    # What the next run reads back from these stacks' templates (kept ones: as they are).
    recorded = recorded_context({**kept, **deployed})
    remember_deployed(target, want.account, want.templates.key, recorded, states)


def require_complete(engine: Engine) -> dict[str, dict[str, str]]:
    """Live outputs of every stack, for write-config; every stack must be complete."""
    outputs = {}
    for spec in STACKS:
        if spec.optional and not spec.feeds:
            continue  # an add-on whose outputs write-config does not use
        state = engine.state(spec.name)
        if spec.optional:  # written when the add-on is there (its setting is on)
            if state.exists and state.status in DEPLOYED:
                outputs[spec.name] = dict(state.outputs)
            continue
        if not state.exists:
            if spec.enabled_by is not None:
                continue  # its setting turned it off: the user brought their own key pair
            raise AnnexError(f"{spec.name} does not exist", hint="run `annex-cdk setup` first")
        if state.status not in DEPLOYED:
            raise AnnexError(
                f"{spec.name} is in {state.status}", hint="run `annex-cdk setup` to repair it"
            )
        outputs[spec.name] = dict(state.outputs)
    return outputs


def planned_diffs(
    todo: Mapping[str, tuple[StackState, Action]], want: Desired | None
) -> list[StackDiff]:
    """The diff of each planned stack, in deployment order: what setup will do, no more.
    `want` None: nothing changes (`unchanged`), so no template is needed."""
    diffs = []
    for name in in_deployment_order(todo):
        action = todo[name][1]
        if action is Action.KEEP:
            diffs.append(StackDiff(name, KEPT))
        elif action is Action.SKIP:
            diffs.append(StackDiff(name, "unchanged"))
        else:
            assert want is not None, f"{name} changes, so its templates were read"
            deployed = want.live[name].template if action is not Action.REPLACE else None
            diffs.append(diff_stack(name, deployed, want.templates.templates[name]))
    return diffs


def _asked_of_cloudformation(target: AwsTarget, diff: StackDiff, want: Desired) -> StackDiff:
    """An updated stack's diff with CloudFormation's verdicts from a read-only change set,
    where the endpoint gives them; else the template diff, saying why."""
    reading = CloudFormation(target).read_change_set(
        diff.stack,  # by name, as `cdk diff` creates its change sets
        want.templates.templates[diff.stack],
    )
    if reading.changes is None:
        return from_template(diff, reading.note)
    if not can_say(reading.changes):
        return from_template(diff, NO_DETAILS)
    return with_change_set(diff, reading.changes)


@dataclass(frozen=True)
class DiffReport:
    """What setup with the same flags would change: a diff per planned stack, in deployment
    order, the live state of those that exist, and the stacks setup would have to re-create."""

    diffs: list[StackDiff]
    live: Mapping[str, StackState]
    blocked: Mapping[str, str]  # stack: its status, or what is gone from it
    settings: AnnexSettings

    @property
    def changed(self) -> bool:
        return any(d.changed for d in self.diffs)


def run_diff(target: AwsTarget, paths: LocalPaths | None, flags: SettingsFlags) -> DiffReport:
    """What `setup` with the same flags would change, per stack, without changing anything."""
    engine = CloudFormation(target).engine()
    if (same := unchanged(target, paths, flags, engine)) is not None:
        live = {n: state for n, state in same.states.items() if state.exists}
        return DiffReport(planned_diffs(same.plan(), None), live, {}, same.settings)
    _warm_up(target, paths, flags)
    _caller_and_stack_sets(target, engine)
    needs = plan_actions() if paths is None else None  # a pipeline's diff: the plan role's reads
    want = desired_state(target, paths, flags, engine, local_checks=False, needs=needs)
    todo, lost = plan_setup(target, want)
    blocked = {
        n: f"{lv.state.status}; {way_on(lv.state.status)}"
        for n, lv in want.live.items()
        if n in todo
        and todo[n][1] is not Action.KEEP
        and lv.state.status not in UPDATABLE
        and lv.state.exists
    }
    blocked.update(
        {stack: f"{what} is gone; {way_on('ROLLBACK_COMPLETE')}" for stack, what in lost.items()}
    )
    # The templates are a pure function of their inputs: the setup that usually follows a diff
    # with the same settings takes them from the cache instead of synthesizing again.
    remember(want.templates)
    foreign = foreign_stacks(want.live, todo)
    diffs = [
        _asked_of_cloudformation(target, d, want) if d.action == "update" else d
        for d in planned_diffs(todo, want)
    ]
    diffs = [marked_foreign(d, foreign[d.stack]) if d.stack in foreign else d for d in diffs]
    live = {n: lv.state for n, lv in want.live.items() if lv.state.exists}
    return DiffReport(diffs, live, blocked, want.settings)
