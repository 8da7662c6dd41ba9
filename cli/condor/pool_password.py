"""The guide's pool password: checked as condor_store_cred will read it, and stored through
its standard input, never its command line."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from annex_cdk.condor.key_files import Secret
from annex_cdk.condor.personal_config import (
    CondorToolError,
    last_line,
    run_tool,
)
from annex_cdk.errors import LocalFilesError, UsageError
from annex_stacks import names

#: condor_store_cred reads at most MAX_PASSWORD_LENGTH - 1 = 254 characters (older releases;
#: newer ones take 255), so longer passwords would be cut silently.
MAX_POOL_PASSWORD = 254


# condor_store_cred reads the password with getchar() up to '\n': '\b' deletes a character,
# Ctrl-C ('\x03') aborts, and a NUL would end the C string.
_BAD_PASSWORD_CHARS = re.compile(r"[\x00\x03\x08\n\r]")


def check_pool_password(password: Secret) -> Secret:
    """Refuse what condor_store_cred would read as a different password (never quoting it)."""
    value = password.reveal()
    if not value:
        raise UsageError("the pool password is empty")
    if _BAD_PASSWORD_CHARS.search(value):
        raise UsageError(
            "the pool password contains a line break or a control character (NUL, Ctrl-C, "
            "backspace) that condor_store_cred would not store as typed"
        )
    if len(value.encode()) > MAX_POOL_PASSWORD:
        raise UsageError(
            f"the pool password is longer than {MAX_POOL_PASSWORD} bytes, which "
            "condor_store_cred would cut short"
        )
    return password


def read_password(stream: IO[str]) -> Secret:
    """--password-stdin: everything on standard input, less one final line break."""
    data = stream.read()
    if data.endswith("\n"):
        data = data[:-1].removesuffix("\r")
    return check_pool_password(Secret(data))


def store_command(password_file: str) -> list[str]:
    """The guide's command, `condor_store_cred -c add -f <SEC_PASSWORD_FILE>`."""
    return [names.TOOL_STORE_CRED, "-c", "add", "-f", password_file]


def store_pool_password(tool: str, password_file: str, password: Secret) -> None:
    """Run condor_store_cred with the password on its standard input, never in its argv.

    Without -p, `condor_store_cred add -f FILE` prints "Enter password: " and reads one line
    with getchar() (echo off only if stdin is a terminal), so a pipe carries the password.
    """
    argv = [tool, *store_command(password_file)[1:]]
    proc = run_tool(argv, stdin=(password.reveal() + "\n").encode())
    if proc.returncode != 0:
        detail = last_line(proc.stderr, proc.stdout).replace(password.reveal(), "********")
        raise CondorToolError(
            f"{names.TOOL_STORE_CRED} failed (exit {proc.returncode}): {detail}",
            hint=f"run it yourself: {shlex.join(store_command(password_file))}",
        )
    if not os.path.exists(password_file):
        raise CondorToolError(
            f"{names.TOOL_STORE_CRED} succeeded but {password_file} does not exist"
        )


PasswordMode = Literal["auto", "stdin", "replace", "skip"]


PasswordAction = Literal["stored", "kept", "skipped", "manual"]


@dataclass(frozen=True)
class PasswordOutcome:
    file: str | None
    action: PasswordAction
    command: str | None = None  # what the user should run themselves, if anything

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "action": self.action, "command": self.command}


def password_step(
    password_file: str | None,
    mode: PasswordMode,
    *,
    stdin_password: Secret | None,
    ask: Callable[[], Secret] | None,
    tool: str | None,
) -> PasswordOutcome:
    if not password_file:
        raise LocalFilesError("HTCondor finds no SEC_PASSWORD_FILE after configuring it")
    command = shlex.join(store_command(password_file))
    exists = os.path.exists(password_file)
    if mode == "skip":
        return PasswordOutcome(password_file, "skipped", None if exists else command)
    if mode == "auto" and exists:
        return PasswordOutcome(password_file, "kept")
    if tool is None:
        return PasswordOutcome(password_file, "manual", command)
    if not Path(password_file).parent.is_dir():
        raise LocalFilesError(
            f"the directory of SEC_PASSWORD_FILE {password_file} does not exist",
            hint="create it (it is the personal HTCondor's LOCAL_DIR), or pass --password-file",
        )
    password = stdin_password
    if password is None:
        if ask is None:
            raise UsageError(
                "the configuration is written, but the pool password is not stored: standard "
                "input is not a terminal to ask on",
                hint=f"re-run with --password-stdin and the password on standard input, or "
                f"run: {command}",
            )
        password = check_pool_password(ask())
    store_pool_password(tool, password_file, password)
    return PasswordOutcome(password_file, "stored")
