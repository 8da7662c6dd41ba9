"""A setup or diff with nothing to change, told without synthesis.

When the settings a run resolves have the inputs key of the last setup's templates, and every
stack is still the one that setup left (`deployed_record`), the templates it would synthesize
are those deployed: the run skips synthesis, the deployed templates and the pre-deploy checks
(they guard changes, and there are none). What it still asks AWS, all at once: who the caller
is, each stack's state, and whether any resource was deleted behind CloudFormation's back
(that needs a re-creation, which only the full path plans). Anything else, or any doubt, and
the run takes the full path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from annex_cdk.aws.engine import DEPLOYED, Action, Engine, StackState
from annex_cdk.aws.key_pair import private_key
from annex_cdk.aws.resources import PROBED_SERVICES as _PROBED
from annex_cdk.aws.resources import listed_and_gone
from annex_cdk.aws.session import AwsTarget
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.errors import AnnexError
from annex_cdk.ops import deployed_record
from annex_cdk.ops.deployed_record import DeployedRecord, Stamp
from annex_cdk.ops.settings_resolution import resolve_settings
from annex_cdk.ops.synth_cache import inputs_key
from annex_stacks import names
from annex_stacks.settings import AnnexSettings, SettingsFlags
from annex_stacks.stack_specs import MANAGED_STACKS, enabled


@dataclass(frozen=True)
class Unchanged:
    """The stacks as they are, which is as the settings want them."""

    account: str
    settings: AnnexSettings
    states: Mapping[str, StackState]  # every managed stack
    private_key: str | None  # the key pair's PEM text, when it could be read

    def plan(self) -> dict[str, tuple[StackState, Action]]:
        """The plan the full path would make: every wanted stack skipped, the others kept."""
        wanted = [spec.name for spec in enabled(self.settings)]
        todo = {name: (self.states[name], Action.SKIP) for name in wanted}
        todo.update(
            {n: (s, Action.KEEP) for n, s in self.states.items() if n not in todo and s.exists}
        )
        return todo


def unchanged(
    target: AwsTarget,
    paths: LocalPaths | None,
    flags: SettingsFlags,
    engine: Engine,
    *,
    local_checks: Callable[[AnnexSettings], None] | None = None,
) -> Unchanged | None:
    """The stacks, if nothing needs deploying and the last setup's record says so; else None.

    `local_checks` run beside the reads (HTCondor's parser runs in processes of its own); a
    fault they find is raised when nothing is to be deployed, and otherwise left to the full
    path, which checks again."""
    record = deployed_record.load(target)
    if record is None:
        return None
    deployed = [n for n, stamp in record.stacks.items() if stamp.stack_id]
    # One round, sent before the settings are resolved (their collector address, their inputs
    # key) and the local checks run meanwhile: the caller, every stack's state, every deployed
    # stack's resource list and, as the last such run saw them, each resource's existence and
    # the PEM's key. A resource list or key parameter that is not as recorded costs a second
    # round for what it names (the first run after a deploy: the record has none). Settings
    # that differ leave the reads to end unheeded: the full path starts at once.
    pool = ThreadPoolExecutor(max_workers=6)
    done = False
    try:
        # The round's calls go first; each later client loads its API model (CPU) while they
        # are answered.
        account = pool.submit(target.account_id)
        states = pool.submit(engine.read_states, MANAGED_STACKS)
        found = pool.submit(listed_and_gone, target, deployed, record.resources)
        early_key = (
            pool.submit(private_key, target, _key_outputs(record.key_parameter), warn=False)
            if paths and record.key_parameter
            else None
        )
        pool.submit(target.prepare_clients, [*_PROBED, "ssm"])
        try:
            settings = resolve_settings(
                flags, region=target.region, recorded=record.recorded, paths=paths, quiet=True
            ).with_(account=record.account)
        except AnnexError:
            return None  # the full path resolves from the stacks as they are, and says why not
        if inputs_key(settings) != record.inputs_key:
            return None  # new flags, sources, libraries or collector address: synthesize
        checked = pool.submit(local_checks, settings) if local_checks else None
        if account.result() != record.account or not _same(states.result(), record):
            return None
        key_parameter = states.result()[names.KEY_PAIR_STACK].outputs.get(
            names.OUT_KEY_PAIR_PARAMETER
        )
        key = (
            early_key
            if early_key is not None and key_parameter == record.key_parameter
            else pool.submit(private_key, target, _key_outputs(key_parameter), warn=False)
            if paths
            else None
        )
        listed, gone = found.result()
        if any(gone.values()):
            return None  # the full path plans their re-creation
        if checked is not None:
            checked.result()
        seen = {name: tuple(resources) for name, resources in listed.items()}
        if seen != record.resources or key_parameter != record.key_parameter:
            deployed_record.save(
                target, replace(record, resources=seen, key_parameter=key_parameter)
            )
        done = True
        return Unchanged(record.account, settings, states.result(), key.result() if key else None)
    finally:
        pool.shutdown(wait=done)


def _key_outputs(parameter: str | None) -> dict[str, str]:
    """The key-pair stack's outputs as `private_key` reads them."""
    return {names.OUT_KEY_PAIR_PARAMETER: parameter} if parameter else {}


def _same(states: Mapping[str, StackState], record: DeployedRecord) -> bool:
    return set(states) == set(record.stacks) and all(
        Stamp.of(state) == record.stacks[name] and (not state.exists or state.status in DEPLOYED)
        for name, state in states.items()
    )


def remember(
    target: AwsTarget,
    account: str,
    key: str,
    recorded: Mapping[str, object],
    states: Mapping[str, StackState],
) -> None:
    """After a setup converged: what it left, for the next run to compare with (the
    resources its stacks list are not known here: the next run with nothing to change reads
    them, and records them)."""
    stacks = {name: Stamp.of(state) for name, state in states.items()}
    key_stack = states.get(names.KEY_PAIR_STACK)
    key_parameter = key_stack.outputs.get(names.OUT_KEY_PAIR_PARAMETER) if key_stack else None
    deployed_record.save(
        target,
        DeployedRecord(account, key, dict(recorded), stacks, key_parameter=key_parameter),
    )
