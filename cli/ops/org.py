"""`annex-cdk org deploy|status|diff|destroy`: the core HTCondorAnnex-* stacks in every account
of an organization's OUs and in several Regions, as one service-managed StackSet per stack.

Each StackSet is named after its stack and carries the template setup deploys (the same
synthesis), except that the security group takes its CIDRs from parameters: the defaults
(--allow-from) are the StackSet's parameters, an account's own (the overrides file) its
instances' overrides. Automatic deployment gives the stacks to accounts that join the OUs.
An account that already has a setup under the fixed names (the key pair, CheckConnectivity,
the bucket) is left out and reported: a StackSet never takes over what is there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from annex_cdk.aws.organizations import ExistingSetup, Organizations, existing_setup
from annex_cdk.aws.session import AwsTarget
from annex_cdk.aws.stacksets import (
    InstanceInfo,
    Operation,
    Preferences,
    StackSetInfo,
    StackSets,
    template_equal,
)
from annex_cdk.errors import UsageError
from annex_cdk.ops.org_overrides import cidr_slots, slot_cidrs
from annex_cdk.ops.synth_cache import remember, synth_templates
from annex_cdk.templates.load import body
from annex_stacks import names, stack_specs
from annex_stacks.settings import AnnexSettings

Progress = Callable[[str, str, int, int], None]
DEFAULT_PREFERENCES = Preferences()


def _quiet(name: str, status: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class OrgRequest:
    """What `org deploy` (and `org diff`) are asked for."""

    ous: tuple[str, ...]
    regions: tuple[str, ...]
    #: The settings flags; allowed_cidrs are the defaults of every account.
    settings: AnnexSettings
    #: Account -> its own CIDRs (the overrides file).
    overrides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    preferences: Preferences = field(default_factory=Preferences)
    retain_on_removal: bool = False
    delegated_admin: bool = False
    #: The role in each member account through which an existing setup is looked for.
    member_role: str = names.ORG_ACCESS_ROLE


@dataclass(frozen=True)
class StackSetOutcome:
    name: str
    #: created, updated or unchanged (the StackSet itself).
    action: str
    operations: tuple[tuple[str, Operation], ...] = ()

    @property
    def ok(self) -> bool:
        return all(op.ok for _, op in self.operations)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "ok": self.ok,
            "operations": [
                {
                    "what": what,
                    "id": op.id,
                    "status": op.status,
                    "reason": op.reason,
                    "failed": [
                        {"account": r.account, "region": r.region, "reason": r.reason}
                        for r in op.results
                        if r.status == "FAILED"
                    ],
                }
                for what, op in self.operations
            ],
        }


@dataclass(frozen=True)
class OrgDeployReport:
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    stack_sets: tuple[StackSetOutcome, ...]
    collisions: tuple[ExistingSetup, ...]
    unchecked: tuple[ExistingSetup, ...]
    activated_access: bool

    @property
    def ok(self) -> bool:
        return not self.collisions and all(s.ok for s in self.stack_sets)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": list(self.accounts),
            "regions": list(self.regions),
            "activated_organizations_access": self.activated_access,
            "stack_sets": [s.as_dict() for s in self.stack_sets],
            "collisions": [
                {"account": c.account, "region": c.region, "taken": list(c.taken)}
                for c in self.collisions
            ],
            "unchecked": [
                {"account": c.account, "region": c.region, "reason": c.unreadable}
                for c in self.unchecked
            ],
            "ok": self.ok,
        }


def org_settings(settings: AnnexSettings) -> AnnexSettings:
    """The settings the StackSets' templates are synthesized with: the CIDRs as parameters,
    a key pair in every account (a member account has none of its own to bring)."""
    return dataclasses.replace(
        settings,
        allowed_cidrs=(),
        cidrs_from_collector=None,
        cidr_parameters=True,
        create_key_pair=True,
    )


def org_templates(settings: AnnexSettings) -> dict[str, str]:
    """StackSet name -> its template body, for the core stacks (one synthesis, cached)."""
    synthesized = synth_templates(org_settings(settings))
    if not synthesized.cached:
        remember(synthesized)
    return {
        name: body(synthesized.templates[name])
        for name in stack_specs.CORE_STACKS
        if name in synthesized.templates
    }


def _parameters(name: str, cidrs: tuple[str, ...]) -> dict[str, str]:
    return cidr_slots(cidrs) if name == names.SECURITY_GROUP_STACK else {}


def _tags(name: str, settings: AnnexSettings) -> dict[str, str]:
    return {**settings.extra_tags, names.TAG_SETUP: names.TAG_SETUP_VALUE, names.TAG_STACK: name}


def _stale(
    info: StackSetInfo,
    template: str,
    parameters: dict[str, str],
    request: OrgRequest,
    tags: dict[str, str],
) -> list[str]:
    """What of the StackSet differs from what deploy wants (empty: nothing)."""
    changes = []
    if not template_equal(info.template, template):
        changes.append("template")
    if info.parameters != parameters:
        changes.append("parameters")
    if info.tags != tags:
        changes.append("tags")
    retain = bool(info.auto_deployment.get("RetainStacksOnAccountRemoval"))
    if not info.auto_deployment.get("Enabled") or retain != request.retain_on_removal:
        changes.append("automatic deployment")
    return changes


def _collisions(
    target: AwsTarget, request: OrgRequest, pairs: list[tuple[str, str]]
) -> list[ExistingSetup]:
    if not pairs:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(pairs))) as pool:
        return list(
            pool.map(lambda p: existing_setup(target, p[0], p[1], request.member_role), pairs)
        )


def run_org_deploy(
    target: AwsTarget, request: OrgRequest, *, progress: Progress = _quiet
) -> OrgDeployReport:
    templates = org_templates(request.settings)
    stack_sets = StackSets(target, delegated_admin=request.delegated_admin)
    members = Organizations(target).accounts_under(request.ous)
    in_ous = {m.id for m in members}
    if strangers := sorted(set(request.overrides) - in_ous):
        raise UsageError(
            f"--overrides names account(s) {', '.join(strangers)}, not in {', '.join(request.ous)}",
            hint="remove them from the file, or add their OU with --ou",
        )
    activated = False if request.delegated_admin else stack_sets.ensure_organizations_access()
    infos = {name: stack_sets.describe(name) for name in templates}
    placed = {
        name: {(i.account, i.region) for i in stack_sets.instances(name)} if info else set()
        for name, info in infos.items()
    }
    # A new (account, Region) for any StackSet is where a setup may already be.
    new = sorted(
        {
            (m.id, r)
            for m in members
            for r in request.regions
            for name in templates
            if (m.id, r) not in placed[name]
        }
    )
    found = _collisions(target, request, new)
    collisions = tuple(f for f in found if f.taken)
    unchecked = tuple(f for f in found if f.unreadable)
    left_out = sorted({c.account for c in collisions})
    deployed = [m.id for m in members if m.id not in left_out]

    def one(name: str) -> StackSetOutcome:
        info = infos[name]
        parameters = _parameters(name, request.settings.allowed_cidrs)
        tags = _tags(name, request.settings)
        kwargs: dict[str, Any] = {
            "template": templates[name],
            "description": stack_specs.spec(name).description,
            "parameters": parameters,
            "tags": tags,
            "retain_on_removal": request.retain_on_removal,
        }
        operations: list[tuple[str, Operation]] = []

        def wait(what: str, operation_id: str) -> bool:
            operation = stack_sets.wait(name, operation_id, progress=progress)
            operations.append((what, operation))
            return operation.ok

        if info is None:
            stack_sets.create(name, **kwargs)
            action = "created"
        elif _stale(info, templates[name], parameters, request, tags):
            if not wait(
                "update", stack_sets.update(name, preferences=request.preferences, **kwargs)
            ):
                return StackSetOutcome(name, "updated", tuple(operations))
            action = "updated"
        else:
            action = "unchanged"
        missing = any((a, r) not in placed[name] for a in deployed for r in request.regions)
        if deployed and missing:
            ok = wait(
                "create instances",
                stack_sets.create_instances(
                    name,
                    ous=request.ous,
                    regions=request.regions,
                    preferences=request.preferences,
                    accounts=left_out,
                ),
            )
            if not ok:
                return StackSetOutcome(name, action, tuple(operations))
        if parameters:
            for account in deployed:
                own = request.overrides.get(account)
                current = slot_cidrs(stack_sets.overrides(name, account, request.regions[0]))
                if (own is None and not current) or (own is not None and current == own):
                    continue
                # No overrides (an empty list) sets the account back to the StackSet's values.
                wanted = _parameters(name, own) if own is not None else {}
                wait(
                    f"overrides for {account}",
                    stack_sets.override(
                        name,
                        ous=request.ous,
                        account=account,
                        regions=request.regions,
                        overrides=wanted,
                        preferences=request.preferences,
                    ),
                )
        return StackSetOutcome(name, action, tuple(operations))

    with ThreadPoolExecutor(max_workers=len(templates)) as pool:
        outcomes = tuple(pool.map(one, templates))
    return OrgDeployReport(
        accounts=tuple(deployed),
        regions=request.regions,
        stack_sets=outcomes,
        collisions=collisions,
        unchecked=unchecked,
        activated_access=activated,
    )


# --- status ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackSetState:
    name: str
    status: str | None
    drift_status: str | None = None
    #: Why drift detection did not complete (the status was read).
    drift_error: str | None = None
    #: Why the StackSet could not be read.
    error: str | None = None


@dataclass(frozen=True)
class OrgStatusReport:
    stack_sets: tuple[StackSetState, ...]
    #: (account, Region) -> StackSet name -> its instance there.
    matrix: dict[tuple[str, str], dict[str, InstanceInfo]]

    @property
    def ok(self) -> bool:
        """Whether every StackSet's status could be read (the instances' states are below)."""
        return all(s.error is None for s in self.stack_sets)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack_sets": [dataclasses.asdict(s) for s in self.stack_sets],
            "instances": [
                {
                    "account": account,
                    "region": region,
                    "stack": name,
                    "status": i.status,
                    "detailed_status": i.detailed,
                    "reason": i.reason,
                    "drift": i.drift,
                    "stack_id": i.stack_id,
                }
                for (account, region), row in sorted(self.matrix.items())
                for name, i in row.items()
            ],
            "ok": self.ok,
        }


def run_org_status(
    target: AwsTarget,
    *,
    delegated_admin: bool = False,
    drift: bool = True,
    preferences: Preferences = DEFAULT_PREFERENCES,
    progress: Progress = _quiet,
) -> OrgStatusReport:
    stack_sets = StackSets(target, delegated_admin=delegated_admin)

    def one(name: str) -> tuple[StackSetState, list[InstanceInfo]]:
        try:
            info = stack_sets.describe(name)
            if info is None:
                return StackSetState(name, None), []
            drift_status = drift_error = None
            if drift and stack_sets.instances(name):
                operation = stack_sets.wait(
                    name, stack_sets.detect_drift(name, preferences), progress=progress
                )
                drift_status = (stack_sets.describe(name) or info).drift_status
                if not operation.ok:
                    drift_error = f"drift detection {operation.status}: {operation.reason}"
            state = StackSetState(name, info.status, drift_status, drift_error=drift_error)
            return state, stack_sets.instances(name)
        except UsageError:
            raise  # the caller's standing (aws/stacksets.py), the same for every StackSet
        except Exception as err:  # one unreadable StackSet must not hide the others
            return StackSetState(
                name, None, error=str(err).splitlines()[0] if str(err) else type(err).__name__
            ), []

    with ThreadPoolExecutor(max_workers=len(stack_specs.CORE_STACKS)) as pool:
        read = list(pool.map(one, stack_specs.CORE_STACKS))
    matrix: dict[tuple[str, str], dict[str, InstanceInfo]] = {}
    for state, instances in read:
        for instance in instances:
            matrix.setdefault((instance.account, instance.region), {})[state.name] = instance
    return OrgStatusReport(tuple(s for s, _ in read), matrix)


# --- diff --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackSetDiff:
    name: str
    #: create, update or none.
    action: str
    changes: tuple[str, ...] = ()
    new_instances: tuple[tuple[str, str], ...] = ()
    overrides: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.action != "none" or bool(self.new_instances or self.overrides)


@dataclass(frozen=True)
class OrgDiffReport:
    stack_sets: tuple[StackSetDiff, ...]

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.stack_sets)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack_sets": [
                {
                    "name": s.name,
                    "action": s.action,
                    "changes": list(s.changes),
                    "new_instances": [{"account": a, "region": r} for a, r in s.new_instances],
                    "overrides": list(s.overrides),
                }
                for s in self.stack_sets
            ],
            "changed": self.changed,
            "ok": True,
        }


def run_org_diff(target: AwsTarget, request: OrgRequest) -> OrgDiffReport:
    """What `org deploy` with the same request would change (reads only)."""
    templates = org_templates(request.settings)
    stack_sets = StackSets(target, delegated_admin=request.delegated_admin)
    members = Organizations(target).accounts_under(request.ous)

    def one(name: str) -> StackSetDiff:
        info = stack_sets.describe(name)
        parameters = _parameters(name, request.settings.allowed_cidrs)
        wanted = [(m.id, r) for m in members for r in request.regions]
        if info is None:
            return StackSetDiff(name, "create", new_instances=tuple(wanted))
        changes = _stale(info, templates[name], parameters, request, _tags(name, request.settings))
        placed = {(i.account, i.region) for i in stack_sets.instances(name)}
        overrides = []
        if parameters:
            for member in members:
                if (member.id, request.regions[0]) not in placed:
                    continue
                current = slot_cidrs(stack_sets.overrides(name, member.id, request.regions[0]))
                own = request.overrides.get(member.id)
                if own is not None and current != own:
                    overrides.append(
                        f"{member.id}: {', '.join(current) or 'defaults'} -> {', '.join(own)}"
                    )
                elif own is None and current:
                    overrides.append(f"{member.id}: {', '.join(current)} -> defaults")
        return StackSetDiff(
            name,
            "update" if changes else "none",
            tuple(changes),
            tuple(p for p in wanted if p not in placed),
            tuple(overrides),
        )

    with ThreadPoolExecutor(max_workers=len(templates)) as pool:
        return OrgDiffReport(tuple(pool.map(one, templates)))


# --- destroy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgDestroyReport:
    #: StackSet name -> removed, absent, or why it stays.
    outcomes: dict[str, str]
    operations: tuple[tuple[str, Operation], ...]

    @property
    def ok(self) -> bool:
        return all(v in ("removed", "absent") for v in self.outcomes.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack_sets": [{"name": n, "outcome": o} for n, o in self.outcomes.items()],
            "failed": [
                {"stack_set": name, "account": r.account, "region": r.region, "reason": r.reason}
                for name, op in self.operations
                for r in op.results
                if r.status == "FAILED"
            ],
            "ok": self.ok,
        }


def planned_destroy(target: AwsTarget, *, delegated_admin: bool = False) -> dict[str, int]:
    """StackSet name -> how many instances it has, for the StackSets destroy would remove."""
    stack_sets = StackSets(target, delegated_admin=delegated_admin)
    return {
        name: len(stack_sets.instances(name))
        for name in stack_specs.CORE_STACKS
        if stack_sets.describe(name) is not None
    }


def run_org_destroy(
    target: AwsTarget,
    *,
    delegated_admin: bool = False,
    preferences: Preferences = DEFAULT_PREFERENCES,
    progress: Progress = _quiet,
) -> OrgDestroyReport:
    """Remove every instance of each StackSet (its stacks with them), then the StackSet."""
    stack_sets = StackSets(target, delegated_admin=delegated_admin)
    operations: list[tuple[str, Operation]] = []

    def one(name: str) -> str:
        if stack_sets.describe(name) is None:
            return "absent"
        instances = stack_sets.instances(name)
        if instances:
            ous = sorted({i.ou for i in instances if i.ou})
            regions = sorted({i.region for i in instances})
            operation = stack_sets.wait(
                name,
                stack_sets.delete_instances(
                    name, ous=ous, regions=regions, preferences=preferences
                ),
                progress=progress,
            )
            operations.append((name, operation))
            left = stack_sets.instances(name)
            if left:
                first = next((i for i in left if i.reason), left[0])
                return (
                    f"kept: {len(left)} instance(s) left, e.g. {first.account} {first.region}: "
                    f"{first.reason or first.status}"
                )
        stack_sets.delete(name)
        return "removed"

    with ThreadPoolExecutor(max_workers=len(stack_specs.CORE_STACKS)) as pool:
        outcomes = dict(
            zip(stack_specs.CORE_STACKS, pool.map(one, stack_specs.CORE_STACKS), strict=True)
        )
    return OrgDestroyReport(outcomes, tuple(operations))
