"""The spend guardrail: caps on the annexes of one region, checked every few minutes.

It finds the annex instances of its region (condor_annex tags every one, on-demand and spot fleet
alike, with htcondor:AnnexName), measures instances, vCPUs, today's instance-hours (UTC) and an
estimate in dollars from the AWS Price List, and on a breach first arms a Deny on new annex
launches (it rewrites the managed policy that the stack attaches to condor_annex's identities),
then ends annexes, newest first, with the lease functions' own teardown. A heartbeat older than
its limit ends every annex. Untagged instances and other annexes are never touched.

Deployed, this file follows lease.py in one inline index.py (annex_stacks.handlers.bundle), so it
may import only the standard library, boto3 and lease.py.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from annex_lambda_src.lease import (
    BUCKET_ENV,
    annex_fleets,
    annex_instances,
    cancel_fleets,
    delete_annex_config,
    remove_rule,
    terminate_instances,
)

guard_log = logging.getLogger("annex.guardrail")
guard_log.setLevel(logging.INFO)

#: condor_annex's tag on every annex instance (annex_stacks.names.TAG_ANNEX_NAME).
ANNEX_TAG = "htcondor:AnnexName"
#: What the stack tells the function (annex_stacks.names.GUARDRAIL_*_ENV).
CAPS_ENV = "ANNEX_GUARDRAIL_CAPS"
DENY_POLICY_ENV = "ANNEX_GUARDRAIL_DENY_POLICY"
HEARTBEAT_PARAMETER_ENV = "ANNEX_GUARDRAIL_HEARTBEAT_PARAMETER"
HEARTBEAT_MINUTES_ENV = "ANNEX_GUARDRAIL_HEARTBEAT_MINUTES"
#: The function's memory between runs (today's ledger, the Deny, the last run) in the bucket.
STATE_KEY = "guardrail/state.json"
METRIC_NAMESPACE = "HTCondorAnnex/Guardrail"
#: The Price List API answers in us-east-1 for every region's prices.
PRICE_LIST_REGION = "us-east-1"
CAP_NAMES = ("max_instances", "max_vcpus", "max_instance_hours", "max_dollars")
_LIVE_STATES = ("pending", "running")
_DAY = 86400

#: The Deny while a cap is breached: no instance launch that carries condor_annex's annex tag,
#: and no spot fleet request (condor_annex's identities make fleets only for annexes; the fleet
#: request itself carries no tag to condition on).
DENY_ARMED: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "NoAnnexInstancesOverTheCap",
            "Effect": "Deny",
            "Action": "ec2:RunInstances",
            "Resource": "*",
            "Condition": {"Null": {f"aws:RequestTag/{ANNEX_TAG}": "false"}},
        },
        {
            "Sid": "NoSpotFleetsOverTheCap",
            "Effect": "Deny",
            "Action": "ec2:RequestSpotFleet",
            "Resource": "*",
        },
    ],
}
#: The same policy while no cap is breached: a policy needs a statement, and this one denies
#: only a launch tagged with an empty annex name, which condor_annex never makes.
DENY_DISARMED: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "NothingWhileUnderTheCaps",
            "Effect": "Deny",
            "Action": "ec2:RunInstances",
            "Resource": "*",
            "Condition": {"StringEquals": {f"aws:RequestTag/{ANNEX_TAG}": ""}},
        }
    ],
}


class GuardrailConfigError(ValueError):
    """The function's environment is not what the stack writes."""


@dataclass(frozen=True)
class Caps:
    max_instances: int | None = None
    max_vcpus: int | None = None
    max_instance_hours: float | None = None
    max_dollars: float | None = None


@dataclass(frozen=True)
class GuardrailConfig:
    caps: Caps
    bucket: str
    deny_policy_arn: str | None = None
    heartbeat_parameter: str | None = None
    heartbeat_minutes: int | None = None


def config_from_env(env: dict[str, str] | os._Environ[str]) -> GuardrailConfig:
    try:
        raw = json.loads(env.get(CAPS_ENV) or "{}")
        caps = Caps(**{k: raw.get(k) for k in CAP_NAMES})
        minutes = env.get(HEARTBEAT_MINUTES_ENV)
        return GuardrailConfig(
            caps=caps,
            bucket=env[BUCKET_ENV],
            deny_policy_arn=env.get(DENY_POLICY_ENV) or None,
            heartbeat_parameter=env.get(HEARTBEAT_PARAMETER_ENV) or None,
            heartbeat_minutes=int(minutes) if minutes else None,
        )
    except (KeyError, TypeError, ValueError) as err:
        raise GuardrailConfigError(f"bad guardrail environment: {err!r}") from None


def utc_day(now: float) -> tuple[str, float]:
    """Today's UTC date and the epoch second it began."""
    start = now - now % _DAY
    return datetime.datetime.fromtimestamp(start, datetime.UTC).date().isoformat(), start


# --- what runs ----------------------------------------------------------------------------------


def live_annex_instances(ec2: Any) -> list[dict[str, Any]]:
    """Every pending or running instance of the region that carries the annex tag."""
    found: list[dict[str, Any]] = []
    flt = [
        {"Name": "tag-key", "Values": [ANNEX_TAG]},
        {"Name": "instance-state-name", "Values": list(_LIVE_STATES)},
    ]
    for page in ec2.get_paginator("describe_instances").paginate(Filters=flt):
        for res in page["Reservations"]:
            for i in res["Instances"]:
                tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
                if i.get("State", {}).get("Name") not in _LIVE_STATES or not tags.get(ANNEX_TAG):
                    continue
                found.append(
                    {
                        "id": i["InstanceId"],
                        "annex": tags[ANNEX_TAG],
                        "type": i["InstanceType"],
                        "launched": i["LaunchTime"].timestamp(),
                        "lifecycle": i.get("InstanceLifecycle", "on-demand"),
                    }
                )
    return found


def vcpus_of(ec2: Any, types: set[str]) -> dict[str, int | None]:
    """DescribeInstanceTypes' default vCPUs per type; None where EC2 does not know the type."""
    found: dict[str, int | None] = {}
    for t in sorted(types):
        try:
            info = ec2.describe_instance_types(InstanceTypes=[t])["InstanceTypes"]
        except ec2.exceptions.ClientError as err:
            guard_log.warning("no vCPU count for %s: %s", t, err)
            info = []
        found[t] = int(info[0]["VCpuInfo"]["DefaultVCpus"]) if info else None
    return found


def price_source(region: str) -> str:
    return (
        f"AWS Price List (pricing:GetProducts, AmazonEC2 on-demand, Linux, shared tenancy, "
        f"{region}; spot instances at the on-demand price, an upper bound)"
    )


def on_demand_price(pricing: Any, region: str, instance_type: str) -> float | None:
    """The hourly on-demand USD price of a Linux, shared-tenancy instance; None if unknown."""
    match = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    }
    try:
        out = pricing.get_products(
            ServiceCode="AmazonEC2",
            Filters=[{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in match.items()],
            MaxResults=10,
        )
    except pricing.exceptions.ClientError as err:
        guard_log.warning("no price for %s in %s: %s", instance_type, region, err)
        return None
    prices = set()
    for item in out.get("PriceList", []):
        product = json.loads(item) if isinstance(item, str) else item
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dim in term.get("priceDimensions", {}).values():
                usd = dim.get("pricePerUnit", {}).get("USD")
                if dim.get("unit") == "Hrs" and usd is not None:
                    prices.add(float(usd))
    # More than one price means the filters did not pin one product: not a figure to trust.
    return prices.pop() if len(prices) == 1 else None


# --- today's ledger -----------------------------------------------------------------------------


def update_ledger(ledger: dict[str, Any], live: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """Today's instances and when each ran. An instance no longer live counts until the last
    run that saw it (or until the guardrail ended it)."""
    day, midnight = utc_day(now)
    if ledger.get("day") != day:
        ledger = {"day": day, "instances": {}}
    entries: dict[str, Any] = ledger["instances"]
    live_ids = {i["id"] for i in live}
    for i in live:
        entry = entries.setdefault(
            i["id"],
            {"annex": i["annex"], "type": i["type"], "start": max(i["launched"], midnight)},
        )
        entry["seen"] = now
        entry.pop("end", None)
    for iid, entry in entries.items():
        if iid not in live_ids and "end" not in entry:
            entry["end"] = entry.get("seen", entry["start"])
    return ledger


def ledger_hours(ledger: dict[str, Any], now: float) -> dict[str, float]:
    """Instance-hours today per instance type."""
    hours: dict[str, float] = {}
    for entry in ledger["instances"].values():
        end = entry.get("end", now)
        hours[entry["type"]] = hours.get(entry["type"], 0.0) + max(0.0, end - entry["start"]) / 3600
    return hours


# --- the Deny -----------------------------------------------------------------------------------


def set_deny(iam: Any, policy_arn: str, armed: bool) -> bool:
    """Make the managed policy's default version the armed or disarmed Deny. True if changed."""
    wanted = DENY_ARMED if armed else DENY_DISARMED
    default = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    current = iam.get_policy_version(PolicyArn=policy_arn, VersionId=default)["PolicyVersion"]
    document = current["Document"]
    if isinstance(document, str):
        document = json.loads(document)
    if document == wanted:
        return False
    # IAM keeps at most five versions; only the default one is ever needed.
    for version in iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=policy_arn, VersionId=version["VersionId"])
    iam.create_policy_version(
        PolicyArn=policy_arn, PolicyDocument=json.dumps(wanted), SetAsDefault=True
    )
    return True


# --- ending annexes -----------------------------------------------------------------------------


def _rule_bucket(events: Any, annex_id: str) -> str | None:
    """The bucket the annex's lease rule names (condor_annex's -aws-s3-config-path), if any."""
    try:
        targets = events.list_targets_by_rule(Rule=annex_id)["Targets"]
    except events.exceptions.ResourceNotFoundException:
        return None
    for target in targets:
        try:
            bucket = json.loads(target.get("Input") or "{}").get("S3BucketName")
        except ValueError:
            continue
        if isinstance(bucket, str) and bucket:
            return bucket
    return None


def _still_live(ids: list[str], ec2: Any) -> list[str]:
    """Those of `ids` still pending or running (a cancelled fleet has ended its own)."""
    if not ids:
        return []
    flt = [{"Name": "instance-state-name", "Values": list(_LIVE_STATES)}]
    pages = ec2.get_paginator("describe_instances").paginate(InstanceIds=ids, Filters=flt)
    return [i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]]


def end_annex(
    annex_id: str, tagged: list[str], *, s3: Any, ec2: Any, events: Any, bucket: str
) -> dict[str, Any]:
    """The lease functions' teardown of one annex (instances, fleets, rule, tarball, each only
    where it exists), then any of its tagged instances those did not reach."""
    named = _rule_bucket(events, annex_id)
    instances = annex_instances(annex_id, ec2)
    terminate_instances(instances, ec2)
    fleets = annex_fleets(annex_id, ec2)
    cancel_fleets(fleets, ec2)
    rest = _still_live([i for i in tagged if i not in instances], ec2)
    terminate_instances(rest, ec2)
    remove_rule(annex_id, events)
    buckets = {b: b == bucket for b in (bucket, named) if b}
    deleted = delete_annex_config(annex_id, s3, buckets)
    return {
        "annex": annex_id,
        "terminatedInstances": sorted({*instances, *rest}),
        "cancelledSpotFleetRequests": fleets,
        "deletedRule": annex_id,
        "deletedObjects": deleted,
    }


def drain_order(live: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Annexes with their instances, the newest annex (latest launch) first."""
    by_annex: dict[str, list[dict[str, Any]]] = {}
    for i in live:
        by_annex.setdefault(i["annex"], []).append(i)
    return sorted(
        by_annex.items(), key=lambda kv: (max(i["launched"] for i in kv[1]), kv[0]), reverse=True
    )


# --- one run ------------------------------------------------------------------------------------


def _load_state(s3: Any, bucket: str) -> dict[str, Any]:
    try:
        body = s3.get_object(Bucket=bucket, Key=STATE_KEY)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return {}
    try:
        state = json.loads(body)
    except ValueError:
        guard_log.warning("s3://%s/%s is not JSON; starting afresh", bucket, STATE_KEY)
        return {}
    return state if isinstance(state, dict) else {}


def heartbeat_age(ssm: Any, parameter: str | None, now: float) -> float | None:
    """Seconds since the heartbeat parameter was last written; None if there is none yet."""
    if not parameter:
        return None
    try:
        written = ssm.get_parameter(Name=parameter)["Parameter"]["LastModifiedDate"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return max(0.0, now - float(written.timestamp()))


def breaches(
    caps: Caps, usage: dict[str, Any], unknown_vcpus: list[str], unknown_prices: list[str]
) -> list[dict[str, Any]]:
    found = []

    def over(cap: str, value: Any, limit: Any, why: str | None = None) -> None:
        found.append({"cap": cap, "value": value, "limit": limit, **({"why": why} if why else {})})

    if caps.max_instances is not None and usage["instances"] > caps.max_instances:
        over("max_instances", usage["instances"], caps.max_instances)
    if caps.max_vcpus is not None:
        if unknown_vcpus:
            over("max_vcpus", None, caps.max_vcpus, f"vCPUs unknown for {unknown_vcpus}")
        elif usage["vcpus"] > caps.max_vcpus:
            over("max_vcpus", usage["vcpus"], caps.max_vcpus)
    if caps.max_instance_hours is not None and usage["instanceHours"] > caps.max_instance_hours:
        over("max_instance_hours", usage["instanceHours"], caps.max_instance_hours)
    if caps.max_dollars is not None:
        if unknown_prices:
            # An unknown price is never zero: the estimate cannot show spend is under the cap.
            over("max_dollars", None, caps.max_dollars, f"no price for {unknown_prices}")
        elif usage["dollars"] > caps.max_dollars:
            over("max_dollars", usage["dollars"], caps.max_dollars)
    return found


def _within_count_caps(
    caps: Caps, live: list[dict[str, Any]], vcpus: dict[str, int | None]
) -> bool:
    if caps.max_instances is not None and len(live) > caps.max_instances:
        return False
    if caps.max_vcpus is not None:
        counts = [vcpus.get(i["type"]) for i in live]
        if None in counts or sum(c or 0 for c in counts) > caps.max_vcpus:
            return False
    return True


def _metrics(cloudwatch: Any, usage: dict[str, Any], actions: list[dict[str, Any]]) -> None:
    data: list[dict[str, Any]] = [
        {"MetricName": "Instances", "Value": usage["instances"], "Unit": "Count"},
        {"MetricName": "VCpus", "Value": usage["vcpus"], "Unit": "Count"},
        {"MetricName": "InstanceHours", "Value": usage["instanceHours"], "Unit": "None"},
    ]
    if usage["dollars"] is not None:
        data.append({"MetricName": "EstimatedDollars", "Value": usage["dollars"], "Unit": "None"})
    counts: dict[str, int] = {}
    for action in actions:
        counts[action["action"]] = counts.get(action["action"], 0) + 1
    data += [
        {
            "MetricName": "Actions",
            "Dimensions": [{"Name": "Action", "Value": name}],
            "Value": n,
            "Unit": "Count",
        }
        for name, n in sorted(counts.items())
    ]
    cloudwatch.put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=data)


@dataclass(frozen=True)
class Measurement:
    live: list[dict[str, Any]]
    ledger: dict[str, Any]
    vcpus: dict[str, int | None]
    usage: dict[str, Any]
    unknown_vcpus: list[str]
    unknown_prices: list[str]


def measure(ec2: Any, pricing: Any, region: str, ledger: dict[str, Any], now: float) -> Measurement:
    """What runs now and what today cost, given the ledger of the runs before."""
    live = live_annex_instances(ec2)
    ledger = update_ledger(ledger, live, now)
    vcpus = vcpus_of(ec2, {i["type"] for i in live})
    hours = ledger_hours(ledger, now)
    prices = {t: on_demand_price(pricing, region, t) for t in sorted(hours)}
    unknown_prices = sorted(t for t, p in prices.items() if p is None)
    usage: dict[str, Any] = {
        "annexes": sorted({i["annex"] for i in live}),
        "instances": len(live),
        "vcpus": sum(vcpus.get(i["type"]) or 0 for i in live),
        "instanceHours": round(sum(hours.values()), 4),
        "dollars": None
        if unknown_prices
        else round(sum(h * (prices[t] or 0.0) for t, h in hours.items()), 4),
        "prices": prices,
        "priceSource": price_source(region),
    }
    unknown_vcpus = sorted(t for t, v in vcpus.items() if v is None)
    return Measurement(live, ledger, vcpus, usage, unknown_vcpus, unknown_prices)


def run_guardrail(
    config: GuardrailConfig,
    *,
    ec2: Any,
    s3: Any,
    events: Any,
    iam: Any,
    ssm: Any,
    pricing: Any,
    cloudwatch: Any,
    region: str,
    now: float,
) -> dict[str, Any]:
    """One check: measure, compare with the caps and the heartbeat, act; the report is returned,
    logged and kept in the state object."""
    caps = config.caps
    state = _load_state(s3, config.bucket)
    day, _ = utc_day(now)
    m = measure(ec2, pricing, region, state.get("ledger") or {}, now)
    live, ledger, vcpus, usage = m.live, m.ledger, m.vcpus, m.usage
    over_caps = breaches(caps, usage, m.unknown_vcpus, m.unknown_prices)
    age = heartbeat_age(ssm, config.heartbeat_parameter, now)
    stale = (
        age is not None
        and config.heartbeat_minutes is not None
        and age > config.heartbeat_minutes * 60
    )
    actions: list[dict[str, Any]] = []

    def act(name: str, **detail: Any) -> None:
        actions.append({"action": name, **detail})
        guard_log.info(json.dumps({"action": name, **detail}, sort_keys=True, default=str))

    # First stop new launches, then drain: otherwise a launch could refill what is drained.
    deny = dict(state.get("deny") or {"armed": False})
    caps_now = asdict(caps)
    if over_caps and not deny.get("armed"):
        deny = {"armed": True, "day": day, "caps": caps_now, "since": now}
    elif (
        deny.get("armed")
        and not over_caps
        and (deny.get("day") != day or deny.get("caps") != caps_now)
    ):
        deny = {"armed": False}
    if config.deny_policy_arn and set_deny(iam, config.deny_policy_arn, bool(deny["armed"])):
        act("arm-deny" if deny["armed"] else "lift-deny", policy=config.deny_policy_arn)
    elif deny["armed"] and not config.deny_policy_arn:
        guard_log.warning("over a cap, but no Deny policy is configured")

    # Spend that accrues by the hour grows while anything runs; counts shrink annex by annex.
    drain_all = stale or any(b["cap"] in ("max_instance_hours", "max_dollars") for b in over_caps)
    remaining = list(live)
    for annex_id, instances in drain_order(live):
        if not drain_all and _within_count_caps(caps, remaining, vcpus):
            break
        ended = end_annex(
            annex_id,
            [i["id"] for i in instances],
            s3=s3,
            ec2=ec2,
            events=events,
            bucket=config.bucket,
        )
        for iid in ended["terminatedInstances"]:
            if iid in ledger["instances"]:
                ledger["instances"][iid]["end"] = now
        remaining = [i for i in remaining if i["annex"] != annex_id]
        act("end-annex", why="stale heartbeat" if stale else "over a cap", **ended)

    report = {
        "time": now,
        "day": day,
        "region": region,
        "caps": caps_now,
        "usage": usage,
        "breaches": over_caps,
        "heartbeat": {
            "parameter": config.heartbeat_parameter,
            "ageSeconds": age,
            "limitMinutes": config.heartbeat_minutes,
            "stale": stale,
        },
        "deny": deny,
        "actions": actions,
    }
    state = {"ledger": ledger, "deny": deny, "lastRun": report}
    s3.put_object(
        Bucket=config.bucket,
        Key=STATE_KEY,
        Body=json.dumps(state, sort_keys=True).encode(),
        ContentType="application/json",
    )
    _metrics(cloudwatch, usage, actions)
    guard_log.info("guardrail: %s", json.dumps(report, sort_keys=True, default=str))
    return report


def guardrail_handler(event: Any, context: Any) -> dict[str, Any]:
    import boto3  # here, not at the top: as lease._clients says

    clients = {n: boto3.client(n) for n in ("ec2", "s3", "events", "iam", "ssm", "cloudwatch")}
    return run_guardrail(
        config_from_env(os.environ),
        **clients,
        pricing=boto3.client("pricing", region_name=PRICE_LIST_REGION),
        region=os.environ["AWS_REGION"],
        now=time.time(),
    )
