"""Stacks named HTCondorAnnex-* that neither annex-cdk nor condor_annex -setup made: setup and
destroy change or delete them only when the user names each with --take-over."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from annex_cdk.aws.engine import Action, Live, StackState
from annex_cdk.errors import StackBlockedError
from annex_cdk.templates.ownership import foreign_reason
from annex_stacks.stack_specs import STACKS


def foreign_stacks(
    live: Mapping[str, Live], todo: Mapping[str, tuple[StackState, Action]] | None = None
) -> dict[str, str]:
    """The existing stacks that are neither annex-cdk's nor condor_annex's, with why (a stack
    another tool named HTCondorAnnex-*): those setup's plan `todo` changes, or (None) all."""
    found = {}
    for spec in STACKS:
        if todo is not None and (
            spec.name not in todo or todo[spec.name][1] in (Action.SKIP, Action.KEEP)
        ):
            continue
        lv = live.get(spec.name)
        if (
            lv is not None
            and lv.state.exists
            and (reason := foreign_reason(spec.name, spec.description, lv.template))
        ):
            found[spec.name] = reason
    return found


def refuse_foreign(foreign: Mapping[str, str], take_over: Sequence[str], verb: str) -> None:
    """Stop unless the user named every foreign stack with --take-over."""
    unconsented = {name: why for name, why in foreign.items() if name not in take_over}
    if unconsented:
        raise StackBlockedError(
            "; ".join(unconsented.values()) + f"; annex-cdk would {verb} it",
            hint="if it may be "
            + ("deleted" if verb == "delete" else "changed or replaced")
            + ", re-run with "
            + " ".join(f"--take-over {name}" for name in unconsented),
        )
