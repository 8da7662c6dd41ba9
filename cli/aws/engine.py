"""The deploy engine: converge each HTCondorAnnex-* stack on its synthesized template, concurrently.

Decisions (`decide`) are pure functions of the stack's live state and templates, so they are
unit-tested without AWS; `Engine` carries them out with boto3 CloudFormation.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from annex_cdk.errors import Interrupted, StackBlockedError, StackFailedError
from annex_cdk.templates.load import normalise

CAPABILITIES = ["CAPABILITY_IAM"]

# Stable states a stack can be updated from.
UPDATABLE = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
    }
)
# States an update cannot start from, where the only way on is delete and re-create. Such a
# stack holds no resources that a successful deployment made (or none at all).
REPLACEABLE = frozenset(
    {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "REVIEW_IN_PROGRESS", "DELETE_FAILED"}
)
GOOD = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE"})
DELETED = "DELETE_COMPLETE"


class Action(Enum):
    CREATE = "create"
    UPDATE = "update"
    SKIP = "unchanged"
    REPLACE = "replace"
    BLOCKED = "blocked"
    BUSY = "busy"


@dataclass(frozen=True)
class StackState:
    name: str
    status: str | None = None  # None: the stack does not exist
    stack_id: str | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None

    @property
    def exists(self) -> bool:
        return self.status is not None and self.status != DELETED


def decide(state: StackState, deployed: Any | None, desired: Mapping[str, Any]) -> Action:
    """What to do with one stack, given its live state and its deployed template."""
    if not state.exists:
        return Action.CREATE
    status = state.status or ""
    if status in UPDATABLE:
        if deployed is not None and normalise(deployed) == normalise(desired):
            # UPDATE_ROLLBACK_COMPLETE with the desired template still needs no update.
            return Action.SKIP
        return Action.UPDATE
    if status in REPLACEABLE:
        return Action.REPLACE
    if status.endswith("_IN_PROGRESS"):
        return Action.BUSY
    return Action.BLOCKED  # e.g. UPDATE_ROLLBACK_FAILED: needs a human


@dataclass(frozen=True)
class Live:
    state: StackState
    template: Any | None


def plan(
    templates: Mapping[str, Mapping[str, Any]], live: Mapping[str, Live]
) -> dict[str, tuple[StackState, Action]]:
    """What converging each synthesized stack takes."""
    return {
        name: (live[name].state, decide(live[name].state, live[name].template, template))
        for name, template in templates.items()
    }


@dataclass
class StackResult:
    name: str
    action: Action
    status: str
    outputs: dict[str, str]
    seconds: float
    reason: str | None = None


#: progress(stack, status, detail): called from worker threads.
Progress = Callable[[str, str, str], None]


def _quiet(stack: str, status: str, detail: str) -> None:
    return None


class Engine:
    """Drives CloudFormation for a set of independent stacks."""

    POLL_FIRST = 0.05
    POLL_MAX = 3.0

    def __init__(self, cfn: Any, *, progress: Progress = _quiet) -> None:
        self.cfn = cfn
        self.progress = progress
        self.stop = threading.Event()

    # --- reading -------------------------------------------------------------------------
    def state(self, name: str) -> StackState:
        from botocore.exceptions import ClientError

        try:
            [stack] = self.cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError as err:
            if "does not exist" in str(err):
                return StackState(name)
            raise
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        return StackState(
            name, stack["StackStatus"], stack["StackId"], outputs, stack.get("StackStatusReason")
        )

    def deployed_template(self, state: StackState) -> Any | None:
        if not state.exists:
            return None
        body = self.cfn.get_template(StackName=state.stack_id or state.name)["TemplateBody"]
        return normalise(body)

    def read_states(self, stacks: Iterable[str]) -> dict[str, StackState]:
        """Every stack's live state (no templates), read concurrently."""
        stacks = list(stacks)
        with ThreadPoolExecutor(max_workers=max(1, len(stacks))) as pool:
            return dict(zip(stacks, pool.map(self.state, stacks), strict=True))

    def read_all(self, stacks: Iterable[str]) -> dict[str, Live]:
        """Every stack's live state and deployed template, read concurrently."""

        def one(name: str) -> Live:
            state = self.state(name)
            return Live(state, self.deployed_template(state))

        stacks = list(stacks)
        with ThreadPoolExecutor(max_workers=max(1, len(stacks))) as pool:
            futures = {name: pool.submit(one, name) for name in stacks}
            return {name: f.result() for name, f in futures.items()}

    def failure_reason(self, stack_id: str) -> str | None:
        """The first resource failure CloudFormation recorded for the stack's latest operation."""
        events = self.cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        failed = [
            e
            for e in events
            if e.get("ResourceStatus", "").endswith("_FAILED")
            and e.get("ResourceStatusReason")
            and e.get("LogicalResourceId") != e.get("StackName")
        ]
        if failed:
            first = failed[-1]  # events come newest first
            return f"{first['LogicalResourceId']}: {first['ResourceStatusReason']}"
        reasons = [e.get("ResourceStatusReason") for e in events if e.get("ResourceStatusReason")]
        return reasons[0] if reasons else None

    # --- acting --------------------------------------------------------------------------
    def converge(
        self,
        templates: Mapping[str, Mapping[str, Any]],
        plan: Mapping[str, tuple[StackState, Action]],
        *,
        replace_ok: bool,
    ) -> dict[str, StackResult]:
        """Carry out the plan, all stacks at once. Raises after every stack has settled."""
        for name, (state, action) in plan.items():
            if action is Action.BUSY:
                raise StackBlockedError(
                    f"{name} is busy ({state.status}); wait for that operation to end, then re-run"
                )
            if action is Action.BLOCKED or (action is Action.REPLACE and not replace_ok):
                cause = (
                    self.failure_reason(state.stack_id or name)
                    or state.reason
                    or "no reason recorded"
                )
                raise StackBlockedError(
                    f"{name} is in {state.status} ({cause})",
                    hint="re-run with --yes to delete and re-create it"
                    if action is Action.REPLACE
                    else "fix it in the CloudFormation console, then re-run",
                )
        results: dict[str, StackResult] = {}
        work = {n: p for n, p in plan.items() if p[1] is not Action.SKIP}
        for name, (state, action) in plan.items():
            if action is Action.SKIP:
                results[name] = StackResult(
                    name, action, state.status or "", dict(state.outputs), 0.0
                )
                self.progress(name, state.status or "", "unchanged")
        if not work:
            return results
        pool = ThreadPoolExecutor(max_workers=len(work))
        futures: dict[Any, str] = {}
        try:
            # Submitting is inside the try: Ctrl-C can arrive as soon as the first stack starts.
            for name, (state, action) in work.items():
                futures[pool.submit(self._run, name, state, action, templates[name])] = name
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                for future in done:
                    results[futures[future]] = future.result()
        except KeyboardInterrupt:
            self.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            busy = sorted(n for n in work if n not in results)
            raise Interrupted(
                "interrupted; CloudFormation carries on with "
                + (", ".join(busy) or "nothing")
                + " on its own",
                hint="re-run the same command to continue from where it stopped",
            ) from None
        finally:
            pool.shutdown(wait=True)
        failed = [r for r in results.values() if r.status not in GOOD]
        if failed:
            detail = "; ".join(
                f"{r.name}: {r.status} ({r.reason or 'no reason given'})" for r in failed
            )
            raise StackFailedError(
                detail, hint="the other stacks were left in place; re-run to continue"
            )
        return results

    def _run(
        self, name: str, state: StackState, action: Action, template: Mapping[str, Any]
    ) -> StackResult:
        from botocore.exceptions import ClientError

        started = time.monotonic()
        body = json.dumps(template, separators=(",", ":"), sort_keys=True)
        if action is Action.REPLACE:
            self.progress(name, state.status or "", "deleting to replace it")
            self.cfn.delete_stack(StackName=state.stack_id)
            self._wait(name, state.stack_id or name, since=None)
            action = Action.CREATE
        if action is Action.CREATE:
            self.progress(name, "CREATE_IN_PROGRESS", "creating")
            # As condor_annex: a failed creation deletes itself, so a re-run starts clean.
            stack_id = self.cfn.create_stack(
                StackName=name, TemplateBody=body, Capabilities=CAPABILITIES, OnFailure="DELETE"
            )["StackId"]
        else:
            self.progress(name, "UPDATE_IN_PROGRESS", "updating")
            stack_id = state.stack_id or name
            try:
                self.cfn.update_stack(
                    StackName=stack_id, TemplateBody=body, Capabilities=CAPABILITIES
                )
            except ClientError as err:
                if "No updates are to be performed" not in str(err):
                    raise
                final = self.state(stack_id)
                self.progress(name, final.status or "", "unchanged")
                return StackResult(name, Action.SKIP, final.status or "", dict(final.outputs), 0.0)
        final = self._wait(name, stack_id, since=started)
        reason = None if final.status in GOOD else self.failure_reason(stack_id)
        detail = f"{time.monotonic() - started:.1f} s" if final.status in GOOD else (reason or "")
        self.progress(name, final.status or "", detail)
        return StackResult(
            name,
            action,
            final.status or "",
            dict(final.outputs),
            time.monotonic() - started,
            reason,
        )

    def _wait(self, name: str, stack_id: str, *, since: float | None) -> StackState:
        """Poll until the stack settles, quickly at first, reporting each new resource event."""
        delay = self.POLL_FIRST
        seen: set[str] = set()
        while True:
            state = self.state(stack_id)
            self._report_events(name, stack_id, seen)
            if state.status is None or not state.status.endswith("_IN_PROGRESS"):
                return state
            if self.stop.wait(delay):
                return state
            delay = min(delay * 1.6, self.POLL_MAX)

    def _report_events(self, name: str, stack_id: str, seen: set[str]) -> None:
        events = self.cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        for event in reversed(events):
            if event["EventId"] in seen:
                continue
            seen.add(event["EventId"])
            if event.get("LogicalResourceId") == name:
                continue
            detail = event.get("ResourceStatusReason") or ""
            self.progress(
                name,
                event.get("ResourceStatus", ""),
                f"{event.get('LogicalResourceId')} {detail}".strip(),
            )

    def delete(self, names: Iterable[str]) -> dict[str, StackResult]:
        """Delete stacks concurrently; a stack that does not exist counts as deleted."""
        targets = [(n, self.state(n)) for n in names]

        def one(name: str, state: StackState) -> StackResult:
            started = time.monotonic()
            if not state.exists:
                return StackResult(name, Action.SKIP, DELETED, {}, 0.0)
            self.progress(name, "DELETE_IN_PROGRESS", "deleting")
            self.cfn.delete_stack(StackName=state.stack_id)
            final = self._wait(name, state.stack_id or name, since=started)
            status = DELETED if final.status in (None, DELETED) else final.status
            reason = None if status == DELETED else self.failure_reason(state.stack_id or name)
            self.progress(name, status, reason or f"{time.monotonic() - started:.1f} s")
            return StackResult(name, Action.REPLACE, status, {}, time.monotonic() - started, reason)

        with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
            futures = [pool.submit(one, n, s) for n, s in targets]
            return {r.name: r for r in (f.result() for f in futures)}
