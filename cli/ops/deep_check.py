"""`check-setup --deep`: local config, stack outputs and live resources must agree.

condor_annex -check-setup only asks whether four stacks exist. These checks look inside: a
console edit, a hand-added rule or a stale config line is a finding, and each finding names the
command that repairs it. Only the AWS wrappers and the HTCondor parser: no aws_cdk here either.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from annex_cdk.aws.cfn import CloudFormation, DriftUnavailable
from annex_cdk.aws.ec2 import Ec2, Rule
from annex_cdk.aws.engine import DEPLOYED, Live
from annex_cdk.aws.iam import Iam
from annex_cdk.aws.lambda_functions import Lambda
from annex_cdk.aws.parallel import gather, settle
from annex_cdk.aws.resources import gone_resources_of
from annex_cdk.aws.service import ResourceNotFound
from annex_cdk.aws.session import AwsTarget
from annex_cdk.aws.ssm import Ssm
from annex_cdk.condor import user_config
from annex_cdk.condor.files import read_optional
from annex_cdk.condor.key_files import mask
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.errors import UsageError
from annex_cdk.ops.check_report import Check, CheckReport
from annex_cdk.ops.check_report import fix_line as _fix_line
from annex_stacks import names
from annex_stacks.facade import recorded_context
from annex_stacks.stack_specs import output_for_key, switched_off

# Runtimes AWS has deprecated (Lambda runtime table); a function on one still runs but can no
# longer be updated, and condor_annex's own history is a string of such upgrades.
DEPRECATED_RUNTIMES = frozenset(
    {
        "python2.7", "python3.6", "python3.7", "python3.8", "python3.9",
        "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10",
        "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x", "nodejs18.x",
    }
)  # fmt: skip
BOOT_SCRIPT_RE = re.compile(r"^arn:aws:s3:::([^/]*)/config-\*\.tar\.gz")


@dataclass(frozen=True)
class DeepInputs:
    """What the deep checks read: one read of the stacks (templates included) serves them all.
    `paths` None (--no-local): no local file is read."""

    target: AwsTarget
    paths: LocalPaths | None
    live: Mapping[str, Live]

    @cached_property
    def outputs(self) -> dict[str, dict[str, str]]:
        return {n: dict(lv.state.outputs) for n, lv in self.live.items() if lv.state.exists}

    @cached_property
    def templates(self) -> dict[str, Any]:
        return {n: lv.template for n, lv in self.live.items() if lv.template}

    @property
    def local(self) -> LocalPaths:
        if self.paths is None:
            raise UsageError("this check reads local files, and --no-local reads none")
        return self.paths


@dataclass(frozen=True)
class DeepCheck:
    """One deep check: `id` prefixes the name of every finding it makes; `stack` is the stack
    it looks into (None: each stack, or the config against all of them); `reads_local`: it
    reads the config or the PEM, so --no-local skips it (and never fetches the private key)."""

    id: str
    stack: str | None
    run: Callable[[DeepInputs], list[Check]]
    reads_local: bool = False


def run_deep_checks(
    report: CheckReport,
    target: AwsTarget,
    paths: LocalPaths | None,
    live: Mapping[str, Live],
    checks: Mapping[str, DeepCheck] | None = None,
) -> None:
    """Run the registered checks (default: DEEP_CHECKS) at once, adding their findings in the
    registry's order whatever order they finish in. An error is raised as if they had run one
    by one: after the findings of the checks before it."""
    inputs = DeepInputs(target, paths, live)
    inputs.outputs, inputs.templates  # noqa: B018 - made once, before the threads share them
    chosen = [
        check
        for check in (DEEP_CHECKS if checks is None else checks).values()
        if not (check.reads_local and paths is None)
    ]
    for outcome in settle((partial(c.run, inputs) for c in chosen), name="deep-check"):
        if isinstance(outcome.error, ResourceNotFound):
            # A resource deleted by hand: the existence check has named it, with its fix.
            continue
        for found in outcome.get():
            report.add(found)


def _resources_exist(inputs: DeepInputs) -> list[Check]:
    """Every stack setup makes, and every resource each stack claims, must exist."""
    target = inputs.target
    found = []
    fix = f"annex-cdk setup --yes --region {target.region}"
    recorded = recorded_context(inputs.templates)
    # By the stack's id: in a member account it is a StackSet's, under another name.
    read = {
        stack: lv.state.stack_id or stack
        for stack, lv in inputs.live.items()
        if lv.state.exists and lv.state.status in DEPLOYED
    }
    gone_of = gone_resources_of(target, read.values())
    for stack, lv in inputs.live.items():
        what = f"that the resources of {stack} exist"
        if not lv.state.exists:
            if switched_off(stack, recorded):
                continue  # e.g. the user's own key pair: setup made no stack for it
            found.append(
                _fix_line(f"{names.DEEP_EXISTS}:{stack}", False, what, "the stack is missing", fix)
            )
            continue
        if lv.state.status not in DEPLOYED:
            continue  # the plain checks report the stack's status
        gone = gone_of[read[stack]]
        for g in gone:
            problem = f"{g.what} ({g.logical_id}) was deleted outside annex-cdk"
            found.append(_fix_line(f"{names.DEEP_EXISTS}:{stack}", False, what, problem, fix))
        if not gone:
            found.append(_fix_line(f"{names.DEEP_EXISTS}:{stack}", True, what))
    return found


def _expected_config(outputs: dict[str, dict[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for stack_outputs in outputs.values():
        merged.update(stack_outputs)
    want = {key: merged[out] for key, out in output_for_key().items() if out in merged}
    if names.OUT_KEY_PAIR_NAME in merged:
        want[names.KEY_KEY_NAME] = merged[names.OUT_KEY_PAIR_NAME]
    return want


def _config_matches_outputs(inputs: DeepInputs) -> list[Check]:
    paths, region = inputs.local, inputs.target.region
    want = _expected_config(inputs.outputs)
    if not want:
        return []
    problems = user_config.check_effective(
        paths.user_config, region, want, base_config=paths.base_config()
    )
    if not problems:
        return [_fix_line(names.DEEP_CONFIG, True, "that the config matches the stack outputs")]
    return [
        _fix_line(
            names.DEEP_CONFIG,
            False,
            "that the config matches the stack outputs",
            problem,
            "edit or remove the line named above"
            if "set again at" in problem
            else f"annex-cdk write-config --region {region}",
        )
        for problem in problems
    ]


def _instance_role(inputs: DeepInputs) -> list[Check]:
    target, outputs = inputs.target, inputs.outputs
    bucket = outputs.get(names.BUCKET_STACK, {}).get(names.OUT_BUCKET)
    if not bucket or names.INSTANCE_PROFILE_STACK not in outputs:
        return []
    # By the stack's id: in a member account it is a StackSet's, under another name.
    profile_stack = inputs.live[names.INSTANCE_PROFILE_STACK].state
    role = CloudFormation(target).physical_id(
        profile_stack.stack_id or profile_stack.name, names.LID_INSTANCE_ROLE
    )
    buckets = []
    for doc in Iam(target).role_inline_policies(role):
        for statement in doc.get("Statement", []):
            resources = statement.get("Resource", [])
            for resource in resources if isinstance(resources, list) else [resources]:
                if m := BOOT_SCRIPT_RE.match(resource):
                    buckets.append(m.group(1))
    what = "the instance role's config-*.tar.gz resource"
    if buckets and buckets[0] == bucket:
        return [_fix_line(names.DEEP_INSTANCE_ROLE, True, what)]
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/{names.CONFIG_OBJECT_PATTERN}",
                }
            ],
        }
    )
    problem = (
        f"the first config-*.tar.gz resource names bucket {buckets[0]!r}, not {bucket!r}"
        if buckets
        else "no policy of the role holds arn:aws:s3:::<bucket>/config-*.tar.gz: annex "
        "instances will not find their configuration"
    )
    fix = (
        f"aws iam put-role-policy --role-name {role} --policy-name Configuration "
        f"--policy-document {shlex.quote(document)}"
    )
    return [_fix_line(names.DEEP_INSTANCE_ROLE, False, what, problem, fix)]


def _lambda_runtimes(inputs: DeepInputs) -> list[Check]:
    target = inputs.target
    fn_outputs = inputs.outputs.get(names.LAMBDA_STACK, {})
    resources = inputs.templates.get(names.LAMBDA_STACK, {}).get("Resources", {})
    lam = Lambda(target)
    deployed = [
        (lid, fn_outputs[out])
        for lid, out in (
            (names.LID_ODI_FUNCTION, names.OUT_ODI_LEASE),
            (names.LID_SFR_FUNCTION, names.OUT_SFR_LEASE),
            (names.LID_CC_FUNCTION, names.OUT_CHECK_CONNECTIVITY),
        )
        if fn_outputs.get(out)
    ]
    configurations = gather(partial(lam.configuration, arn) for _, arn in deployed)
    found = []
    for (lid, arn), configuration in zip(deployed, configurations, strict=True):
        runtime = configuration.runtime
        wanted = resources.get(lid, {}).get("Properties", {}).get("Runtime", runtime)
        what = f"the runtime of {lid}"
        if runtime in DEPRECATED_RUNTIMES or runtime != wanted:
            problem = (
                f"{runtime} is deprecated by AWS"
                if runtime in DEPRECATED_RUNTIMES
                else f"{runtime}, not {wanted} as deployed by annex-cdk"
            )
            fix = (
                f"aws lambda update-function-configuration --function-name {arn} --runtime {wanted}"
                if wanted not in DEPRECATED_RUNTIMES
                else f"annex-cdk setup --region {target.region}"
            )
            found.append(_fix_line(f"{names.DEEP_RUNTIME}:{lid}", False, what, problem, fix))
        else:
            found.append(_fix_line(f"{names.DEEP_RUNTIME}:{lid}", True, what))
    return found


def _rules_in_template(template: dict[str, Any], parameters: Mapping[str, str]) -> set[Rule]:
    """The template's ingress rules; a StackSet's conditional ones (`Fn::If` on a CIDR
    parameter, AWS::NoValue when it is empty) with the stack's parameter values."""
    group = template.get("Resources", {}).get(names.LID_SECURITY_GROUP, {}).get("Properties", {})
    declared = template.get("Parameters", {})

    def value(item: Any) -> Any:
        if isinstance(item, dict) and set(item) == {"Ref"}:
            return parameters.get(item["Ref"], declared.get(item["Ref"], {}).get("Default"))
        return item

    rules = []
    for rule in group.get("SecurityGroupIngress", []):
        if isinstance(rule, dict) and "Fn::If" in rule:
            rule = rule["Fn::If"][1]  # the condition is that the rule's CIDR is not empty
        cidr = value(rule.get("CidrIp")) or value(rule.get("CidrIpv6"))
        if cidr:
            rules.append(
                (str(rule["IpProtocol"]), int(rule["FromPort"]), int(rule["ToPort"]), cidr)
            )
    return set(rules)


def _permission(rule: Rule) -> str:
    proto, low, high, source = rule
    if source.startswith("sg-"):
        ranges = f"UserIdGroupPairs=[{{GroupId={source}}}]"
    elif ":" in source:
        ranges = f"Ipv6Ranges=[{{CidrIpv6={source}}}]"
    else:
        ranges = f"IpRanges=[{{CidrIp={source}}}]"
    return shlex.quote(f"IpProtocol={proto},FromPort={low},ToPort={high},{ranges}")


def _security_group(inputs: DeepInputs) -> list[Check]:
    target, templates = inputs.target, inputs.templates
    sg = inputs.outputs.get(names.SECURITY_GROUP_STACK, {}).get(names.OUT_SECURITY_GROUP)
    if not sg or names.SECURITY_GROUP_STACK not in templates:
        return []
    live = Ec2(target).ingress_rules(sg)
    wanted = _rules_in_template(
        templates[names.SECURITY_GROUP_STACK],
        inputs.live[names.SECURITY_GROUP_STACK].state.parameters,
    )
    what = f"the ingress rules of {sg}"
    found = []
    for rule in sorted(live - wanted):
        problem = f"extra rule {rule[0]} {rule[1]}-{rule[2]} from {rule[3]}, not made by annex-cdk"
        fix = (
            f"aws ec2 revoke-security-group-ingress --region {target.region} --group-id {sg} "
            f"--ip-permissions {_permission(rule)}"
        )
        found.append(_fix_line(names.DEEP_SECURITY_GROUP, False, what, problem, fix))
    for rule in sorted(wanted - live):
        problem = f"missing rule {rule[0]} {rule[1]}-{rule[2]} from {rule[3]}"
        fix = (
            f"aws ec2 authorize-security-group-ingress --region {target.region} --group-id {sg} "
            f"--ip-permissions {_permission(rule)}"
        )
        found.append(_fix_line(names.DEEP_SECURITY_GROUP, False, what, problem, fix))
    return found or [_fix_line(names.DEEP_SECURITY_GROUP, True, what)]


def _pem(inputs: DeepInputs) -> list[Check]:
    target, paths = inputs.target, inputs.local
    key_outputs = inputs.outputs.get(names.KEY_PAIR_STACK, {})
    name, parameter = (
        key_outputs.get(names.OUT_KEY_PAIR_NAME),
        key_outputs.get(names.OUT_KEY_PAIR_PARAMETER),
    )
    if not name or not parameter:
        return []
    pem = paths.pem(target.region, name)
    what = f"that {pem} is the key pair's private key"
    if not pem.exists():
        return [
            _fix_line(
                names.DEEP_PEM, False, what, "the file is missing",
                f"annex-cdk write-config --region {target.region}",
            )
        ]  # fmt: skip
    secret = Ssm(target).secret(parameter)
    if secret is None:
        return [
            _fix_line(
                names.DEEP_PEM, False, what,
                f"the key pair's private key parameter {parameter} is gone: the PEM cannot be "
                "compared (nor re-written if lost)",
                f"annex-cdk setup --yes --region {target.region}",
            )
        ]  # fmt: skip
    if pem.read_text().strip() == secret.strip():
        return [_fix_line(names.DEEP_PEM, True, what)]
    return [
        _fix_line(
            names.DEEP_PEM, False, what, "it holds another key",
            f"mv {shlex.quote(str(pem))} {shlex.quote(str(pem))}.old && "
            f"annex-cdk write-config --region {target.region}",
        )
    ]  # fmt: skip


def _drift(inputs: DeepInputs) -> list[Check]:
    """CloudFormation's own drift detection, where the endpoint offers it."""
    cfn = CloudFormation(inputs.target)
    stacks = {
        name: lv.state.stack_id or name for name, lv in inputs.live.items() if lv.state.exists
    }
    # Every stack's detection at once: each takes seconds on AWS.
    detected = settle((partial(cfn.drift, s) for s in stacks.values()), name="drift")
    found = []
    for name, outcome in zip(stacks, detected, strict=True):
        what = f"CloudFormation drift of {name}"
        if isinstance(outcome.error, DriftUnavailable):
            return [
                Check(
                    names.DEEP_DRIFT,
                    True,
                    "Checking CloudFormation drift... not available at this endpoint.",
                )
            ]
        drift = outcome.get()
        if not drift.drifted:
            found.append(_fix_line(f"{names.DEEP_DRIFT}:{name}", True, what))
            continue
        ids = ", ".join(f"{lid} {status}" for lid, status in drift.resources)
        found.append(
            _fix_line(
                f"{names.DEEP_DRIFT}:{name}", False, what, f"drifted: {ids or drift.status}",
                "see the findings above for the exact repair, then re-run check-setup --deep",
            )
        )  # fmt: skip
    return found


def _condor_user_key(inputs: DeepInputs) -> list[Check]:
    """condor_annex's own key (setup --condor-user): the configured key file holds one of that
    user's keys, and the key is younger than CONDOR_USER_KEY_MAX_AGE_DAYS (by IAM's clock)."""
    target, paths = inputs.target, inputs.local
    outputs = CloudFormation(target).outputs_if_deployed(names.CONDOR_USER_STACK) or {}
    user = outputs.get(names.OUT_CONDOR_USER)
    if not user:
        return []
    keys, now = Iam(target).access_keys_and_now(user)
    configured = paths.effective([names.KEY_ACCESS_KEY_FILE], target.region).get(
        names.KEY_ACCESS_KEY_FILE
    )
    what = f"that {names.KEY_ACCESS_KEY_FILE} holds a key of {user}"
    held = read_optional(Path(configured)) if configured else None
    key_id = held.decode("ascii", "replace").strip() if held else None
    key = next((k for k in keys if k.key_id == key_id), None)
    if key is None:
        problem = f"it is {configured or 'not set'}, which holds " + (
            "no key of that user" if configured else "nothing"
        )
        if configured and Path(configured).name == names.CONDOR_USER_PUBLIC_KEY_FILE:
            fix = f"annex-cdk credentials --rotate --region {target.region}"
        else:
            fix = f"annex-cdk setup --condor-user --region {target.region}"
        return [_fix_line(names.DEEP_CONDOR_USER_KEY, False, what, problem, fix)]
    found = [_fix_line(names.DEEP_CONDOR_USER_KEY, True, what)]
    days = (now - key.created).days
    age = f"the age of condor_annex's own key {mask(key.key_id)}"
    if days <= names.CONDOR_USER_KEY_MAX_AGE_DAYS:
        found.append(Check(f"{names.DEEP_CONDOR_USER_KEY}:age", True, f"Checking {age}... OK."))
    else:
        # A warning, not a failure: the key still works.
        fix = f"annex-cdk credentials --rotate --region {target.region}"
        problem = f"{days} days old, past {names.CONDOR_USER_KEY_MAX_AGE_DAYS}: rotate it (warning)"
        line = f"Checking {age}... {problem}\n\tfix: {fix}"
        found.append(Check(f"{names.DEEP_CONDOR_USER_KEY}:age", True, line, problem, fix))
    return found


#: Every deep check, by id, in the order they run (and report).
DEEP_CHECKS: Mapping[str, DeepCheck] = MappingProxyType(
    {
        check.id: check
        for check in (
            DeepCheck(names.DEEP_EXISTS, None, _resources_exist),
            DeepCheck(names.DEEP_CONFIG, None, _config_matches_outputs, reads_local=True),
            DeepCheck(names.DEEP_INSTANCE_ROLE, names.INSTANCE_PROFILE_STACK, _instance_role),
            DeepCheck(names.DEEP_RUNTIME, names.LAMBDA_STACK, _lambda_runtimes),
            DeepCheck(names.DEEP_SECURITY_GROUP, names.SECURITY_GROUP_STACK, _security_group),
            DeepCheck(names.DEEP_PEM, names.KEY_PAIR_STACK, _pem, reads_local=True),
            DeepCheck(names.DEEP_DRIFT, None, _drift),
            DeepCheck(
                names.DEEP_CONDOR_USER_KEY,
                names.CONDOR_USER_STACK,
                _condor_user_key,
                reads_local=True,
            ),
        )
    }
)
