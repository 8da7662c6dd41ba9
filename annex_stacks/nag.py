"""cdk-nag v3 wiring: the one place that registers the AwsSolutions pack and acknowledges findings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from constructs import IConstruct


def acknowledge(construct: IConstruct, reasons: dict[str, str]) -> None:
    """Acknowledge nag findings on `construct`, each with the reason a reviewer can check."""
    from aws_cdk import Acknowledgment, Validations

    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=rule, reason=reason) for rule, reason in reasons.items())
    )


def register(app: IConstruct) -> None:
    """Make synthesis fail on any unacknowledged AwsSolutions finding."""
    from aws_cdk import Validations
    from cdk_nag import AwsSolutionsChecks

    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def finding_resource(text: str) -> str:
    """How cdk-nag spells a resource in a granular finding id: ${AWS::X} becomes <AWS::X>."""
    import re

    return re.sub(r"\$\{([^}]+)\}", r"<\1>", text)
