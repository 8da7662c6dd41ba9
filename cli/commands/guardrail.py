"""`annex-cdk spend` and `annex-cdk heartbeat`: the spend guardrail, read and fed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from annex_cdk import console
from annex_cdk.commands.options import AwsOptions, Json, with_options

if TYPE_CHECKING:
    from annex_cdk.ops.guardrail import SpendReport

_CAP_FLAGS = {
    "max_instances": "--max-instances",
    "max_vcpus": "--max-vcpus",
    "max_instance_hours": "--max-instance-hours",
    "max_dollars": "--max-dollars",
}


def _ago(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f} min ago" if minutes < 120 else f"{minutes / 60:.1f} h ago"


def _figure(cap: str, value: Any) -> str:
    if value is None:
        return "unknown"
    if cap == "max_dollars":
        return f"${value:,.2f}"
    return f"{value:,.2f}" if cap == "max_instance_hours" else str(value)


def _print_spend(report: SpendReport) -> None:
    from annex_cdk.ops.guardrail import BUDGET_LAG_NOTE

    doc = report.as_dict()
    now, today = doc["now"], doc["today"]
    console.result(
        f"{doc['region']}: guardrail {'on' if doc['guardrail'] else 'not set up'}, {doc['time']}"
    )
    annexes = ", ".join(
        f"{a['name']} ({a['instances']} inst, {a['vcpus']} vCPU)" for a in now["annexes"]
    )
    console.result(
        f"  now:       {len(now['annexes'])} annex(es), {now['instances']} instance(s), "
        f"{now['vcpus']} vCPU(s){': ' + annexes if annexes else ''}"
    )
    dollars = "unknown price" if today["dollars"] is None else f"${today['dollars']:,.2f}"
    console.result(
        f"  today:     {today['instanceHours']:,.2f} instance-hours, {dollars} (UTC day "
        f"{today['day']}; {today['priceSource']})"
    )
    for cap in doc["caps"]:
        state = "OVER" if cap["breached"] else "ok"
        why = f" ({cap['why']})" if "why" in cap else ""
        console.result(
            f"  {_CAP_FLAGS[cap['cap']]:<21}{_figure(cap['cap'], cap['value'])} of "
            f"{_figure(cap['cap'], cap['limit'])}: {state}{why}"
        )
    if doc["guardrail"]:
        deny = doc["deny"]
        console.result(
            "  deny:      " + (f"ARMED since {deny['since']}" if deny["armed"] else "not armed")
        )
        last = doc["lastRun"]
        if last is None:
            console.result("  last run:  none yet (every five minutes)")
        else:
            did = "; ".join(f"{a['action']} {a.get('annex', '')}".strip() for a in last["actions"])
            console.result(f"  last run:  {last['time']}: {did or 'nothing to do'}")
    beat = doc["heartbeat"]
    if beat["ageSeconds"] is None:
        console.result("  heartbeat: none yet (the dead-man switch arms at the first)")
    else:
        limit = f", limit {beat['limitMinutes']} min" if beat["limitMinutes"] else ""
        stale = " STALE" if beat["stale"] else ""
        console.result(f"  heartbeat: {_ago(beat['ageSeconds'])}{limit}{stale}")
    budget = doc["budget"]
    if budget is not None:
        forecast = "" if budget["forecast"] is None else f", forecast {budget['forecast']:,.2f}"
        console.result(
            f"  budget:    {budget['name']} {budget['actual']:,.2f} of {budget['limit']:,.2f} "
            f"{budget['unit']}{forecast} ({BUDGET_LAG_NOTE})"
        )
    for note in doc["notes"]:
        console.result(f"  note:      {note}")


@with_options
def spend(aws: AwsOptions, json_out: Json = False) -> None:
    """What annexes run now and what today cost, against the spend guardrail's caps.

    Exit 1 when a cap is breached now.
    """
    from annex_cdk.ops.guardrail import run_spend

    report = run_spend(aws.target())
    if json_out:
        console.emit_json(report.as_dict(), ok=report.ok)
    else:
        _print_spend(report)
    if not report.ok:
        raise typer.Exit(1)


@with_options
def heartbeat(
    aws: AwsOptions,
    json_out: Json = False,
    classad: Annotated[
        bool,
        typer.Option(
            "--classad",
            help="Print the time as a ClassAd attribute (what a schedd cron job's output is).",
        ),
    ] = False,
) -> None:
    """Say that this access point is alive: the spend guardrail's dead-man switch."""
    from annex_cdk.ops.guardrail import run_heartbeat

    report = run_heartbeat(aws.target())
    if json_out:
        console.emit_json(report.as_dict(), ok=True)
    elif classad:
        console.result(f"AnnexHeartbeatTime = {int(report.written)}")
    else:
        console.result(f"heartbeat written to {report.parameter} at {report.as_dict()['written']}")
