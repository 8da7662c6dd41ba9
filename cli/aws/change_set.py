"""A read-only change set: what CloudFormation itself says an update would do (as `cdk diff`
does by default). Created, described with property values, deleted; never executed."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from annex_cdk.templates.load import body as template_body

#: What CloudFormation says when the template it was given changes nothing it deploys.
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_PREFIX = "annex-cdk-diff-"


@dataclass(frozen=True)
class ChangeSetReading:
    """`changes`: the change set's Changes (None: CloudFormation could not say, see `note`)."""

    changes: list[dict[str, Any]] | None
    note: str = ""


def read_change_set(
    cfn: Any,
    stack: str,
    template: Mapping[str, Any],
    *,
    capabilities: list[str],
    wait_s: float = 120.0,
) -> ChangeSetReading:
    """Create an UPDATE change set for the template, describe it, and always delete it."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = _PREFIX + uuid.uuid4().hex[:12]
    try:
        created = cfn.create_change_set(
            StackName=stack,
            ChangeSetName=name,
            ChangeSetType="UPDATE",
            TemplateBody=template_body(template),
            Capabilities=capabilities,
            Description="annex-cdk diff: read only, deleted after reading",
        )
    except (ClientError, BotoCoreError) as err:
        return ChangeSetReading(None, f"no change set ({_why(err)})")
    change_set = created["Id"]
    try:
        return _describe(cfn, change_set, wait_s)
    except (ClientError, BotoCoreError) as err:
        return ChangeSetReading(None, f"no change set ({_why(err)})")
    finally:
        # A leftover change set changes nothing (and its name says whose it is).
        with contextlib.suppress(ClientError, BotoCoreError):
            cfn.delete_change_set(ChangeSetName=change_set)


def _describe(cfn: Any, change_set: str, wait_s: float) -> ChangeSetReading:
    deadline = time.monotonic() + wait_s
    delay = 0.2
    while True:
        page = cfn.describe_change_set(ChangeSetName=change_set, IncludePropertyValues=True)
        status = page.get("Status", "")
        if status == "CREATE_COMPLETE":
            break
        if status == "FAILED":
            reason = page.get("StatusReason") or ""
            if any(text in reason for text in _NO_CHANGES):
                return ChangeSetReading([], "CloudFormation: no changes")
            return ChangeSetReading(None, f"the change set failed ({reason or 'no reason'})")
        if time.monotonic() > deadline:
            return ChangeSetReading(None, f"the change set was still {status} after {wait_s:.0f} s")
        time.sleep(delay)
        delay = min(delay * 1.6, 3.0)
    changes = list(page.get("Changes", []))
    while token := page.get("NextToken"):
        page = cfn.describe_change_set(
            ChangeSetName=change_set, IncludePropertyValues=True, NextToken=token
        )
        changes.extend(page.get("Changes", []))
    return ChangeSetReading(changes)


def _why(err: Exception) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        e = response.get("Error", {})
        return f"{e.get('Code')}: {e.get('Message')}"
    return f"{type(err).__name__}: {err}"
