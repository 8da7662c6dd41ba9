"""What condor_annex does at run time to start an annex and extend its lease, call by call.

Each function follows condor_annex's source (htcondor/htcondor, src/annex/, read at commit
7491a145f64a1c2393ed0933375874344fa44f9f); the line numbers below are that commit's. The
rehearsal replays these calls against the emulator, and the least-privilege tests replay them
as a user who holds exactly the `annex-cdk policy` document.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from annex_cdk.aws.session import AwsTarget
from annex_stacks import names

#: annex-create.cpp / annex-update.cpp (`annexName.substr( 0, 27 )`): the annex ID.
ANNEX_ID_LENGTH = 27
#: PutRule.cpp:52-54: every lease rule fires every five minutes.
LEASE_SCHEDULE = "rate(5 minutes)"
#: ANNEX_DEFAULT_LEASE_DURATION's default (condor_annex_setup.md §8.1): 50 minutes.
DEFAULT_LEASE_SECONDS = 3000
#: OnDemandRequest.cpp's default instance type (ANNEX_DEFAULT_ODI_INSTANCE_TYPE).
DEFAULT_INSTANCE_TYPE = "m4.large"


def annex_id(annex_name: str) -> str:
    """annex-create.cpp / annex-update.cpp: the name truncated to 27 characters."""
    return annex_name[:ANNEX_ID_LENGTH]


def client_token(annex: str) -> str:
    """generate-id.cpp:55-56: `%.27s_%.36s` of the annex ID and a fresh UUID."""
    return f"{annex[:ANNEX_ID_LENGTH]}_{uuid.uuid4()}"


def config_key(annex_name: str) -> str:
    """annex.cpp:1437: the tarball's key, `config-<annex name>.tar.gz` in the default bucket."""
    return f"config-{annex_name}.tar.gz"


def lease_input(annex: str, upload_to: str, expiry: int) -> str:
    """PutTargets.cpp:30-45: the rule target's constant input, as condor_annex writes it.

    The bucket is UploadTo up to its first '/'. `-duration` (annex-update.cpp:114-121) builds
    PutTargets from a command without UploadTo, so its input says "S3BucketName": "".
    ClassAdJsonUnParser (src/classad/jsonSink.cpp:321-346, not one-line) puts each attribute on
    its own line, indented two spaces; EventBridge hands the Lambda the parsed object.
    """
    bucket = upload_to.split("/", 1)[0]
    attrs = {"AnnexID": annex, "S3BucketName": bucket, "LeaseExpiration": int(expiry)}
    lines = ",".join(f'\n  "{k}": {json.dumps(v)}' for k, v in attrs.items())
    return "{" + lines + "\n}"


@dataclass(frozen=True)
class Annex:
    """One annex as condor_annex starts it."""

    name: str
    bucket: str
    lease_function_arn: str

    @property
    def id(self) -> str:
        return annex_id(self.name)

    @property
    def upload_to(self) -> str:
        return f"{self.bucket}/{config_key(self.name)}"


def upload_config(s3: Any, annex: Annex, tarball: bytes) -> None:
    """UploadFile.cpp via annex-create.cpp:314-320: S3 PutObject of the config tarball."""
    s3.put_object(Bucket=annex.bucket, Key=config_key(annex.name), Body=tarball)


def put_lease(events: Any, annex: Annex, expiry: int, *, upload_to: str) -> None:
    """PutRule.cpp:52-54 then PutTargets.cpp:66-68 (rule, target id and input)."""
    events.put_rule(Name=annex.id, ScheduleExpression=LEASE_SCHEDULE, State="ENABLED")
    events.put_targets(
        Rule=annex.id,
        Targets=[
            {
                "Id": annex.id,
                "Arn": annex.lease_function_arn,
                "Input": lease_input(annex.id, upload_to, expiry),
            }
        ],
    )


def start_lease(events: Any, annex: Annex, expiry: int) -> None:
    """annex-create.cpp:331-339: the create-time lease names the upload's bucket."""
    put_lease(events, annex, expiry, upload_to=annex.upload_to)


def extend_lease(events: Any, annex: Annex, expiry: int) -> None:
    """annex-update.cpp:114-121 (`-annex-name N -duration H`): no UploadTo, so no bucket."""
    put_lease(events, annex, expiry, upload_to="")


def run_instances(
    ec2: Any,
    annex: Annex,
    *,
    image_id: str,
    instance_profile_arn: str,
    security_group_ids: list[str],
    key_name: str | None,
    count: int = 1,
    instance_type: str = DEFAULT_INSTANCE_TYPE,
) -> list[str]:
    """OnDemandRequest.cpp:160-195: RunInstances with the client token and the annex tag."""
    extra = {"KeyName": key_name} if key_name else {}
    out = ec2.run_instances(
        ImageId=image_id,
        InstanceType=instance_type,
        MinCount=count,
        MaxCount=count,
        ClientToken=client_token(annex.id),
        IamInstanceProfile={"Arn": instance_profile_arn},
        SecurityGroupIds=security_group_ids,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": names.TAG_ANNEX_NAME, "Value": annex.id}],
            }
        ],
        **extra,
    )
    return [i["InstanceId"] for i in out["Instances"]]


def request_spot_fleet(
    ec2: Any,
    annex: Annex,
    *,
    fleet_role_arn: str,
    image_id: str,
    instance_profile_arn: str,
    security_group_ids: list[str],
    count: int = 1,
    instance_type: str = DEFAULT_INSTANCE_TYPE,
) -> str:
    """BulkRequest.cpp:95-125 and 343: the user's fleet config with condor_annex's client token
    and an htcondor:AnnexName tag on each launch specification."""
    out = ec2.request_spot_fleet(
        SpotFleetRequestConfig={
            "ClientToken": client_token(annex.id),
            "TargetCapacity": count,
            "IamFleetRole": fleet_role_arn,
            "AllocationStrategy": "lowestPrice",
            "LaunchSpecifications": [
                {
                    "ImageId": image_id,
                    "InstanceType": instance_type,
                    "IamInstanceProfile": {"Arn": instance_profile_arn},
                    "SecurityGroups": [{"GroupId": g} for g in security_group_ids],
                    "TagSpecifications": [
                        {
                            "ResourceType": "instance",
                            "Tags": [{"Key": names.TAG_ANNEX_NAME, "Value": annex.id}],
                        }
                    ],
                }
            ],
        }
    )
    return str(out["SpotFleetRequestId"])


class AnnexAccount:
    """condor_annex's calls above, and what the rehearsal reads back, on one account."""

    def __init__(self, target: AwsTarget) -> None:
        self._s3, self._ec2, self._events = (target.client(n) for n in ("s3", "ec2", "events"))

    def upload_config(self, annex: Annex, tarball: bytes) -> None:
        upload_config(self._s3, annex, tarball)

    def start_lease(self, annex: Annex, expiry: int) -> None:
        start_lease(self._events, annex, expiry)

    def extend_lease(self, annex: Annex, expiry: int) -> None:
        extend_lease(self._events, annex, expiry)

    def run_instances(self, annex: Annex, **kwargs: Any) -> list[str]:
        return run_instances(self._ec2, annex, **kwargs)

    def request_spot_fleet(self, annex: Annex, **kwargs: Any) -> str:
        return request_spot_fleet(self._ec2, annex, **kwargs)

    def fleet_instances(self, fleet_id: str) -> list[str]:
        found = self._ec2.describe_spot_fleet_instances(SpotFleetRequestId=fleet_id)
        return [i["InstanceId"] for i in found["ActiveInstances"]]

    def fleet_cancelled(self, fleet_id: str) -> bool:
        configs = self._ec2.describe_spot_fleet_requests()["SpotFleetRequestConfigs"]
        states = {c["SpotFleetRequestId"]: c["SpotFleetRequestState"] for c in configs}
        return str(states.get(fleet_id, "cancelled")).startswith("cancelled")

    def instance_states(self, ids: list[str]) -> set[str]:
        found = self._ec2.describe_instances(InstanceIds=ids)["Reservations"]
        return {i["State"]["Name"] for r in found for i in r["Instances"]}

    def terminate(self, ids: list[str]) -> None:
        self._ec2.terminate_instances(InstanceIds=ids)

    def lease_input(self, annex: Annex) -> dict[str, Any]:
        """The input of the lease rule's one target."""
        (target,) = self._events.list_targets_by_rule(Rule=annex.id)["Targets"]
        return dict(json.loads(target["Input"]))

    def lease_rules(self, annex: Annex) -> set[str]:
        return {r["Name"] for r in self._events.list_rules(NamePrefix=annex.id)["Rules"]}

    def config_objects(self, annex: Annex) -> int:
        """How many objects the annex's config tarball key names in its bucket."""
        found = self._s3.list_objects_v2(Bucket=annex.bucket, Prefix=config_key(annex.name))
        return int(found.get("KeyCount", 0))


def refusal(call: Callable[[], object]) -> str | None:
    """AWS's refusal of one replayed call (its message), or None when AWS allowed it."""
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as err:
        return str(err)
    return None
