"""The emulator's clock (schedules fire on it, instances launch on it), Scheduler schedules, Lambda Invoke of deployed Python code, Budgets as
resources and the Price List, each through boto3 as a client sees them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from annex_emulator import price_list
from annex_emulator.server import EmulatorProcess

REGION = "us-east-1"
BUCKET = "schedule-test-bucket"
#: Records the clock it reads and writes an object with the credentials and endpoint it got.
CODE = """
import json, os, time
import boto3

def handler(event, context):
    now = time.time()
    boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key=f"ran-{int(now)}", Body=b"x")
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    return {"now": now, "event": event, "region": os.environ["AWS_REGION"]}
"""


def _trust(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def _template(invoke_allowed: bool) -> dict[str, Any]:
    invoke = {
        "Effect": "Allow",
        "Action": "lambda:InvokeFunction",
        "Resource": {"Fn::GetAtt": ["Fn", "Arn"]}
        if invoke_allowed
        else "arn:aws:lambda:us-east-1:123456789012:function:other",
    }
    return {
        "Resources": {
            "FnRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": _trust("lambda.amazonaws.com")},
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.13",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["FnRole", "Arn"]},
                    "Timeout": 30,
                    "Code": {"ZipFile": CODE},
                    "Environment": {"Variables": {"BUCKET": BUCKET}},
                },
            },
            "SchedulerRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": _trust("scheduler.amazonaws.com"),
                    "Policies": [
                        {
                            "PolicyName": "invoke",
                            "PolicyDocument": {"Version": "2012-10-17", "Statement": [invoke]},
                        }
                    ],
                },
            },
            "Every5": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "ScheduleExpression": "rate(5 minutes)",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": {
                        "Arn": {"Fn::GetAtt": ["Fn", "Arn"]},
                        "RoleArn": {"Fn::GetAtt": ["SchedulerRole", "Arn"]},
                        "Input": json.dumps({"from": "schedule"}),
                    },
                },
            },
            "Budget": {
                "Type": "AWS::Budgets::Budget",
                "Properties": {
                    "Budget": {
                        "BudgetName": "annex-monthly",
                        "BudgetType": "COST",
                        "TimeUnit": "MONTHLY",
                        "BudgetLimit": {"Amount": 100, "Unit": "USD"},
                    },
                    "NotificationsWithSubscribers": [
                        {
                            "Notification": {
                                "NotificationType": kind,
                                "ComparisonOperator": "GREATER_THAN",
                                "Threshold": 80,
                            },
                            "Subscribers": [
                                {"SubscriptionType": "EMAIL", "Address": "ops@example.org"}
                            ],
                        }
                        for kind in ("ACTUAL", "FORECASTED")
                    ],
                },
            },
        },
        "Outputs": {
            "Fn": {"Value": {"Ref": "Fn"}},
            "Schedule": {"Value": {"Fn::GetAtt": ["Every5", "Arn"]}},
        },
    }


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(region=REGION) as process:
        yield process


@pytest.fixture
def aws(emu: EmulatorProcess) -> Any:
    emu.reset()
    session = boto3.session.Session()
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(service, **emu.boto3_kwargs())
        return clients[service]

    client("s3").create_bucket(Bucket=BUCKET)
    return client


def _deploy(aws: Any, invoke_allowed: bool = True) -> dict[str, str]:
    cfn = aws("cloudformation")
    name = f"sched-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(_template(invoke_allowed)),
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_a_rate_schedule_fires_its_function_on_the_advanced_clock(
    aws: Any, emu: EmulatorProcess
) -> None:
    out = _deploy(aws)
    assert emu.advance_clock(4 * 60)["fired"] == []  # not yet a period since creation
    reply = emu.advance_clock(7 * 60)  # now 11 minutes: due at 5 and 10
    fired = reply["fired"]
    assert [f["schedule"] for f in fired] == [out["Schedule"]] * 2
    assert all(f["ok"] for f in fired), fired
    assert fired[0]["result"]["event"] == {"from": "schedule"}
    # The function's clock read the due time, not the real one.
    assert fired[1]["result"]["now"] - fired[0]["result"]["now"] == pytest.approx(300, abs=5)
    assert fired[1]["result"]["now"] == pytest.approx(reply["now"] - 60, abs=5)
    keys = aws("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)
    assert keys == 2  # with the credentials and endpoint the emulator gave it


def test_instances_launch_on_the_advanced_clock(aws: Any, emu: EmulatorProcess) -> None:
    ec2 = aws("ec2")
    before = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    now = emu.advance_clock(2 * 86400)["now"]
    after = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    assert after["LaunchTime"].timestamp() == pytest.approx(now, abs=5)
    assert after["LaunchTime"].timestamp() - before["LaunchTime"].timestamp() == pytest.approx(
        2 * 86400, abs=5
    )


def test_a_schedule_whose_role_may_not_invoke_fails_and_says_why(
    aws: Any, emu: EmulatorProcess
) -> None:
    _deploy(aws, invoke_allowed=False)
    (fired,) = emu.advance_clock(5 * 60 + 1)["fired"]
    assert fired["ok"] is False
    assert "not allowed lambda:InvokeFunction" in fired["error"]
    assert aws("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_invoke_runs_the_deployed_code_and_reports_its_error(aws: Any) -> None:
    out = _deploy(aws)
    lam = aws("lambda")
    ok = lam.invoke(FunctionName=out["Fn"], Payload=json.dumps({"n": 1}).encode())
    assert json.loads(ok["Payload"].read())["event"] == {"n": 1}
    bad = lam.invoke(FunctionName=out["Fn"], Payload=json.dumps({"fail": True}).encode())
    assert "FunctionError" in bad
    assert json.loads(bad["Payload"].read())["errorMessage"] == "asked to fail"


def test_a_budget_resource_has_its_notifications(aws: Any) -> None:
    _deploy(aws)
    budgets = aws("budgets")
    budget = budgets.describe_budget(AccountId="123456789012", BudgetName="annex-monthly")
    assert budget["Budget"]["BudgetLimit"] == {"Amount": "100", "Unit": "USD"}
    kinds = budgets.describe_notifications_for_budget(
        AccountId="123456789012", BudgetName="annex-monthly"
    )["Notifications"]
    assert sorted(n["NotificationType"] for n in kinds) == ["ACTUAL", "FORECASTED"]


def test_the_price_list_matches_every_filter_and_knows_only_its_table(aws: Any) -> None:
    pricing = aws("pricing")

    def prices(**attrs: str) -> list[str]:
        out = pricing.get_products(
            ServiceCode="AmazonEC2",
            Filters=[{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in attrs.items()],
        )
        return [
            dim["pricePerUnit"]["USD"]
            for item in out["PriceList"]
            for term in json.loads(item)["terms"]["OnDemand"].values()
            for dim in term["priceDimensions"].values()
        ]

    linux = prices(
        instanceType="m5.large", regionCode=REGION, operatingSystem="Linux", tenancy="Shared"
    )
    assert [float(p) for p in linux] == [price_list.LINUX_PRICES[(REGION, "m5.large")][1]]
    assert len(prices(instanceType="m5.large", regionCode=REGION)) == 3  # Windows, dedicated
    assert prices(instanceType="m6i.large", regionCode=REGION) == []
