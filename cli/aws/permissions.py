"""setup's permission pre-flight: IAM's policy simulator, asked whether the caller holds
`annex-cdk policy` (iam:SimulatePrincipalPolicy), before anything changes."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Set
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from annex_cdk import console
from annex_cdk.aws.session import AwsTarget
from annex_cdk.env import env_flag
from annex_cdk.errors import PermissionsError
from annex_stacks import names
from annex_stacks.policy import Grant, grants
from annex_stacks.settings import AnnexSettings

#: What stands in for a name part chosen at run time when a resource is simulated.
_SAMPLE = "annex-cdk-preflight"
# The ~20 statements are simulated concurrently, or the pre-flight would add seconds to setup.
_SIMULATION_WORKERS = 8


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


def missing_actions(
    simulate: Callable[[list[str], list[str]], list[Mapping[str, Any]]],
    items: list[Grant],
) -> list[str]:
    """Every action the caller lacks, given `simulate(actions, resources) -> EvaluationResults`."""
    batches = simulation_batches(items)
    wanted = {a.lower(): a for actions, _ in batches for a in actions}
    with ThreadPoolExecutor(max_workers=_SIMULATION_WORKERS) as pool:
        results = list(pool.map(lambda batch: simulate(*batch), batches))
    allowed = {a.lower() for r in results for a in allowed_actions(r)}
    return sorted((a for key, a in wanted.items() if key not in allowed), key=str.lower)


def check_permissions(
    target: AwsTarget,
    settings: AnnexSettings,
    actions: Mapping[str, Set[str]] | None = None,
) -> None:
    """Fail before anything changes when IAM says the caller lacks part of the policy
    (`actions` by scope: only those, e.g. a pipeline's diff needs the plan role's reads).

    Steps aside, with a debug note, wherever a simulation is not possible: the root user, a
    principal it cannot find, no right to simulate, or an endpoint without the API (moto).
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError  # an emulator's HTML error page

    items = settings_grants(settings, actions)
    context = context_entries(items)
    try:
        caller = target.caller_arn()
        principal = principal_arn(caller)
        if principal is None:
            _debug(f"permission pre-flight skipped: {caller} has no IAM policies to simulate")
            return
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

        missing = missing_actions(simulate, items)
    except (ClientError, BotoCoreError, ResponseParserError) as err:
        _debug(f"permission pre-flight skipped: {err.__class__.__name__}: {err}")
        return
    if missing:
        command = f"annex-cdk policy --region {settings.region} --account {settings.account}"
        if settings.key_pair_name != names.KEY_PAIR_NAME:
            command += f" --key-name {shlex.quote(settings.key_pair_name)}"
        if settings.bucket_name:
            command += f" --bucket {settings.bucket_name}"
        hint = f"attach the policy `{command}` prints (IAM's policy simulator found the gap)"
        if actions is not None:
            hint = f"use the roles of {names.CI_ROLES_STACK} (setup --ci-roles), or attach " + hint
        raise PermissionsError(
            f"{principal} lacks {len(missing)} permission(s) that annex-cdk and condor_annex "
            f"need: {', '.join(missing)}",
            hint=hint,
        )


def _debug(message: str) -> None:
    # --debug's environment variable; the note is for whoever wonders why nothing was checked.
    if env_flag("ANNEX_CDK_DEBUG"):
        console.info(f"debug: {message}")
