"""SSM Parameter Store, as the use cases need it: a parameter's value, and the run lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from annex_cdk.aws import lock
from annex_cdk.aws.service import Service


class Ssm(Service):
    name = "ssm"

    def secret(self, name: str) -> str | None:
        """The decrypted value of parameter `name`, or None when there is no such parameter."""
        try:
            found = self._client.get_parameter(Name=name, WithDecryption=True)
        except self._client.exceptions.ParameterNotFound:
            return None
        return str(found["Parameter"]["Value"])

    def parameter_exists(self, name: str) -> bool:
        try:
            self._client.get_parameter(Name=name)
        except self._client.exceptions.ParameterNotFound:
            return False
        return True

    @contextmanager
    def lock(self, purpose: str) -> Iterator[lock.Held]:
        """One setup or destroy at a time in this account and region (aws/lock.py)."""
        with lock.held(self._client, purpose) as held:
            yield held

    def lock_holder(self) -> dict[str, Any] | None:
        return lock.holder_of(self._client)

    def release_lock(self, token: Any) -> bool:
        return lock.release(self._client, token)
