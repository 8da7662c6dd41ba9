"""The rehearsal's annex phase: condor_annex starts an annex, extends it, and the lease ends it.

After setup, this replays condor_annex's own calls (`condor_annex_calls`) against the emulator for an
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

from annex_cdk.aws import condor_annex_calls
from annex_cdk.aws.cfn import CloudFormation
from annex_cdk.aws.condor_annex_calls import Annex, AnnexAccount
from annex_cdk.aws.iam import Iam
from annex_cdk.aws.lambda_functions import Lambda
from annex_cdk.aws.session import AwsTarget
from annex_cdk.ops.environ import scoped_environ
from annex_stacks import names
from annex_stacks.stack_specs import CORE_STACKS

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
    cfn = CloudFormation(target)
    found: dict[str, str] = {}
    for stack in CORE_STACKS:
        found.update(cfn.outputs(stack))
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
    cfn = CloudFormation(target)
    props = cfn.template(names.LAMBDA_STACK)["Resources"][logical_id]["Properties"]
    physical = cfn.physical_id(names.LAMBDA_STACK, logical_id)
    env = Lambda(target).configuration(physical).environment
    return props["Code"]["ZipFile"], props["Handler"], dict(env)


@contextmanager
def _lambda_env(target: AwsTarget, variables: dict[str, str]) -> Iterator[None]:
    """The environment Lambda gives a function: its variables, region and credentials; and
    the endpoint, so that the function's own AWS calls reach the emulator."""
    access_key, secret_key = target.access_keys()
    env = {
        **variables,
        "AWS_DEFAULT_REGION": target.region,
        "AWS_REGION": target.region,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
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
    module.time = types.SimpleNamespace(time=lambda: now)  # type: ignore[attr-defined]  # the lease module's own `time`, swapped for the rehearsal's clock
    with _lambda_env(target, variables):
        return getattr(module, func_name)(event, None)


def _fleet_role(target: AwsTarget) -> str:
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
    return Iam(target).ensure_role(FLEET_ROLE_NAME, trust)


def rehearse_annex(
    target: AwsTarget, kind: str, annex_name: str, condor_annex: AwsTarget | None = None
) -> AnnexOutcome:
    """kind "on-demand" or "spot-fleet": start, extend, expire, and check what is left.

    condor_annex's own calls go with `condor_annex`'s key (default `target`'s); the stacks'
    outputs, the user's fleet role and the lease functions' runs (as their role would) with
    `target`'s."""
    out = _outputs(target)
    account = AnnexAccount(condor_annex or target)
    observer = AnnexAccount(target)  # what is left afterwards, read as the account sees it
    spot = kind == "spot-fleet"
    function_lid = names.LID_SFR_FUNCTION if spot else names.LID_ODI_FUNCTION
    arn = out[names.OUT_SFR_LEASE if spot else names.OUT_ODI_LEASE]
    annex = Annex(annex_name, out[names.OUT_BUCKET], arn)
    lines: list[str] = []
    now = int(time.time())

    account.upload_config(annex, _tarball(annex_name))
    common: dict[str, Any] = {
        "image_id": REHEARSAL_IMAGE,
        "instance_profile_arn": out[names.OUT_INSTANCE_PROFILE],
        "security_group_ids": [out[names.OUT_SECURITY_GROUP]],
    }
    if spot:
        fleet = account.request_spot_fleet(annex, fleet_role_arn=_fleet_role(target), **common)
        instances = observer.fleet_instances(fleet)
        lines.append(f"spot fleet {fleet} with {len(instances)} instance(s)")
    else:
        fleet = None
        instances = account.run_instances(
            annex, key_name=out.get(names.OUT_KEY_PAIR_NAME), count=2, **common
        )
        lines.append(f"instances {', '.join(instances)}")
    # A neighbour whose name starts with this annex's: condor_annex's prefix match killed it.
    neighbour = Annex(annex_name + "2", annex.bucket, arn)
    neighbours = account.run_instances(neighbour, key_name=None, **common)
    account.start_lease(annex, now + condor_annex_calls.DEFAULT_LEASE_SECONDS)
    lines.append(f"lease rule {annex.id}: input {observer.lease_input(annex)}")

    expiry = now + 3600
    account.extend_lease(annex, expiry)
    extended = observer.lease_input(annex)
    lines.append(f"-duration 1h: input {extended}")

    early = invoke_deployed_lease(target, function_lid, extended, now=expiry)
    lines.append(f"lease function at the last second of the lease: expired={early['expired']}")
    result = invoke_deployed_lease(target, function_lid, extended, now=expiry + 1)
    lines.append(f"lease function after the lease: {json.dumps(result, sort_keys=True)}")

    rules = observer.lease_rules(annex)
    states = observer.instance_states(instances) if instances else set()
    checks: list[tuple[str, bool]] = [
        ("the lease held until it ran out", early["expired"] is False),
        ("instances terminated", states <= set(_GONE)),
        ("lease rule deleted", annex.id not in rules),
        ("config tarball deleted", observer.config_objects(annex) == 0),
    ]
    if fleet is not None:
        checks.append(("spot fleet cancelled", observer.fleet_cancelled(fleet)))
    checks.append(
        (
            f"neighbour annex {neighbour.id} untouched",
            observer.instance_states(neighbours) == {"running"},
        )
    )
    observer.terminate(neighbours)
    lines += [f"{'ok' if good else 'FAILED'}: {what}" for what, good in checks]
    return AnnexOutcome(kind, annex_name, all(good for _, good in checks), lines)


ANNEX_STEP = "annexes (replayed condor_annex)"
ANNEX_KINDS: tuple[tuple[str, str], ...] = (
    ("on-demand", "rehearsal-odi"),
    ("spot-fleet", "rehearsal-sfr"),
)


def rehearse_annexes(
    target: AwsTarget, say: Callable[[str], None], condor_annex: AwsTarget | None = None
) -> bool:
    ok = True
    for kind, annex_name in ANNEX_KINDS:
        outcome = rehearse_annex(target, kind, annex_name, condor_annex)
        for line in outcome.lines:
            say(f"  [{kind}] {line}")
        ok &= outcome.ok
    return ok
