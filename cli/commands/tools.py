"""`annex-cdk policy`, `emulator` and `rehearse`: helpers around the main path."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from annex_cdk import console
from annex_cdk.commands.options import AwsOptions, Json, with_options
from annex_cdk.errors import UsageError


@with_options
def policy(
    aws: AwsOptions,
    account: Annotated[
        str | None,
        typer.Option(
            "--account", help="12-digit AWS account id (default: the deployed one, or *)."
        ),
    ] = None,
    key_name: Annotated[str | None, typer.Option("--key-name", help="EC2 key pair name.")] = None,
    bucket: Annotated[
        str | None,
        typer.Option("--bucket", help="The configuration bucket, if not the deployed one's."),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Do not read the deployed setup; name the defaults."),
    ] = False,
    build_image: Annotated[
        bool,
        typer.Option(
            "--build-image",
            help="Print the second policy, which only the optional image stack needs "
            "(attach both).",
        ),
    ] = False,
    runtime: Annotated[
        bool,
        typer.Option(
            "--runtime",
            help="Only what condor_annex calls after setup (annexes, leases, its uploads): "
            "for condor_annex's own identity, not for running annex-cdk.",
        ),
    ] = False,
    guardrail: Annotated[
        bool,
        typer.Option(
            "--guardrail",
            help="Print the policy the spend guardrail needs besides the first (setup with "
            "--max-*, spend, heartbeat; attach both).",
        ),
    ] = False,
    condor_user: Annotated[
        bool,
        typer.Option(
            "--condor-user",
            help="Print the policy condor_annex's own user needs besides the first (setup "
            "--condor-user, credentials --rotate, check-setup --deep; attach both).",
        ),
    ] = False,
    org: Annotated[
        bool,
        typer.Option(
            "--org",
            help="Print the policy the organization's administrator needs for `annex-cdk org` "
            "(management or delegated administrator account; not for a submit host).",
        ),
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="The default: JSON is all it prints.")
    ] = True,
) -> None:
    """The least-privilege IAM policy for annex-cdk and condor_annex, instead of AdministratorAccess.

    With credentials at hand it reads the deployed setup (bucket, key pair, lease functions),
    so that an adopted condor_annex setup's generated bucket name is the one the policy names.
    """
    if org:
        if runtime or build_image or guardrail or condor_user:
            raise UsageError("--org is a policy of its own: ask for one policy at a time")
        from annex_cdk.ops.policy import org_document

        console.result(json.dumps(org_document(account), indent=2))
        return
    if sum((runtime, build_image, guardrail, condor_user)) > 1:
        raise UsageError(
            "--runtime, --build-image, --guardrail and --condor-user are two different policies "
            "each: ask for one"
        )
    from annex_cdk.ops.policy import document_for, read_deployed

    region = aws.one_region()
    deployed = None if offline else read_deployed(replace(aws, region=[region]).target)
    documents = document_for(
        region, account, key_name=key_name, bucket=bucket, deployed=deployed,
        build_image=build_image, runtime=runtime, guardrail=guardrail, condor_user=condor_user,
    )  # fmt: skip
    # One document as itself; several (split to stay clear of IAM's size limit) as a list.
    printed = documents[0] if len(documents) == 1 else documents
    console.result(json.dumps(printed, indent=2))


def emulator(
    port: Annotated[
        int,
        typer.Option(
            "--port", "-p", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."
        ),
    ] = 5000,
    no_default_vpc: Annotated[
        bool,
        typer.Option(
            "--no-default-vpc",
            help="Play an account without a default VPC in any region, as landing zones leave it.",
        ),
    ] = False,
    imds_required: Annotated[
        bool,
        typer.Option(
            "--imds-required",
            help="Play an account whose instance-metadata defaults require (and enforce) IMDSv2.",
        ),
    ] = False,
    scp: Annotated[
        list[Path] | None,
        typer.Option(
            "--scp",
            metavar="FILE",
            help="An organization's SCP (JSON), evaluated on every call of every principal, "
            "CloudFormation's included (repeatable; implies --enforce-iam).",
        ),
    ] = None,
    enforce_iam: Annotated[
        bool,
        typer.Option(
            "--enforce-iam",
            help="Evaluate every call against its caller's policies; the printed credentials "
            "are the account's root user.",
        ),
    ] = False,
    governed: Annotated[
        bool,
        typer.Option(
            "--governed",
            help="Play a landing zone's account: no default VPC, IMDSv2 required, the "
            "organization's permissions boundary, and its SCPs (boundary required on roles, "
            "IMDSv2 required on launches, no spot requests).",
        ),
    ] = False,
    latency_ms: Annotated[
        list[str] | None,
        typer.Option(
            "--latency-ms",
            metavar="[SERVICE=]MS",
            help="Answer every AWS call MS milliseconds late, as an account would (SERVICE=MS: "
            "that service only, e.g. s3=30). Repeatable. Realistic: --latency-ms 100 "
            "--latency-ms s3=30.",
        ),
    ] = None,
) -> None:
    """Run the local AWS emulator in the foreground and print the environment to use it."""
    # Not an ops module: the emulator package (~40 ms of imports) only for this command.
    from annex_emulator.latency import LatencyError, parse
    from annex_emulator.server import (
        AccountPolicy,
        Posture,
        governed_account,
        load_scp_files,
        serve_foreground,
    )

    try:
        scps = load_scp_files(scp) if scp else None
        latency = parse(latency_ms or [])
    except LatencyError as err:
        raise typer.BadParameter(str(err), param_hint="--latency-ms") from None
    except ValueError as err:
        raise UsageError(str(err)) from None
    posture = Posture(no_default_vpc=no_default_vpc, imds_required=imds_required)
    if governed:
        posture, built_in = governed_account()
        scps = [*built_in, *(scps or [])]
    serve_foreground(
        port, posture=posture, account=AccountPolicy(scps, enforce_iam), latency=latency
    )


def rehearse(
    region: Annotated[str, typer.Option("--region", help="Region to rehearse in.")] = "us-east-1",
    json_out: Json = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the scratch HOME afterwards.")] = False,
    governed: Annotated[
        bool,
        typer.Option(
            "--governed",
            help="Rehearse in a landing zone's account (no default VPC, IMDSv2 required, a "
            "required permissions boundary, SCPs) as its administrator: the findings, the "
            "flags that get setup through, and condor_annex's launches the SCPs refuse.",
        ),
    ] = False,
    least_privilege: Annotated[
        bool,
        typer.Option(
            "--least-privilege",
            help="Rehearse as a user holding exactly `annex-cdk policy` (and its --condor-user "
            "document), IAM enforced, with the annex phase on condor_annex's own user's key.",
        ),
    ] = False,
) -> None:
    """setup → check-setup → no-op setup → destroy on a private emulator and a scratch HOME."""
    if governed and least_privilege:
        raise UsageError("--governed and --least-privilege are two rehearsals: ask for one")
    if least_privilege:
        from annex_cdk.ops.rehearse_least_privilege import run_least_privilege_rehearsal

        report = run_least_privilege_rehearsal(region=region, keep=keep)
    elif governed:
        from annex_cdk.ops.rehearse_governed import run_governed_rehearsal

        report = run_governed_rehearsal(region=region, keep=keep)
    else:
        from annex_cdk.ops.rehearse import run_rehearsal

        report = run_rehearsal(region=region, keep=keep)
    if json_out:
        console.emit_json(
            {
                "ok": report.ok,
                "steps": [{"step": s.step, "seconds": s.seconds} for s in report.steps],
                "scratch": str(report.scratch) if report.scratch else None,
            }
        )
    else:
        for s in report.steps:
            console.result(f"{s.step:<24} {s.seconds:7.2f} s")
        passed = (
            "Least-privilege rehearsal passed: setup --condor-user, check-setup --deep, "
            "credentials --rotate and destroy as a user holding exactly annex-cdk policy, and "
            "condor_annex's annexes on its own user's key, every call evaluated by IAM."
            if least_privilege
            else "Governed rehearsal passed: every finding named, setup stopped before any change, "
            "then deployed with --create-default-vpc and --permissions-boundary; condor_annex's "
            "launches refused by the organization's SCPs, as on AWS; destroy worked."
            if governed
            else "Rehearsal passed: setup, check-setup, no-op re-run, annexes whose leases ran "
            "out, the spend guardrail, and destroy all worked."
        )
        console.result(passed if report.ok else "Rehearsal FAILED.")
    if not report.ok:
        raise typer.Exit(1)
