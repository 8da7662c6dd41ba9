"""The spend guardrail as the CLI sees it: what runs now (measured by the guardrail function's
own code, lambda_src/guardrail.py), the function's caps and last run, the heartbeat, the budget.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from annex_cdk.aws.session import AwsTarget, MappedClient
from annex_lambda_src import guardrail as fn
from annex_stacks import names


@dataclass(frozen=True)
class Deployed:
    """The deployed function's configuration: the caps it enforces and where it keeps state."""

    caps: fn.Caps
    bucket: str
    heartbeat_minutes: int | None


@dataclass(frozen=True)
class BudgetState:
    name: str
    limit: float
    actual: float
    forecast: float | None
    unit: str


class GuardrailAccount:
    """One account and region, read (and the heartbeat written) with the caller's rights."""

    def __init__(self, target: AwsTarget) -> None:
        self.region = target.region
        self._ec2, self._s3, self._ssm, self._lambda = (
            target.client(n) for n in ("ec2", "s3", "ssm", "lambda")
        )
        # The Price List API answers in us-east-1 for every region's prices.
        self._pricing = MappedClient(
            target.session.create_client(
                "pricing", region_name=fn.PRICE_LIST_REGION, endpoint_url=target.endpoint_url
            ),
            target,
        )
        self._budgets = target.client("budgets")
        self._target = target

    def deployed(self) -> Deployed | None:
        """The guardrail function's configuration; None when the guardrail is not set up."""
        try:
            config = self._lambda.get_function_configuration(FunctionName=names.GUARDRAIL_FUNCTION)
        except self._lambda.exceptions.ResourceNotFoundException:
            return None
        env = config.get("Environment", {}).get("Variables", {})
        parsed = fn.config_from_env(env)
        return Deployed(
            caps=parsed.caps,
            bucket=parsed.bucket,
            heartbeat_minutes=parsed.heartbeat_minutes,
        )

    def measure(self, ledger: dict[str, Any], now: float) -> fn.Measurement:
        """What runs now and today's figures, computed as the guardrail function computes
        them (its own code), from its ledger of today's earlier runs."""
        return fn.measure(self._ec2, self._pricing, self.region, ledger, now)

    def state(self, bucket: str) -> dict[str, Any]:
        """The function's state object ({} before its first run)."""
        try:
            body = self._s3.get_object(Bucket=bucket, Key=names.GUARDRAIL_STATE_KEY)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return {}
        loaded = json.loads(body)
        return loaded if isinstance(loaded, dict) else {}

    def heartbeat_written(self) -> float | None:
        """When the heartbeat was last written (epoch seconds, AWS's clock); None: never."""
        try:
            found = self._ssm.get_parameter(Name=names.GUARDRAIL_HEARTBEAT_PARAMETER)
        except self._ssm.exceptions.ParameterNotFound:
            return None
        return float(found["Parameter"]["LastModifiedDate"].timestamp())

    def write_heartbeat(self, note: str) -> float:
        """Refresh the heartbeat; returns when AWS recorded it."""
        self._ssm.put_parameter(
            Name=names.GUARDRAIL_HEARTBEAT_PARAMETER, Value=note, Type="String", Overwrite=True
        )
        written = self.heartbeat_written()
        if written is None:  # only if someone deleted it in between
            raise RuntimeError("the heartbeat parameter vanished right after it was written")
        return written

    def budget(self) -> BudgetState | None:
        try:
            found = self._budgets.describe_budget(
                AccountId=self._target.account_id(), BudgetName=names.GUARDRAIL_BUDGET
            )["Budget"]
        except self._budgets.exceptions.NotFoundException:
            return None
        spend = found.get("CalculatedSpend", {})
        forecast = spend.get("ForecastedSpend")
        return BudgetState(
            name=names.GUARDRAIL_BUDGET,
            limit=float(found["BudgetLimit"]["Amount"]),
            actual=float(spend.get("ActualSpend", {}).get("Amount", 0)),
            forecast=float(forecast["Amount"]) if forecast else None,
            unit=str(found["BudgetLimit"]["Unit"]),
        )


class DenyPolicy:
    """The guardrail's Deny policy and the identities it is attached to."""

    def __init__(self, target: AwsTarget, arn: str) -> None:
        self.arn = arn
        self._iam = target.client("iam")

    def attached(self) -> list[str]:
        """ "user/NAME" and "role/NAME" of every identity the policy is attached to."""
        found = self._iam.list_entities_for_policy(PolicyArn=self.arn)
        return [f"user/{u['UserName']}" for u in found.get("PolicyUsers", [])] + [
            f"role/{r['RoleName']}" for r in found.get("PolicyRoles", [])
        ]

    def attach(self, identity: str) -> str | None:
        """Attach it to "user/NAME" or "role/NAME"; None, or why IAM refused."""
        kind, _, name = identity.partition("/")
        try:
            if kind == "user":
                self._iam.attach_user_policy(UserName=name, PolicyArn=self.arn)
            else:
                self._iam.attach_role_policy(RoleName=name, PolicyArn=self.arn)
        except self._iam.exceptions.ClientError as err:
            return str(err.response.get("Error", {}).get("Message") or err)
        return None

    def detach_all(self) -> list[str]:
        """Detach it everywhere (IAM deletes no attached policy); what it was attached to."""
        try:
            identities = self.attached()
        except self._iam.exceptions.NoSuchEntityException:
            return []
        for identity in identities:
            kind, _, name = identity.partition("/")
            if kind == "user":
                self._iam.detach_user_policy(UserName=name, PolicyArn=self.arn)
            else:
                self._iam.detach_role_policy(RoleName=name, PolicyArn=self.arn)
        return identities


def make_annex_user(target: AwsTarget, name: str, deny_arn: str) -> tuple[str, str]:
    """The rehearsal's stand-in for condor_annex's identity: an IAM user allowed to launch
    (condor_annex's RunInstances with its PassRole and tags) and holding the guardrail's Deny;
    its access key (id, secret)."""
    iam = target.client("iam")
    iam.create_user(UserName=name)
    launch = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ec2:RunInstances", "ec2:CreateTags", "iam:PassRole"],
                "Resource": "*",
            }
        ],
    }
    iam.put_user_policy(UserName=name, PolicyName="launch", PolicyDocument=json.dumps(launch))
    iam.attach_user_policy(UserName=name, PolicyArn=deny_arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


def remove_annex_user(target: AwsTarget, name: str) -> None:
    iam = target.client("iam")
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user_policy(UserName=name, PolicyName="launch")
    for policy in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=name, PolicyArn=policy["PolicyArn"])
    iam.delete_user(UserName=name)


def live_annex_instances(target: AwsTarget) -> list[dict[str, Any]]:
    return fn.live_annex_instances(target.client("ec2"))
