"""What the commands that take several --region share: the regions at once (ops/regions.py),
one summary line per region, one JSON document, and the exit code."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from annex_cdk import console
from annex_cdk.console import RegionProgress, StackProgress
from annex_cdk.errors import EXIT_FAILURE, UsageError

if TYPE_CHECKING:
    from annex_cdk.aws.session import AwsTarget
    from annex_cdk.ops.regions import RegionOutcome

R = TypeVar("R")

DefaultRegion = Annotated[
    str | None,
    typer.Option(
        "--default-region",
        help="With several --region: the region ANNEX_DEFAULT_AWS_REGION names (default: the "
        "first).",
    ),
]


def default_region(targets: Sequence[AwsTarget], given: str | None) -> str:
    regions = [t.region for t in targets]
    if given is None:
        return regions[0]
    if given not in regions:
        raise UsageError(
            f"--default-region {given} is not one of the regions given ({', '.join(regions)})",
            hint="name one of the --region values",
        )
    return given


def run_each(
    targets: Sequence[AwsTarget], work: Callable[[AwsTarget], R]
) -> list[RegionOutcome[R]]:
    """`work` for each target's region at once; a failed region is reported as it ends."""
    from annex_cdk.ops.regions import run_regions

    by_region = {t.region: t for t in targets}

    def ended(outcome: RegionOutcome[R]) -> None:
        if not outcome.ok:
            console.err_console().print(
                f"[red]annex-cdk: {outcome.region}:[/] {console.escape(outcome.error or '')}"
            )
            if outcome.hint:
                console.err_console().print(f"  [dim]hint:[/] {console.escape(outcome.hint)}")

    return run_regions(list(by_region), lambda region: work(by_region[region]), on_end=ended)


def run_live(
    targets: Sequence[AwsTarget], verbose: bool, work: Callable[[AwsTarget, Any], R]
) -> list[RegionOutcome[R]]:
    """run_each with one live table: `work(target, progress)` gets its region's progress."""
    with StackProgress(verbose=verbose) as progress:
        board = RegionProgress(progress, [t.region for t in targets])
        return run_each(targets, lambda target: work(target, board.for_region(target.region)))


def summarize(
    outcomes: Sequence[RegionOutcome[R]], describe: Callable[[R], tuple[bool, str]]
) -> bool:
    """One line per region (stdout): done or failed, its time, what it did or why it failed.
    Whether every region did its part."""
    width = max(len(o.region) for o in outcomes)
    every = True
    for outcome in outcomes:
        if outcome.ok and outcome.report is not None:
            ok, what = describe(outcome.report)
        else:
            ok, what = False, outcome.error or ""
        every &= ok
        verdict = "done" if ok else "FAILED"
        console.result(f"{outcome.region:<{width}}  {verdict:<6}  {outcome.seconds:6.1f} s  {what}")
    failed = [o.region for o in outcomes if not o.ok]
    if failed:
        console.result(
            f"{len(failed)} of {len(outcomes)} region(s) failed ({', '.join(failed)}); the "
            "others are done: run the same command again to finish."
        )
    return every


def document(
    outcomes: Sequence[RegionOutcome[R]],
    as_dict: Callable[[R], dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    """One JSON document: each region's own document (or its error), and `ok` for all."""
    regions: dict[str, Any] = {}
    for outcome in outcomes:
        if outcome.ok and outcome.report is not None:
            regions[outcome.region] = as_dict(outcome.report)
        else:
            regions[outcome.region] = {
                "ok": False,
                "error": {
                    "message": outcome.error,
                    "hint": outcome.hint,
                    "exit_code": outcome.exit_code,
                },
            }
    every = all(bool(doc.get("ok", True)) for doc in regions.values())
    return {"regions": regions, **extra, "ok": every}


def finish(outcomes: Sequence[RegionOutcome[Any]], every_ok: bool) -> None:
    """Exit non-zero unless every region did its part: the failed regions' own code when they
    agree, else 1."""
    if every_ok:
        return
    codes = {o.exit_code for o in outcomes if not o.ok}
    raise typer.Exit(codes.pop() if len(codes) == 1 else EXIT_FAILURE)
