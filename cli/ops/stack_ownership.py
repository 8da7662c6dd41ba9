"""Stacks setup must not meet unawares: those named HTCondorAnnex-* that neither annex-cdk nor
condor_annex -setup made (setup and destroy change or delete them only when the user names each
with --take-over), and an organization's StackSet stacks (setup never runs beside them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from annex_cdk.aws.engine import Action, Engine, Live, StackState
from annex_cdk.errors import StackBlockedError
from annex_cdk.templates.ownership import foreign_reason
from annex_stacks.stack_specs import MANAGED_STACKS, STACKS


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


def refuse_stack_set_stacks(engine: Engine) -> None:
    """Stop before any change where the organization's StackSets already hold the annex stacks
    in this account and Region: a second set would collide on their fixed names (the key pair,
    the CheckConnectivity function, the bucket), and CloudFormation would fail, or roll back
    after changes began. A caller that may not list stacks sees none (engine.stack_set_stacks)."""
    found = {name: s for name, s in engine.stack_set_stacks().items() if name in MANAGED_STACKS}
    if found:
        held = ", ".join(
            f"{stack['StackName']} ({name})" for name in sorted(found) for stack in found[name]
        )
        raise StackBlockedError(
            f"the organization's StackSets already provide the annex stacks here: {held}; "
            "annex-cdk setup would collide with them",
            hint="run `annex-cdk write-config` (and `annex-cdk check-setup --deep`) instead; "
            "the organization's administrator changes the settings with `annex-cdk org deploy`",
        )
