"""What every per-service wrapper shares: one mapped client, and our own not-found error.

The use cases (ops/) reach AWS only through these wrappers: each method answers with plain
values or dataclasses and raises annex-cdk's errors, never the SDK's, so that no use case
reads an AWS error code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar, ParamSpec, TypeVar

from annex_cdk.aws.session import AwsTarget
from annex_cdk.errors import AnnexError

#: The error codes AWS answers with when the thing asked about does not exist.
NOT_FOUND_CODES = frozenset(
    {
        "404",
        "NotFound",
        "NoSuchBucket",
        "NoSuchEntity",
        "InvalidGroup.NotFound",
        "InvalidKeyPair.NotFound",
        "ResourceNotFoundException",
        "ParameterNotFound",
    }
)


class ResourceNotFound(AnnexError):
    """AWS says the resource asked about does not exist (deleted by hand, say)."""


def error_code(err: Exception) -> str | None:
    """AWS's error code of a failed call (botocore's ClientError), or None for anything else."""
    code = (getattr(err, "response", None) or {}).get("Error", {}).get("Code")
    return code if isinstance(code, str) else None


def is_not_found(err: Exception) -> bool:
    response = getattr(err, "response", None) or {}
    return response.get("Error", {}).get("Code") in NOT_FOUND_CODES


P = ParamSpec("P")
R = TypeVar("R")


def not_found_raises(method: Callable[P, R]) -> Callable[P, R]:
    """AWS's not-found answers to this method become ResourceNotFound."""

    @functools.wraps(method)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except Exception as err:
            if not is_not_found(err):
                raise
            raise ResourceNotFound(f"{method.__name__}: {err}") from None

    return wrapped


class Service:
    """One AWS service for one target; `quick` clients make one short attempt (pre-flight)."""

    name: ClassVar[str]

    def __init__(self, target: AwsTarget, *, quick: bool = False) -> None:
        self.target = target
        self.region = target.region
        self._client: Any = target.client(self.name, quick=quick)

    def _pages(self, method: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item under `key` of every page of a NextToken-paged call."""
        found: list[dict[str, Any]] = []
        while True:
            page = getattr(self._client, method)(**kwargs)
            found.extend(page.get(key, []))
            if not page.get("NextToken"):
                return found
            kwargs["NextToken"] = page["NextToken"]
