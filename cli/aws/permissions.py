"""setup's permission pre-flight: IAM's policy simulator, asked whether the caller holds
`annex-cdk policy` (iam:SimulatePrincipalPolicy), before anything changes."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from functools import partial
from typing import Any

from annex_cdk import console
from annex_cdk.aws.parallel import gather
from annex_cdk.aws.session import AwsTarget
from annex_cdk.env import env_flag
from annex_cdk.errors import PermissionsError
from annex_stacks import names
from annex_stacks.policy import Grant, grants
from annex_stacks.settings import AnnexSettings

#: What stands in for a name part chosen at run time when a resource is simulated.
_SAMPLE = "annex-cdk-preflight"


def settings_grants(
    settings: AnnexSettings, actions: Mapping[str, Set[str]] | None = None
) -> list[Grant]:
    """The statements for a resolved setup (account and region known); `actions` by scope
    narrows them (the CI roles' sets, annex_stacks/policy/ci_roles.py)."""
    if not settings.region or not settings.account:
        raise ValueError("the pre-flight needs settings with a region and an account")
    return grants(
        region=settings.region,
        account=settings.account,
        bucket=settings.bucket_name,
        key_pair_name=settings.key_pair_name,
        actions=actions,
        # The image stack's statements are a second policy, asked for only when it is wanted.
        build_image=settings.build_image,
        guardrail=settings.guardrail,
        condor_user=settings.condor_user,
    )


def principal_arn(caller_arn: str) -> str | None:
    """The IAM principal whose policies IAM can simulate for this caller; None if there is none.

    An assumed role's session ARN (sts ... assumed-role/NAME/SESSION) becomes the role's ARN.
    The root user and federated users have no policies of their own to simulate.
    """
    m = re.match(r"^arn:([\w-]+):(iam|sts)::(\d{12}):(.+)$", caller_arn)
    if not m:
        return None
    partition, service, account, resource = m.groups()
    if service == "iam" and resource.startswith("user/"):
        return caller_arn
    if service == "sts" and resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        # A role with a path (e.g. SSO's /aws-reserved/...) is not found under this ARN; the
        # simulation then reports NoSuchEntity and the pre-flight steps aside.
        return f"arn:{partition}:iam::{account}:role/{role}"
    return None


def sample(resource: str) -> str:
    """A concrete ARN inside a pattern: what a run-time name could be."""
    return resource if resource == "*" else resource.replace("*", _SAMPLE)


def context_entries(items: Iterable[Grant]) -> list[dict[str, Any]]:
    """Values that satisfy every condition in the policy, so that a caller holding exactly this
    policy simulates as allowed (IAM treats a missing context key as a failed condition)."""
    entries: dict[str, tuple[str, str]] = {}
    for grant in items:
        for operator, keys in (grant.condition or {}).items():
            if operator == "Null":  # a presence check: the other operator's value fills it
                continue
            # A set operator's key is multivalued: IAM's simulator takes it as a list.
            kind = "stringList" if operator.startswith("For") else "string"
            for key, value in keys.items():
                first = value[0] if isinstance(value, list) else value
                entries.setdefault(key, (sample(first), kind))
    return [
        {"ContextKeyName": k, "ContextKeyValues": [v], "ContextKeyType": kind}
        for k, (v, kind) in sorted(entries.items())
    ]


def simulation_batches(items: Iterable[Grant]) -> list[tuple[list[str], list[str]]]:
    """(actions, sample resources) per statement. Wildcard actions are skipped: IAM simulates
    single actions only, and each family stands for reads CloudFormation makes anyway. Resources
    with a policy variable (the caller's own user) are skipped too: a caller who can run the
    simulation holds that right."""
    batches = []
    for grant in items:
        actions = [a for a in grant.actions if "*" not in a]
        resources = [sample(r) for r in grant.resources if "${" not in r]
        if actions and resources:
            batches.append((actions, resources))
    return batches


def allowed_actions(results: Iterable[Mapping[str, Any]]) -> set[str]:
    """Actions the simulation allows on at least one of the sample resources.

    A statement may list resources of several types (a role and an instance profile); each
    action needs only its own type, so one allowed resource is enough.
    """
    allowed = set()
    for result in results:
        per_resource = result.get("ResourceSpecificResults") or []
        decisions = [r.get("EvalResourceDecision") for r in per_resource] or [
            result.get("EvalDecision")
        ]
        if "allowed" in decisions:
            allowed.add(result["EvalActionName"])
    return allowed


@dataclass(frozen=True)
class Simulation:
    """What IAM's policy simulator said of the caller, by who denies: the caller's own policies
    (`missing`), the organization's SCPs (`by_organization`: OrganizationsDecisionDetail), or
    the caller's permissions boundary (`by_boundary`). `principal` None: no simulation was
    possible (`skipped` says why), and nothing is known."""

    principal: str | None
    missing: tuple[str, ...] = ()
    by_organization: tuple[str, ...] = ()
    by_boundary: tuple[str, ...] = ()
    skipped: str = ""


def _details(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(result.get("ResourceSpecificResults") or []) or [result]


def denied_by(results: Iterable[Mapping[str, Any]], detail: str, flag: str) -> set[str]:
    """Actions not allowed where IAM's decision detail `detail` says `flag` is false: the
    organization's SCPs or a permissions boundary denied them, whatever the caller's policies."""
    return {
        r["EvalActionName"]
        for r in results
        if any((d.get(detail) or {}).get(flag) is False for d in [r, *_details(r)])
    }


def evaluate_actions(
    simulate: Callable[[list[str], list[str]], list[Mapping[str, Any]]],
    items: list[Grant],
    extra: Sequence[str] = (),
) -> tuple[list[str], list[str], list[str]]:
    """(missing, denied by the organization, denied by a boundary), each sorted, given
    `simulate(actions, resources) -> EvaluationResults`; `extra` actions are asked about on *."""
    batches = simulation_batches(items)
    if extra:
        batches.append((list(extra), ["*"]))
    wanted = {a.lower(): a for actions, _ in batches for a in actions}
    # The ~20 statements are simulated at once, or the pre-flight would add seconds to setup.
    simulated = gather((partial(simulate, *batch) for batch in batches), name="simulate")
    results = [r for found in simulated for r in found]
    allowed = {a.lower() for a in allowed_actions(results)}
    # An organization's or a boundary's denial on any sample resource is the call's: the call
    # touches that resource (RunInstances is authorized on the instance, the image, ... each).
    org = {
        a.lower()
        for a in denied_by(results, "OrganizationsDecisionDetail", "AllowedByOrganizations")
    }
    boundary = {
        a.lower()
        for a in denied_by(
            results, "PermissionsBoundaryDecisionDetail", "AllowedByPermissionsBoundary"
        )
    } - org

    def named(keys: Iterable[str]) -> list[str]:
        return sorted((wanted[k] for k in keys if k in wanted), key=str.lower)

    return named(set(wanted) - allowed - org - boundary), named(org), named(boundary)


def missing_actions(
    simulate: Callable[[list[str], list[str]], list[Mapping[str, Any]]],
    items: list[Grant],
) -> list[str]:
    """Every action the caller lacks, given `simulate(actions, resources) -> EvaluationResults`."""
    missing, org, boundary = evaluate_actions(simulate, items)
    return sorted([*missing, *org, *boundary], key=str.lower)


def simulate_permissions(
    target: AwsTarget,
    settings: AnnexSettings,
    actions: Mapping[str, Set[str]] | None = None,
    *,
    extra: Sequence[str] = (),
) -> Simulation:
    """Ask IAM's policy simulator about every action of the policy (`actions` by scope: only
    those, e.g. a pipeline's diff needs the plan role's reads), with the condition values the
    policy requires and the permissions boundary the roles will carry; never ec2:Metadata*,
    which condor_annex's launches do not send. `extra`: actions outside the policy that this
    run would call (CreateDefaultVpc), asked about on *.

    No simulation wherever it is not possible: the root user, a principal it cannot find, no
    right to simulate, or an endpoint without the API.
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError  # an emulator's HTML error page

    items = settings_grants(settings, actions)
    context = context_entries(items)
    if settings.permissions_boundary:
        context.append(
            {
                "ContextKeyName": "iam:PermissionsBoundary",
                "ContextKeyValues": [settings.permissions_boundary],
                "ContextKeyType": "string",
            }
        )
    try:
        caller = target.caller_arn()
        principal = principal_arn(caller)
        if principal is None:
            return Simulation(None, skipped=f"{caller} has no IAM policies to simulate")
        iam = target.client("iam", quick=True)

        def simulate(actions: list[str], resources: list[str]) -> list[Mapping[str, Any]]:
            request: dict[str, Any] = {
                "PolicySourceArn": principal,
                "ActionNames": actions,
                "ContextEntries": context,
            }
            if resources != ["*"]:  # no ResourceArns is IAM's own spelling of "*"
                request["ResourceArns"] = resources
            pages = iam.get_paginator("simulate_principal_policy").paginate(**request)
            return [r for page in pages for r in page["EvaluationResults"]]

        missing, org, boundary = evaluate_actions(simulate, items, extra)
    except (ClientError, BotoCoreError, ResponseParserError) as err:
        return Simulation(None, skipped=f"{err.__class__.__name__}: {err}")
    return Simulation(principal, tuple(missing), tuple(org), tuple(boundary))


def permissions_error(
    simulation: Simulation,
    settings: AnnexSettings,
    actions: Mapping[str, Set[str]] | None = None,
) -> PermissionsError:
    """The caller's own policies lack `simulation.missing`: what to attach."""
    missing = simulation.missing
    command = f"annex-cdk policy --region {settings.region} --account {settings.account}"
    if settings.key_pair_name != names.KEY_PAIR_NAME:
        command += f" --key-name {shlex.quote(settings.key_pair_name)}"
    if settings.bucket_name:
        command += f" --bucket {settings.bucket_name}"
    hint = f"attach the policy `{command}` prints (IAM's policy simulator found the gap)"
    if actions is not None:
        hint = f"use the roles of {names.CI_ROLES_STACK} (setup --ci-roles), or attach " + hint
    return PermissionsError(
        f"{simulation.principal} lacks {len(missing)} permission(s) that annex-cdk and "
        f"condor_annex need: {', '.join(missing)}",
        hint=hint,
    )


def check_permissions(
    target: AwsTarget,
    settings: AnnexSettings,
    actions: Mapping[str, Set[str]] | None = None,
) -> Simulation:
    """Fail before anything changes when IAM says the caller's own policies lack part of the
    policy; the organization's and a boundary's denials are the caller's to judge (setup's
    account pre-flight names them as such). Steps aside, with a debug note, where no
    simulation is possible."""
    simulation = simulate_permissions(target, settings, actions)
    if simulation.principal is None:
        debug_note(f"permission pre-flight skipped: {simulation.skipped}")
    elif simulation.missing:
        raise permissions_error(simulation, settings, actions)
    return simulation


def debug_note(message: str) -> None:
    # --debug's environment variable; the note is for whoever wonders why nothing was checked.
    if env_flag("ANNEX_CDK_DEBUG"):
        console.info(f"debug: {message}")
