"""What the last setup left deployed, so that a re-run with nothing to change needs no synthesis.

A synthesis starts jsii and Node (seconds), and reading every deployed template back is a round
of calls more. After each setup that converged, this record keeps, for the endpoint and region:
the inputs key the templates were synthesized from (`synth_cache.inputs_key`: the settings, the
stack and handler sources, the CDK library versions), the settings the deployed stacks record
(what a run without flags keeps), and each stack's id, status and LastUpdatedTime. A later run
whose settings resolve to the same inputs key, and whose stacks are still those stacks with
nothing done to them since (a `cdk deploy`, an update, a rollback, a deletion: each changes
LastUpdatedTime, the status or the StackId, which names the account too), would deploy exactly
what is there. Kept and trusted as `local_cache` says; a missing or damaged record only means a
synthesis.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annex_cdk.aws.engine import StackState
from annex_cdk.aws.resources import Listed
from annex_cdk.aws.session import AwsTarget
from annex_cdk.local_cache import (
    DEPLOYED_DIR,
    cache_root,
    read_trusted_json,
    write_private_json,
)

_FORMAT = 1


@dataclass(frozen=True)
class Stamp:
    """Who a stack is and when it last changed; all None: it did not exist."""

    stack_id: str | None
    status: str | None
    changed_at: str | None

    @classmethod
    def of(cls, state: StackState) -> Stamp:
        if not state.exists:
            return cls(None, None, None)
        return cls(state.stack_id, state.status, state.changed_at)


@dataclass(frozen=True)
class DeployedRecord:
    account: str
    inputs_key: str
    recorded: Mapping[str, Any]  # the settings (as context) the deployed stacks record
    stacks: Mapping[str, Stamp]  # every managed stack, deployed or not
    #: What each deployed stack listed of the resources whose existence a re-run reads
    #: (`resources.listed_and_gone`), as a run with nothing to change last saw them: a re-run
    #: reads them beside the listings instead of after. Empty after a deploy.
    resources: Mapping[str, tuple[Listed, ...]] = field(default_factory=dict)
    #: The SSM parameter of the key pair's private key, from the key-pair stack's outputs.
    key_parameter: str | None = None


def entry(endpoint_url: str | None, region: str) -> Path:
    """Where the record for an endpoint (None: AWS's own) and a region is kept."""
    where = json.dumps([endpoint_url or "", region])
    return cache_root() / DEPLOYED_DIR / f"{hashlib.sha256(where.encode()).hexdigest()[:32]}.json"


def load(target: AwsTarget, *, warn: bool = True) -> DeployedRecord | None:
    data = read_trusted_json(
        entry(target.endpoint_url, target.region),
        what="the record of the last setup" if warn else None,
    )
    try:
        if data["format"] != _FORMAT:
            return None
        return DeployedRecord(
            account=str(data["account"]),
            inputs_key=str(data["inputs_key"]),
            recorded=dict(data["recorded"]),
            stacks={name: Stamp(*stamp) for name, stamp in data["stacks"].items()},
            resources={
                name: tuple((str(a), str(b), str(c)) for a, b, c in listed)
                for name, listed in data.get("resources", {}).items()
            },
            key_parameter=_text_or_none(data.get("key_parameter")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # missing, damaged or of another format: synthesize


def save(target: AwsTarget, record: DeployedRecord) -> None:
    write_private_json(
        entry(target.endpoint_url, target.region),
        {
            "format": _FORMAT,
            "account": record.account,
            "inputs_key": record.inputs_key,
            "recorded": dict(record.recorded),
            "stacks": {
                name: [s.stack_id, s.status, s.changed_at] for name, s in record.stacks.items()
            },
            "resources": {name: [list(r) for r in rs] for name, rs in record.resources.items()},
            "key_parameter": record.key_parameter,
        },
    )


def _text_or_none(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"not a parameter name: {value!r}")
    return value


def forget(target: AwsTarget) -> None:
    """The stacks are gone (destroy): their record with them."""
    with contextlib.suppress(OSError):
        entry(target.endpoint_url, target.region).unlink()
