"""`annex-cdk rehearse`: the whole first-time path on a private emulator and a scratch HOME.

The scratch HOME holds what the first-time guide has the user make by hand: a personal
HTCondor config with COLLECTOR_HOST and a pool password file, and condor_annex's key files.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from annex_cdk import console
from annex_cdk.aws.session import AwsTarget, Credentials
from annex_cdk.condor.files import ensure_private_dir, write_secret_new
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.console import StackProgress
from annex_cdk.errors import AnnexError
from annex_cdk.ops.annex_lease_rehearsal import ANNEX_STEP, rehearse_annexes
from annex_cdk.ops.check import run_check_setup
from annex_cdk.ops.destroy import run_destroy
from annex_cdk.ops.environ import scoped_environ
from annex_cdk.ops.guardrail_rehearsal import GUARDRAIL_STEP, rehearse_guardrail
from annex_cdk.ops.setup import run_setup
from annex_stacks import names
from annex_stacks.settings import SettingsFlags

T = TypeVar("T")

#: A documentation network (RFC 5737) standing in for the collector's public address.
REHEARSAL_CIDR = "198.51.100.7/32"
AWS_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


def scratch_home(root: Path) -> tuple[LocalPaths, Path, Credentials]:
    """A HOME as the first-time guide leaves it, just before `condor_annex -setup`."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    condor_dir = home / names.CONDOR_USER_DIR
    ensure_private_dir(condor_dir)
    public, private = condor_dir / names.PUBLIC_KEY_FILE, condor_dir / names.PRIVATE_KEY_FILE
    # The emulator's root user's key of the shape annex-cdk checks key files for.
    from annex_emulator.credentials import KEY_FILE_ACCESS_KEY_ID, KEY_FILE_SECRET_ACCESS_KEY

    write_secret_new(public, f"{KEY_FILE_ACCESS_KEY_ID}\n".encode())
    write_secret_new(private, f"{KEY_FILE_SECRET_ACCESS_KEY}\n".encode())
    personal = root / "condor"
    personal.mkdir()
    password = personal / "condor_pool_password"
    write_secret_new(password, b"rehearsal pool password\n")
    config = personal / "condor_config"
    # The guide's lines (reference §7), with this scratch directory as LOCAL_DIR.
    config.write_text(
        f"LOCAL_DIR = {personal}\n"
        "NETWORK_INTERFACE = *\n"
        "CONDOR_HOST = $(FULL_HOSTNAME)\n"
        "SEC_PASSWORD_FILE = $(LOCAL_DIR)/condor_pool_password\n"
        "SEC_DAEMON_AUTHENTICATION = REQUIRED\n"
        "SEC_DAEMON_AUTHENTICATION_METHODS = PASSWORD\n"
        "ALLOW_DAEMON = condor_pool@*\n"
        "COLLECTOR_HOST = $(FULL_HOSTNAME):9618\n"
    )
    return LocalPaths(home), config, Credentials(public, private)


@dataclass(frozen=True)
class RehearsalStep:
    step: str
    seconds: float


@dataclass(frozen=True)
class RehearsalReport:
    ok: bool
    steps: list[RehearsalStep]
    scratch: Path | None  # the scratch HOME's root, when --keep kept it


def timed_step(steps: list[RehearsalStep], name: str, fn: Callable[[], T]) -> T:
    """One step of a rehearsal, announced and timed (the table the command prints)."""
    console.info(f"\n== {name}")
    t0 = time.monotonic()
    out = fn()
    seconds = time.monotonic() - t0
    steps.append(RehearsalStep(name, round(seconds, 3)))
    console.info(f"== {name}: {seconds:.2f} s")
    return out


@dataclass
class Rehearsal:
    """A rehearsal under way: its scratch HOME, its emulator, its timed steps and its verdict."""

    paths: LocalPaths
    creds: Credentials
    emu: Any  # annex_emulator.server.EmulatorProcess
    steps: list[RehearsalStep] = field(default_factory=list)
    ok: bool = True

    def step(self, name: str, fn: Callable[[], T]) -> T:
        return timed_step(self.steps, name, fn)

    def destroy(self, target: AwsTarget) -> None:
        """The last step: everything the rehearsal set up goes again."""
        gone = self.step(
            "destroy",
            lambda: run_destroy(
                target, self.paths, force=False, confirm=lambda q: True, progress=StackProgress()
            ),
        )
        self.ok &= gone.ok


def scratch_rehearsal(
    body: Callable[[Rehearsal], None],
    *,
    keep: bool,
    emulator: Mapping[str, Any],
    kind: str = "",
    stopped: str | None = None,
) -> RehearsalReport:
    """Run ``body``'s steps in a scratch HOME (scratch_home) against a private emulator
    (started with ``emulator``'s arguments); the scratch directory goes afterwards unless
    ``keep``. With ``stopped`` (what the rehearsal is called), an AnnexError ends the
    rehearsal as a failed one, with a warning, instead of ending the command.
    """
    from annex_emulator.server import EmulatorProcess

    root = Path(tempfile.mkdtemp(prefix="annex-cdk-rehearsal-"))
    rehearsal: Rehearsal | None = None
    try:
        paths, condor_config, creds = scratch_home(root)
        console.info(f"Scratch HOME: {paths.home}")
        with (
            scoped_environ({"CONDOR_CONFIG": str(condor_config)}, unset=AWS_ENV),
            EmulatorProcess(**emulator) as emu,
        ):
            console.info(f"Emulator{kind}: {emu.endpoint_url}")
            rehearsal = Rehearsal(paths, creds, emu)
            body(rehearsal)
        ok = rehearsal.ok
    except AnnexError as err:
        if stopped is None:
            raise
        console.warn(f"the {stopped} rehearsal stopped: {err}")
        ok = False
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    # The table is the command's to print: with --json, stdout holds the JSON alone.
    steps = rehearsal.steps if rehearsal is not None else []
    return RehearsalReport(ok, steps, root if keep else None)


def run_rehearsal(*, region: str, keep: bool = False) -> RehearsalReport:
    return scratch_rehearsal(lambda r: _rehearse(r, region), keep=keep, emulator={})


def _rehearse(r: Rehearsal, region: str) -> None:
    paths = r.paths
    target = AwsTarget(region, r.creds, endpoint_url=r.emu.endpoint_url)
    flags = SettingsFlags(allow_from=(REHEARSAL_CIDR,))
    first = r.step(
        "setup",
        lambda: run_setup(target, paths, flags, yes=False, progress=StackProgress()),
    )
    config_bytes = paths.user_config.read_bytes()
    report = r.step("check-setup", lambda: run_check_setup(target, paths))
    for line in report.lines:
        console.info(line)
    r.ok &= report.ok
    again = r.step(
        "setup (no-op re-run)",
        lambda: run_setup(target, paths, flags, yes=False, progress=StackProgress()),
    )
    if not r.step(ANNEX_STEP, lambda: rehearse_annexes(target, console.info)):
        r.ok = False
        console.warn("an annex outlived its lease (see the FAILED lines above)")
    guardrail_ok = r.step(
        GUARDRAIL_STEP,
        lambda: rehearse_guardrail(target, paths, flags, r.emu, StackProgress(), console.info),
    )
    if not guardrail_ok:
        r.ok = False
        console.warn("the spend guardrail did not act (see the FAILED lines above)")
    updated = again.changed_stacks
    unchanged_bytes = paths.user_config.read_bytes() == config_bytes
    if updated or not unchanged_bytes:
        r.ok = False
        console.warn(
            f"the re-run was not a no-op: stacks {updated}, config same: {unchanged_bytes}"
        )
    r.destroy(target)
    r.ok &= first.ok
