"""The rehearsal's annex phase: condor_annex starts an annex, extends it, and the lease ends it.

After setup, this replays condor_annex's own calls (`annex_replay`) against the emulator for an
on-demand annex and for a spot-fleet annex, extends each lease as `-duration` does (an input
without a bucket), moves the clock past the lease, and runs the *deployed* lease function's code
(the inline source of the LambdaFunctions stack's template, with the function's own environment
from GetFunctionConfiguration) against the emulator. It then looks for what must be gone: the
instances or fleet, the rule and the config tarball.
"""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annex_cdk.aws.session import AwsTarget
from annex_cdk.ops import annex_replay
from annex_cdk.ops.annex_replay import Annex
from annex_cdk.ops.environ import scoped_environ
from annex_stacks import names

#: An image moto knows (its default AMIs); EC2 would need a real annex image here.
REHEARSAL_IMAGE = "ami-12c6146b"
#: condor_annex's documented fleet role name (the user makes it; setup does not).
FLEET_ROLE_NAME = "aws-ec2-spot-fleet-tagging-role"
_GONE = ("shutting-down", "terminated")


@dataclass(frozen=True)
class AnnexOutcome:
    kind: str
    annex: str
    ok: bool
    lines: list[str]


def _outputs(target: AwsTarget) -> dict[str, str]:
    cfn = target.client("cloudformation")
    found: dict[str, str] = {}
    for stack in names.ALL_STACKS:
        for out in cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", []):
            found[out["OutputKey"]] = out["OutputValue"]
    return found


def _tarball(annex_name: str) -> bytes:
    """A stand-in for condor_annex's config tarball (00ec2-dynamic.config, annex.cpp)."""
    body = f"AnnexName = {annex_name!r}\nIsAnnex = True\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("00ec2-dynamic.config")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def deployed_lease_handler(target: AwsTarget, logical_id: str) -> tuple[str, str, dict[str, str]]:
    """(inline source, handler name, environment) of a deployed lease function."""
    cfn, lam = target.client("cloudformation"), target.client("lambda")
    body = cfn.get_template(StackName=names.LAMBDA_STACK)["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    props = template["Resources"][logical_id]["Properties"]
    physical = cfn.describe_stack_resource(
        StackName=names.LAMBDA_STACK, LogicalResourceId=logical_id
    )["StackResourceDetail"]["PhysicalResourceId"]
    env = lam.get_function_configuration(FunctionName=physical).get("Environment", {})
    return props["Code"]["ZipFile"], props["Handler"], dict(env.get("Variables", {}))


@contextmanager
def _lambda_env(target: AwsTarget, variables: dict[str, str]) -> Iterator[None]:
    """The environment Lambda gives a function: its variables, region and credentials; and
    the endpoint, so that its boto3 clients reach the emulator."""
    creds = target.session.get_credentials().get_frozen_credentials()
    env = {
        **variables,
        "AWS_DEFAULT_REGION": target.region,
        "AWS_REGION": target.region,
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_ENDPOINT_URL": target.endpoint_url or "",
    }
    with scoped_environ(env):
        yield


def invoke_deployed_lease(
    target: AwsTarget, logical_id: str, event: dict[str, Any], *, now: float
) -> Any:
    """Run the deployed function's own code on `event`, with its clock at `now`."""
    source, handler, variables = deployed_lease_handler(target, logical_id)
    module_name, func_name = handler.rsplit(".", 1)
    with tempfile.TemporaryDirectory(prefix="annex-lease-") as tmp:
        path = Path(tmp) / f"{module_name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(f"deployed_{logical_id}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    # The lease has run out: the function's clock reads `now` (the rehearsal cannot wait).
    module.time = types.SimpleNamespace(time=lambda: now)  # type: ignore[attr-defined]
    with _lambda_env(target, variables):
        return getattr(module, func_name)(event, None)


def _rule_input(events: Any, annex: Annex) -> dict[str, Any]:
    (target,) = events.list_targets_by_rule(Rule=annex.id)["Targets"]
    return dict(json.loads(target["Input"]))


def _instance_states(ec2: Any, ids: list[str]) -> set[str]:
    res = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["State"]["Name"] for r in res for i in r["Instances"]}


def _fleet_gone(ec2: Any, fleet_id: str) -> bool:
    configs = ec2.describe_spot_fleet_requests()["SpotFleetRequestConfigs"]
    states = {c["SpotFleetRequestId"]: c["SpotFleetRequestState"] for c in configs}
    return states.get(fleet_id, "cancelled").startswith("cancelled")


def _fleet_role(target: AwsTarget) -> str:
    iam = target.client("iam")
    try:
        return str(iam.get_role(RoleName=FLEET_ROLE_NAME)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "spotfleet.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = iam.create_role(RoleName=FLEET_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
        return str(role["Role"]["Arn"])


def rehearse_annex(target: AwsTarget, kind: str, annex_name: str) -> AnnexOutcome:
    """kind "on-demand" or "spot-fleet": start, extend, expire, and check what is left."""
    out = _outputs(target)
    s3, ec2, events = (target.client(n) for n in ("s3", "ec2", "events"))
    spot = kind == "spot-fleet"
    function_lid = names.LID_SFR_FUNCTION if spot else names.LID_ODI_FUNCTION
    arn = out[names.OUT_SFR_LEASE if spot else names.OUT_ODI_LEASE]
    annex = Annex(annex_name, out[names.OUT_BUCKET], arn)
    lines: list[str] = []
    now = int(time.time())

    annex_replay.upload_config(s3, annex, _tarball(annex_name))
    common: dict[str, Any] = {
        "image_id": REHEARSAL_IMAGE,
        "instance_profile_arn": out[names.OUT_INSTANCE_PROFILE],
        "security_group_ids": [out[names.OUT_SECURITY_GROUP]],
    }
    if spot:
        fleet = annex_replay.request_spot_fleet(
            ec2, annex, fleet_role_arn=_fleet_role(target), **common
        )
        instances = [
            i["InstanceId"]
            for i in ec2.describe_spot_fleet_instances(SpotFleetRequestId=fleet)["ActiveInstances"]
        ]
        lines.append(f"spot fleet {fleet} with {len(instances)} instance(s)")
    else:
        fleet = None
        instances = annex_replay.run_instances(
            ec2, annex, key_name=out.get(names.OUT_KEY_PAIR_NAME), count=2, **common
        )
        lines.append(f"instances {', '.join(instances)}")
    # A neighbour whose name starts with this annex's: condor_annex's prefix match killed it.
    neighbour = Annex(annex_name + "2", annex.bucket, arn)
    neighbours = annex_replay.run_instances(ec2, neighbour, key_name=None, **common)
    annex_replay.start_lease(events, annex, now + annex_replay.DEFAULT_LEASE_SECONDS)
    lines.append(f"lease rule {annex.id}: input {_rule_input(events, annex)}")

    expiry = now + 3600
    annex_replay.extend_lease(events, annex, expiry)
    extended = _rule_input(events, annex)
    lines.append(f"-duration 1h: input {extended}")

    early = invoke_deployed_lease(target, function_lid, extended, now=expiry)
    lines.append(f"lease function at the last second of the lease: expired={early['expired']}")
    result = invoke_deployed_lease(target, function_lid, extended, now=expiry + 1)
    lines.append(f"lease function after the lease: {json.dumps(result, sort_keys=True)}")

    rules = {r["Name"] for r in events.list_rules(NamePrefix=annex.id)["Rules"]}
    objects = s3.list_objects_v2(Bucket=annex.bucket, Prefix=annex_replay.config_key(annex_name))
    states = _instance_states(ec2, instances) if instances else set()
    checks: list[tuple[str, bool]] = [
        ("the lease held until it ran out", early["expired"] is False),
        ("instances terminated", states <= set(_GONE)),
        ("lease rule deleted", annex.id not in rules),
        ("config tarball deleted", objects.get("KeyCount", 0) == 0),
    ]
    if fleet is not None:
        checks.append(("spot fleet cancelled", _fleet_gone(ec2, fleet)))
    checks.append(
        (
            f"neighbour annex {neighbour.id} untouched",
            _instance_states(ec2, neighbours) == {"running"},
        )
    )
    ec2.terminate_instances(InstanceIds=neighbours)
    lines += [f"{'ok' if good else 'FAILED'}: {what}" for what, good in checks]
    return AnnexOutcome(kind, annex_name, all(good for _, good in checks), lines)


ANNEX_STEP = "annexes (replayed condor_annex)"
ANNEX_KINDS: tuple[tuple[str, str], ...] = (
    ("on-demand", "rehearsal-odi"),
    ("spot-fleet", "rehearsal-sfr"),
)


def rehearse_annexes(target: AwsTarget, say: Callable[[str], None]) -> bool:
    ok = True
    for kind, annex_name in ANNEX_KINDS:
        outcome = rehearse_annex(target, kind, annex_name)
        for line in outcome.lines:
            say(f"  [{kind}] {line}")
        ok &= outcome.ok
    return ok
