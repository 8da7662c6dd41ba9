"""check-setup --deep: the image that annex instances start from.

condor_annex passes ANNEX_DEFAULT_ODI_IMAGE_ID to RunInstances as it is; a deregistered AMI,
one still building, or one whose condor-annex-ec2 expects the other tarball layout (classic
<= 24.10 against access point >= 24.11.2, reference htcondor_24_11_annex.md) only shows when
the annex never joins. Each finding names the command that repairs it.
"""

from __future__ import annotations

import functools
from typing import Any

from annex_cdk.aws.ec2 import Ec2
from annex_cdk.aws.engine import Live
from annex_cdk.aws.session import AwsTarget
from annex_cdk.condor.parser import effective_values
from annex_cdk.condor.syntax import ConfigError
from annex_cdk.condor.version import HTCondorVersion, Side
from annex_cdk.ops.check_report import CheckReport, fix_line
from annex_stacks import names

CHECK_NAME = names.DEEP_IMAGE


@functools.cache
def builtin_image(region: str) -> str | None:
    """HTCondor's own per-region default (param_info.in: 2019 images of 8.8/8.9), read once
    per region: it is the installed HTCondor's, and each read runs HTCondor."""
    try:
        return effective_values([], [names.KEY_ODI_IMAGE_ID], region).get(names.KEY_ODI_IMAGE_ID)
    except ConfigError:
        return None


def series_side(series: str) -> Side:
    return "access-point" if series in names.ACCESS_POINT_SERIES else "classic"


def series_for(side: Side) -> str:
    """The image stack's series whose boot script fits `side`."""
    return next(s for s in names.IMAGE_HTCONDOR_SERIES if series_side(s) == side)


def next_image_version(template: Any) -> str:
    """One patch level above the deployed recipe's version: what makes the stack rebuild."""
    recipe = (template or {}).get("Resources", {}).get(names.LID_IMAGE_RECIPE, {})
    version = str(recipe.get("Properties", {}).get("Version", names.IMAGE_COMPONENT_VERSION))
    major, minor, patch = [*version.split("."), "0", "0"][:3]
    return f"{major}.{minor}.{int(patch) + 1}" if patch.isdigit() else "1.0.1"


def check_annex_image(
    report: CheckReport,
    target: AwsTarget,
    *,
    configured: str | None,
    version: HTCondorVersion | None,
    image_stack: Live | None,
    local: bool = True,
) -> None:
    """`configured` is the config's image (None: unset or HTCondor's default); with --no-local
    (`local` False) the image stack's own output is checked, if the stack exists."""
    region = target.region
    stack = image_stack.state if image_stack is not None else None
    built = stack.outputs.get(names.OUT_IMAGE_ID) if stack is not None and stack.exists else None
    what = f"the annex image {configured or built} ({names.KEY_ODI_IMAGE_ID})"
    if local and not configured and built:
        problem = f"unset, but {names.IMAGE_STACK} built {built}: condor_annex will not use it"
        report.add(
            fix_line(CHECK_NAME, False, what, problem, f"annex-cdk write-config --region {region}")
        )
        return
    image_id = configured or built
    if not image_id:
        return
    if image_id == built and image_stack is not None:
        rebuild = (
            f"annex-cdk setup --region {region} --build-image "
            f"--image-version {next_image_version(image_stack.template)}"
        )
    else:
        rebuild = (
            f"annex-cdk setup --region {region} --build-image (or set {names.KEY_ODI_IMAGE_ID} "
            f"to an image in {region})"
        )
    image = Ec2(target).image(image_id)
    if image is None:
        problem = f"no such image in {region}: annex instances cannot start"
        report.add(fix_line(CHECK_NAME, False, what, problem, rebuild))
        return
    state = image.state
    if state != "available":
        problem = f"its state is {state!r}, not 'available'"
        fix = (
            "wait for the image to finish building, then re-run check-setup --deep"
            if state == "pending"
            else rebuild
        )
        report.add(fix_line(CHECK_NAME, False, what, problem, fix))
        return
    series = image.tags.get(names.TAG_HTCONDOR_SERIES)
    if version is None or series is None:
        if version is not None:
            report.warn(
                f"{image_id} has no {names.TAG_HTCONDOR_SERIES} tag: annex-cdk cannot tell "
                f"whether its boot script fits the {version.side} path of HTCondor {version.text}"
            )
        report.add(fix_line(CHECK_NAME, True, what))
        return
    if series_side(series) != version.side:
        problem = (
            f"it carries HTCondor {series} ({series_side(series)} path), but this submit host "
            f"runs HTCondor {version.text} ({version.side} path): its instances will not join"
        )
        fix = (
            f"annex-cdk setup --region {region} --build-image "
            f"--image-htcondor {series_for(version.side)}"
        )
        report.add(fix_line(CHECK_NAME, False, what, problem, fix))
        return
    report.add(fix_line(CHECK_NAME, True, what))
