"""`annex-cdk spend` and `annex-cdk heartbeat`: the spend guardrail from the user's side.

spend: what runs now, today's instance-hours and estimated dollars against each cap (computed by
the guardrail function's own code from its ledger), the Deny, the function's last run, the
heartbeat's age and the budget. heartbeat: the access point says it is alive.
"""

from __future__ import annotations

import datetime
import socket
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from annex_cdk.aws.cfn import CloudFormation
from annex_cdk.aws.guardrail import BudgetState, DenyPolicy, Deployed, GuardrailAccount
from annex_cdk.aws.session import AwsTarget
from annex_lambda_src.guardrail import Caps, breaches
from annex_stacks import names

#: Said wherever the budget is shown: AWS Budgets are no cap.
BUDGET_LAG_NOTE = "AWS Budgets update several times a day: hours behind the guardrail"


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")


@dataclass
class SpendReport:
    region: str
    time: float
    deployed: Deployed | None
    usage: dict[str, Any]
    per_annex: dict[str, dict[str, int]]
    caps: list[dict[str, Any]]
    deny: dict[str, Any]
    last_run: dict[str, Any] | None
    heartbeat_age: float | None
    budget: BudgetState | None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(c["breached"] for c in self.caps)

    def as_dict(self) -> dict[str, Any]:
        minutes = self.deployed.heartbeat_minutes if self.deployed else None
        age = self.heartbeat_age
        return {
            "region": self.region,
            "time": iso(self.time),
            "guardrail": self.deployed is not None,
            "now": {
                "annexes": [{"name": n, **v} for n, v in sorted(self.per_annex.items())],
                "instances": self.usage["instances"],
                "vcpus": self.usage["vcpus"],
            },
            "today": {
                "day": datetime.datetime.fromtimestamp(self.time, datetime.UTC).date().isoformat(),
                "instanceHours": self.usage["instanceHours"],
                "dollars": self.usage["dollars"],
                "prices": self.usage["prices"],
                "priceSource": self.usage["priceSource"],
            },
            "caps": self.caps,
            "deny": {"armed": bool(self.deny.get("armed")), "since": iso(self.deny.get("since"))},
            "lastRun": None
            if self.last_run is None
            else {
                "time": iso(self.last_run.get("time")),
                "actions": self.last_run.get("actions", []),
                "breaches": self.last_run.get("breaches", []),
            },
            "heartbeat": {
                "parameter": names.GUARDRAIL_HEARTBEAT_PARAMETER,
                "ageSeconds": None if age is None else round(age),
                "limitMinutes": minutes,
                "stale": age is not None and minutes is not None and age > minutes * 60,
            },
            "budget": None
            if self.budget is None
            else {
                "name": self.budget.name,
                "limit": self.budget.limit,
                "actual": self.budget.actual,
                "forecast": self.budget.forecast,
                "unit": self.budget.unit,
                "note": BUDGET_LAG_NOTE,
            },
            "notes": self.notes,
        }


def run_spend(target: AwsTarget, *, now: float | None = None) -> SpendReport:
    account = GuardrailAccount(target)
    now = time.time() if now is None else now
    deployed = account.deployed()
    state = account.state(deployed.bucket) if deployed else {}
    notes = []
    if deployed is None:
        notes.append(
            f"no {names.GUARDRAIL_STACK} in {target.region}: nothing enforces a cap here "
            "(setup --max-instances/--max-vcpus/--max-instance-hours/--max-dollars adds it)"
        )
    # The function's ledger knows today's instances that ended since; the live view adds now.
    m = account.measure(dict(state.get("ledger") or {}), now)
    per_annex: dict[str, dict[str, int]] = {}
    for i in m.live:
        entry = per_annex.setdefault(i["annex"], {"instances": 0, "vcpus": 0})
        entry["instances"] += 1
        entry["vcpus"] += m.vcpus.get(i["type"]) or 0
    caps = deployed.caps if deployed else Caps()
    over = {b["cap"]: b for b in breaches(caps, m.usage, m.unknown_vcpus, m.unknown_prices)}
    values = {
        "max_instances": m.usage["instances"],
        "max_vcpus": m.usage["vcpus"],
        "max_instance_hours": m.usage["instanceHours"],
        "max_dollars": m.usage["dollars"],
    }
    cap_rows = [
        {
            "cap": name,
            "limit": limit,
            "value": values[name],
            "breached": name in over,
            **({"why": over[name]["why"]} if "why" in over.get(name, {}) else {}),
        }
        for name, limit in asdict(caps).items()
        if limit is not None
    ]
    written = account.heartbeat_written()
    return SpendReport(
        region=target.region,
        time=now,
        deployed=deployed,
        usage=m.usage,
        per_annex=per_annex,
        caps=cap_rows,
        deny=dict(state.get("deny") or {}),
        last_run=state.get("lastRun"),
        heartbeat_age=None if written is None else max(0.0, now - written),
        budget=account.budget() if deployed else None,
        notes=notes,
    )


@dataclass(frozen=True)
class HeartbeatReport:
    region: str
    parameter: str
    written: float

    def as_dict(self) -> dict[str, Any]:
        return {"region": self.region, "parameter": self.parameter, "written": iso(self.written)}


def run_heartbeat(target: AwsTarget) -> HeartbeatReport:
    written = GuardrailAccount(target).write_heartbeat(
        f"annex-cdk heartbeat from {socket.getfqdn()}"
    )
    return HeartbeatReport(target.region, names.GUARDRAIL_HEARTBEAT_PARAMETER, written)


@dataclass(frozen=True)
class GuardrailSetup:
    """What setup did for the guardrail: where the Deny is attached, the first heartbeat."""

    region: str
    deny_policy: str
    attached: tuple[str, ...]
    heartbeat: str | None  # "written" | "kept" | None (no dead-man switch)
    #: Identities IAM would not attach it to, and why.
    refused: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "denyPolicy": self.deny_policy,
            "attachedTo": list(self.attached),
            "notAttached": dict(self.refused),
            "heartbeat": self.heartbeat,
        }

    def lines(self) -> list[str]:
        where = ", ".join(self.attached)
        out = [
            f"Spend guardrail: the Deny on annex launches ({self.deny_policy}) is attached to "
            f"{where}."
            if self.attached
            else f"Spend guardrail: the Deny on annex launches ({self.deny_policy}) is attached "
            "to no identity: attach it to the one condor_annex runs as (aws iam "
            f"attach-user-policy --user-name USER --policy-arn {self.deny_policy})."
        ]
        out += [f"  not attached to {who}: {why}" for who, why in self.refused.items()]
        if self.heartbeat == "written":
            out.append(
                "Dead-man switch armed: the first heartbeat is written; keep it fresh with "
                f"`annex-cdk condor configure --heartbeat-region {self.region}`."
            )
        return out


def after_setup(target: AwsTarget, outputs: Mapping[str, str]) -> GuardrailSetup | None:
    """After HTCondorAnnex-Guardrail deployed: attach the Deny to the identities condor_annex
    runs as that setup can name (the submit host's role; condor_annex's own user of
    HTCondorAnnex-CondorUser; the IAM user whose keys setup runs with, which are condor_annex's
    by default) and write the first heartbeat. Never refuses a
    cap for want of an identity: what could not be attached is said."""
    arn = outputs.get(names.OUT_GUARDRAIL_DENY_POLICY)
    if not arn:
        return None
    deny = DenyPolicy(target, arn)
    wanted = []
    role_arn = submit_host_role(target)
    if role_arn:
        wanted.append("role/" + role_arn.rsplit("/", 1)[-1])
    if user := condor_user(target):
        wanted.append("user/" + user)
    caller = target.caller_arn()
    if ":user/" in caller:  # an assumed role or SSO session is no identity to attach to
        wanted.append("user/" + caller.rsplit("/", 1)[-1])
    wanted = list(dict.fromkeys(wanted))
    have = set(deny.attached())
    refused = {}
    for identity in wanted:
        if identity not in have and (why := deny.attach(identity)) is not None:
            refused[identity] = why
    attached = tuple(sorted(have | (set(wanted) - set(refused))))
    account = GuardrailAccount(target)
    deployed = account.deployed()
    heartbeat = None
    if deployed is not None and deployed.heartbeat_minutes is not None:
        if account.heartbeat_written() is None:
            account.write_heartbeat("annex-cdk setup: the first heartbeat")
            heartbeat = "written"
        else:
            heartbeat = "kept"
    return GuardrailSetup(target.region, arn, attached, heartbeat, refused)


def submit_host_role(target: AwsTarget) -> str | None:
    """The submit host role's ARN, when HTCondorAnnex-SubmitHostRole is deployed."""
    outputs = CloudFormation(target).outputs_if_deployed(names.SUBMIT_HOST_STACK)
    return None if outputs is None else outputs.get(names.OUT_SUBMIT_HOST_ROLE)


def condor_user(target: AwsTarget) -> str | None:
    """condor_annex's own IAM user's name, when HTCondorAnnex-CondorUser is deployed."""
    outputs = CloudFormation(target).outputs_if_deployed(names.CONDOR_USER_STACK)
    return None if outputs is None else outputs.get(names.OUT_CONDOR_USER)
