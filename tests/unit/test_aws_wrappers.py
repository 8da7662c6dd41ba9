"""The per-service wrappers turn AWS's not-found answers into annex-cdk's own error, and leave
every other AWS error alone (the use cases never read an AWS error code)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from annex_cdk.aws.service import NOT_FOUND_CODES, ResourceNotFound, not_found_raises
from annex_cdk.errors import AnnexError


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "as AWS says it"}}, "GetThing")


@pytest.mark.parametrize("code", sorted(NOT_FOUND_CODES))
def test_a_not_found_answer_becomes_resource_not_found(code):
    @not_found_raises
    def describe() -> None:
        raise _client_error(code)

    with pytest.raises(ResourceNotFound, match="describe") as info:
        describe()
    assert isinstance(info.value, AnnexError)  # one line and an exit code, never a traceback


@pytest.mark.parametrize("code", ["AccessDenied", "Throttling", "ValidationError"])
def test_other_errors_pass_through_unchanged(code):
    @not_found_raises
    def describe() -> None:
        raise _client_error(code)

    with pytest.raises(ClientError) as info:
        describe()
    assert info.value.response["Error"]["Code"] == code


def test_an_answer_passes_through():
    @not_found_raises
    def describe(name: str) -> str:
        return f"found {name}"

    assert describe("sg-1") == "found sg-1"
