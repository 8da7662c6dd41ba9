"""The error hierarchy: each expected failure becomes one line on stderr and an exit code."""

from __future__ import annotations

# Exit codes: 0 ok, 1 failure, 2 usage; the rest tell scripts what went wrong.
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CREDENTIALS = 3
EXIT_ENDPOINT = 4
EXIT_LOCAL_FILES = 5
EXIT_STACK_FAILED = 6
EXIT_BLOCKED = 7
EXIT_LOCKED = 8
EXIT_INTERRUPTED = 130


class AnnexError(Exception):
    """An expected failure: the message is what the user reads, the hint what to do next."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(AnnexError):
    exit_code = EXIT_USAGE


class CredentialsError(AnnexError):
    exit_code = EXIT_CREDENTIALS


class EndpointError(AnnexError):
    exit_code = EXIT_ENDPOINT


class LocalFilesError(AnnexError):
    exit_code = EXIT_LOCAL_FILES


class StackFailedError(AnnexError):
    exit_code = EXIT_STACK_FAILED


class StackBlockedError(AnnexError):
    exit_code = EXIT_BLOCKED


class LockedError(AnnexError):
    exit_code = EXIT_LOCKED


class Interrupted(AnnexError):
    exit_code = EXIT_INTERRUPTED


#: The caller's identity lacks part of the least-privilege policy (`annex-cdk policy`).
EXIT_PERMISSIONS = 9


class PermissionsError(CredentialsError):
    """IAM's simulation says the credentials work but do not allow everything setup needs."""

    exit_code = EXIT_PERMISSIONS


def annotate(err: BaseException, *, stack: str | None = None, call: str | None = None) -> None:
    """Record where an unexpected error happened (the stack, the AWS call), for its one line.

    The innermost record wins: the code nearest the failure knows best.
    """
    if stack and not getattr(err, "annex_stack", None):
        err.annex_stack = stack  # type: ignore[attr-defined]  # context carried on any exception for the one-line error
    if call and not getattr(err, "annex_call", None):
        err.annex_call = call  # type: ignore[attr-defined]  # context carried on any exception for the one-line error


def where(err: BaseException) -> tuple[str | None, str | None]:
    """The stack and the AWS call `annotate` recorded, if any."""
    return getattr(err, "annex_stack", None), getattr(err, "annex_call", None)
