"""A stack's LastUpdatedTime, which moto never reports.

CloudFormation's DescribeStacks returns LastUpdatedTime once a stack has been updated at least
once: an UpdateStack, an executed change set, a resource import or ContinueUpdateRollback
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html). annex-cdk
reads it to tell that nobody changed a stack since its own last run; an emulator without it
would say "never changed" after any update and let a no-op run miss a plain `cdk deploy`.
Every such operation adds a stack-level event whose status begins with UPDATE_ or IMPORT_, so
the time of that event is the stack's LastUpdatedTime.
"""

from __future__ import annotations

from moto.cloudformation.models import Stack

from annex_emulator.patches import ORIGINALS

_UPDATING = ("UPDATE_", "IMPORT_")


def add_stack_event(
    self: Stack,
    resource_status: str,
    resource_status_reason: str | None = None,
    resource_properties: str | None = None,
) -> None:
    ORIGINALS["Stack._add_stack_event"](
        self, resource_status, resource_status_reason, resource_properties
    )
    if resource_status.startswith(_UPDATING):
        # moto's serializer reads the attribute named after the API field (moto has none).
        setattr(self, "last_updated_time", self.events[-1].timestamp)  # noqa: B010
