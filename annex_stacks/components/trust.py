"""Trust policies the stacks' roles share."""

from __future__ import annotations

from typing import Any

from annex_stacks.policy import VERSION


def ec2_instance_trust() -> dict[str, Any]:
    """A role EC2 instances assume through their instance profile."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
