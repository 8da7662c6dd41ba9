"""`annex-cdk check-setup`: condor_annex -check-setup's checks, with its output lines.

Only the AWS wrappers and the HTCondor parser: this path never imports aws_cdk.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from functools import partial
from typing import Any

from annex_cdk.aws.cfn import CloudFormation
from annex_cdk.aws.engine import DEPLOYED, Live, StackState
from annex_cdk.aws.parallel import InBackground
from annex_cdk.aws.session import AwsTarget
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.condor.personal_checks import verify_access_point, verify_configured
from annex_cdk.condor.syntax import ConfigError
from annex_cdk.condor.version import BINDINGS_SOURCE, HTCondorVersion, detect, parse_flag
from annex_cdk.errors import LocalFilesError, UsageError
from annex_cdk.ops.account_posture import check_account
from annex_cdk.ops.check_report import Check, CheckReport, fix_line
from annex_cdk.ops.credentials import condor_annex_credentials_fix
from annex_cdk.ops.deep_check import run_deep_checks
from annex_cdk.ops.image_check import CHECK_NAME as IMAGE_CHECK
from annex_cdk.ops.image_check import builtin_image, check_annex_image
from annex_cdk.templates.stack_report import stack_entry
from annex_stacks import names
from annex_stacks.facade import recorded_context
from annex_stacks.settings import AnnexSettings
from annex_stacks.stack_specs import CHECKED_STACKS, STACKS, spec

_CHECKED = tuple(stack for stack, _ in CHECKED_STACKS)
#: What the deep checks read: the checked stacks, and those only a deep check looks at.
_DEEP_READ = tuple(s.name for s in STACKS if s.checked_as or s.deep_checks)
#: The services the deep checks ask (besides CloudFormation), whose clients are made while
#: HTCondor reads the local files.
_DEEP_SERVICES = ("ec2", "iam", "lambda", "logs", "s3", "ssm")
#: Where the configuration says HTCondor is installed (version.detect's second source).
_VERSION_FACTS = ("BIN", "RELEASE_DIR")
#: The fix for an image the access-point path cannot boot (the image stack, README).
_BUILD_IMAGE = "annex-cdk setup --build-image --image-htcondor 25.x"

SECRET_FILE_MESSAGE = (
    "Secret key file must be accessible only by owner. Please verify that your user owns the "
    "file and that the file permissons are restricted to the owner."
)


def run_check_setup(
    target: AwsTarget,
    paths: LocalPaths | None,
    *,
    deep: bool = False,
    htcondor_version: str | None = None,
) -> CheckReport:
    """paths None (--no-local): the AWS side alone; the submit host's checks come after its
    `write-config`, so a runner without HTCondor can check what it deployed."""
    report = CheckReport(target.region)
    target.account_id()  # pre-flight: credentials, region, endpoint
    report.lines.append(f"Will check setup in region '{target.region}'.")
    # The AWS side runs in the background while HTCondor reads the local files (each read a
    # process of its own), and each part is added below in the order it always had. A run
    # that fails reports no findings, so only which error comes first matters: the local
    # side's, then the parts' in that order, as when they ran one after another.
    engine = CloudFormation(target).engine(stack_sets=True)
    if deep:
        # One read of every stack, templates included, serves both the plain and deep checks.
        reading: InBackground[dict[str, Live]] = InBackground(
            partial(engine.read_all, _DEEP_READ), name="stacks"
        )
        # A failure here comes again at the client's first call, where it is reported.
        InBackground(partial(target.prepare_clients, _DEEP_SERVICES), name="clients")
        checking = InBackground(partial(_deep_checks, target, paths, reading), name="deep")
        builtin = InBackground(partial(builtin_image, target.region), name="builtin-image")
    else:
        states = InBackground(partial(engine.read_states, _CHECKED), name="stacks")
    version: HTCondorVersion | None = None
    values: dict[str, Any] = {}
    if paths is not None:
        keys = [*names.CHECK_SETUP_KEYS, names.KEY_ODI_IMAGE_ID, *_VERSION_FACTS]
        try:
            values = paths.effective(keys, target.region)
        except ConfigError as err:
            raise LocalFilesError(str(err)) from None
    configured = values.get(names.KEY_ODI_IMAGE_ID)
    if deep:
        account = InBackground(partial(_account, target, reading, configured), name="account")
    if paths is None:
        report.lines.append("Checking the AWS side only (--no-local): no local config, no PEM.")
    else:
        version = _which_htcondor(report, values, htcondor_version)
        # Both sides: `condor_annex -check-setup` (run by `htcondor annex checksetup` on
        # 24.11.2+) still requires COLLECTOR_HOST and a readable SEC_PASSWORD_FILE
        # (annex-setup.cpp:129-154).
        _local_checks(report, values)
        if values.get(names.KEY_S3_BUCKET) and not values.get(names.KEY_ACCESS_KEY_FILE):
            # Set up, but on credentials condor_annex cannot read: say exactly what to run.
            report.add(
                fix_line(
                    "condor-annex-credentials",
                    False,
                    "credentials condor_annex can read",
                    "none (a profile, SSO or environment credentials are not enough).",
                    condor_annex_credentials_fix(paths.condor_dir),
                )
            )
    if deep:
        image = InBackground(
            partial(_image, target, reading, builtin, configured, version, local=paths is not None),
            name="image",
        )
    if paths is not None:
        if version is not None and version.side == "access-point":
            # The bindings' version is a guess at the HTCondor that runs annexes: warn only.
            access_point_checks(report, paths, strict=version.source != BINDINGS_SOURCE)
        _personal_condor_check(report, version)
    if deep:
        read = reading.result()
        _stack_checks(report, {n: read[n].state for n in _CHECKED})
        for part in (checking, image, account):
            report.extend(part.result())
    else:
        _stack_checks(report, states.result())
    report.lines.append(
        "Your setup looks OK."
        if report.ok
        else "Your setup is not complete: run `annex-cdk setup` (and see the lines above)."
    )
    return report


def _deep_checks(
    target: AwsTarget, paths: LocalPaths | None, reading: InBackground[dict[str, Live]]
) -> CheckReport:
    part = CheckReport(target.region)
    read = reading.result()
    run_deep_checks(part, target, paths, {n: read[n] for n in _CHECKED})
    return part


def _image_stack(read: Mapping[str, Live]) -> Live | None:
    return next((read[n] for n in read if IMAGE_CHECK in spec(n).deep_checks), None)


def _image(
    target: AwsTarget,
    reading: InBackground[dict[str, Live]],
    builtin: InBackground[str | None],
    configured: str | None,
    version: HTCondorVersion | None,
    *,
    local: bool,
) -> CheckReport:
    """The annex image condor_annex will start from."""
    part = CheckReport(target.region)
    builtin.result()  # read once, in the background: builtin_image answers from its cache
    if version is not None and version.side == "access-point":
        image_warning(part, configured, target.region)
    check_annex_image(
        part,
        target,
        # HTCondor's built-in default is warned about above, not looked up.
        configured=None if configured == builtin_image(target.region) else configured,
        version=version,
        image_stack=_image_stack(reading.result()),
        local=local,
    )
    return part


def _account(
    target: AwsTarget, reading: InBackground[dict[str, Live]], configured: str | None
) -> CheckReport:
    """The account as condor_annex meets it, with the settings the stacks were built with."""
    part = CheckReport(target.region)
    read = reading.result()
    image_stack = _image_stack(read)
    built = image_stack.state.outputs.get(names.OUT_IMAGE_ID) if image_stack else None
    recorded = recorded_context({n: lv.template for n, lv in read.items() if lv.template})
    settings = AnnexSettings.from_context(
        recorded, region=target.region, account=target.account_id()
    )
    check_account(part, target, settings, image_id=configured or built)
    return part


def _which_htcondor(
    report: CheckReport, values: Mapping[str, Any], override: str | None
) -> HTCondorVersion | None:
    if override is not None:
        version = parse_flag(override)  # a bad flag is the user's error, not a warning
        report.lines.append(f"Found {version.describe()}.")
        return version
    try:
        version = detect(
            None,
            config_dirs=lambda: (values.get("BIN"), values.get("RELEASE_DIR")),
        )
    except UsageError as err:
        report.warn(f"{err}; checking what both sides need (--htcondor-version X.Y to choose)")
        return None
    report.lines.append(f"Found {version.describe()}.")
    return version


def access_point_checks(report: CheckReport, paths: LocalPaths, *, strict: bool = True) -> None:
    hpc_dir = paths.home / names.HPC_ANNEX_DIR
    what = f"Checking the annex directory {hpc_dir} (htcondor annex create needs it)..."
    if hpc_dir.is_dir():
        report.add(Check("hpc-annex-dir", True, f"{what} OK."))
    elif not strict:
        report.warn(f"{hpc_dir} is missing; `htcondor annex create` needs it (mkdir -m 0700 it)")
    else:
        report.add(
            Check(
                "hpc-annex-dir", False, f"{what} missing.", str(hpc_dir),
                "annex-cdk condor configure (or: mkdir -m 0700 ~/.hpc-annex)",
            )
        )  # fmt: skip


def image_warning(report: CheckReport, image: Any, region: str) -> None:
    """The access-point path boots only images with the >= 24.11.2 layout; HTCondor's
    built-in per-region defaults are 2019 images of 8.8/8.9 (param_info.in:3942-4160)."""
    key = names.KEY_ODI_IMAGE_ID
    if not image:
        report.warn(
            f"{key} is unset: `htcondor annex create` needs an image built with HTCondor "
            f"24.11.2 or later ({_BUILD_IMAGE}, or set the key)"
        )
        return
    if image == builtin_image(region):
        report.warn(
            f"{key} is HTCondor's built-in default {image}, a 2019 image whose boot script "
            "predates the access-point layout (24.11.2); annex instances from it will not "
            f"join: {_BUILD_IMAGE}, or set it to an image built with HTCondor 24.11.2+"
        )


def _local_checks(report: CheckReport, values: dict[str, Any]) -> None:
    unset = [key for key in names.CHECK_SETUP_KEYS if not values.get(key)]
    if unset:
        report.lines.append("Your setup is incomplete:")
        for key in unset:
            report.add(Check(f"config:{key}", False, f"\t{key} is unset."))
    secret = values.get(names.KEY_SECRET_KEY_FILE)
    if secret and secret != names.FROM_INSTANCE:
        try:
            st = os.stat(secret)
            private = st.st_uid == os.getuid() and not st.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
        except OSError:
            private = False
        if not private:
            report.add(Check("secret-key-file", False, SECRET_FILE_MESSAGE, secret))
    password = values.get(names.KEY_PASSWORD_FILE)
    if password:
        try:
            with open(password, "rb"):
                pass
        except OSError:
            report.add(
                Check(
                    "password-file",
                    False,
                    f"Unable to open SEC_PASSWORD_FILE '{password}', run "
                    f"'condor_store_cred -c add -f {password}'",
                    password,
                )
            )


def _personal_condor_check(report: CheckReport, version: HTCondorVersion | None) -> None:
    """What the personal HTCondor's daemons read, where `condor configure` wrote the guide's
    block (condor_annex itself does not look: its own checks are the lines above). On the
    access-point side, a configuration made by hand is checked for what annexes need too."""
    problems = verify_configured()
    if problems is None and version is not None and version.side == "access-point":
        problems = verify_access_point()
        if problems and version.source == BINDINGS_SOURCE:
            for problem in problems:  # only the bindings said 24.11.2+: a hint, not a failure
                report.warn(f"for HTCondor 24.11.2+: {problem}")
            return
    if problems is None:
        return
    what = "Checking the personal HTCondor configuration..."
    if not problems:
        report.add(Check("personal-condor", True, f"{what} OK."))
    for problem in problems:
        report.add(
            Check(
                "personal-condor", False, f"{what} {problem}", problem,
                "annex-cdk condor configure (or remove the overriding line)",
            )
        )  # fmt: skip


def _stack_checks(report: CheckReport, states: Mapping[str, StackState]) -> None:
    for stack, description in CHECKED_STACKS:
        state = states[stack]
        # A stack its setting turned off (the user's own key pair) may be missing.
        may_be_missing = spec(stack).enabled_by is not None
        # check-setup changes nothing: action null; ok as its line says.
        report.stacks[stack] = stack_entry(
            stack,
            status=state.status if state.exists else None,
            action=None,
            outputs=state.outputs,
            ok=state.status in DEPLOYED or (may_be_missing and not state.exists),
        )
        prefix = f"Checking for {description}..."
        if not state.exists:
            if may_be_missing:
                continue
            report.add(Check(f"stack:{stack}", False, f"{prefix} missing.", stack))
        elif state.status in DEPLOYED:
            report.add(Check(f"stack:{stack}", True, f"{prefix} OK."))
        else:
            report.add(
                Check(f"stack:{stack}", False, f"{prefix} not OK ('{state.status}').", state.status)
            )
