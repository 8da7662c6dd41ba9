"""The post-deploy step: the PEM and annex-cdk's block in user_config, then what HTCondor reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annex_cdk import console
from annex_cdk.aws.session import Credentials
from annex_cdk.condor import user_config
from annex_cdk.condor.files import check_writable, ensure_private_dir, write_secret_new
from annex_cdk.condor.parser import validate_syntax
from annex_cdk.condor.paths import LocalPaths
from annex_cdk.condor.syntax import ConfigError
from annex_cdk.errors import LocalFilesError
from annex_stacks import names


def preflight(paths: LocalPaths, region: str, key_name: str | None) -> None:
    """Before any AWS change: can we write what setup will write, and is user_config sane?"""
    targets = [paths.user_config]
    if key_name:
        targets.append(paths.pem(region, key_name))
    for target in targets:
        check_writable(target)
    if paths.user_config.exists():
        try:
            validate_syntax(
                paths.user_config.read_text(errors="surrogateescape"),
                source_name=str(paths.user_config),
            )
        except ConfigError as err:
            raise LocalFilesError(
                str(err), hint=f"fix {paths.user_config} so that HTCondor can read it, then re-run"
            ) from None


def config_values(
    outputs: Mapping[str, Mapping[str, str]], credentials: Credentials, key_name: str | None
) -> dict[str, str]:
    """The ANNEX_DEFAULT_* values condor_annex -setup would write, from the stack outputs."""
    merged: dict[str, str] = {}
    for stack_outputs in outputs.values():
        merged.update(stack_outputs)
    from_outputs = {**names.OUTPUT_FOR_KEY, **names.OPTIONAL_OUTPUT_FOR_KEY}
    values = {key: merged[out] for key, out in from_outputs.items() if merged.get(out)}
    values.update(credentials.config_values)
    if key_name:
        values[names.KEY_KEY_NAME] = key_name
    return values


@dataclass
class PostDeployReport:
    pem: Path | None = None
    pem_action: str = "none"
    config: user_config.WriteResult | None = None
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "pem": str(self.pem) if self.pem else None,
            "pem_action": self.pem_action,
            "user_config": str(cfg.path) if cfg else None,
            "user_config_action": cfg.action if cfg else None,
            "backup": str(cfg.backup) if cfg and cfg.backup else None,
            "condor_annex_blocks": [
                {"first_line": b.span.first_line, "last_line": b.span.last_line}
                for b in (cfg.annex_blocks if cfg else ())
            ],
            "problems": list(self.problems),
        }


def write_pem(paths: LocalPaths, region: str, key_name: str, private_key: str) -> tuple[Path, str]:
    """Write the key pair's PEM once; an existing file is never overwritten."""
    pem = paths.pem(region, key_name)
    material = private_key if private_key.endswith("\n") else private_key + "\n"
    if pem.exists():
        try:
            same = pem.read_text() == material
        except OSError:
            same = False
        return pem, "unchanged" if same else "kept-different"
    ensure_private_dir(pem.parent)
    write_secret_new(pem, material.encode())
    return pem, "created"


def post_deploy(
    paths: LocalPaths,
    region: str,
    outputs: Mapping[str, Mapping[str, str]],
    credentials: Credentials,
    *,
    key_name: str | None,
    private_key: str | None,
    retire_annex_blocks: bool = False,
) -> PostDeployReport:
    """Write the PEM and annex-cdk's block in user_config, then check what HTCondor reads."""
    report = PostDeployReport()
    if key_name and private_key:
        report.pem, report.pem_action = write_pem(paths, region, key_name, private_key)
        if report.pem_action == "kept-different":
            console.warn(
                f"{report.pem} exists and is not the private key of {key_name}; left it alone"
            )
    values = config_values(outputs, credentials, key_name)
    if not credentials.config_values:
        console.warn(
            "condor_annex reads its credentials from key files or FROM INSTANCE, not from a "
            "profile: pass --access-key-file/--secret-key-file or --from-instance so that "
            f"{names.KEY_ACCESS_KEY_FILE} is written"
        )
    try:
        current = (
            paths.user_config.read_text(errors="surrogateescape")
            if paths.user_config.exists()
            else ""
        )
        # ANNEX_DEFAULT_AWS_REGION is written only when nothing but our own block defines it.
        others = user_config.remove_block(current, region)
        set_region = (
            paths.effective([names.KEY_REGION], region, text=others)[names.KEY_REGION] is None
        )
        pem_comment = report.pem if report.pem_action in {"created", "unchanged"} else None
        report.config = user_config.write_user_config(
            paths.user_config,
            region,
            values,
            set_region=set_region,
            pem_path=pem_comment,
            retire_annex_blocks=retire_annex_blocks,
        )
        expected = dict(values)
        if set_region:
            expected[names.KEY_REGION] = region
        report.problems = user_config.check_effective(
            paths.user_config, region, expected, base_config=paths.base_config()
        )
    except ConfigError as err:
        raise LocalFilesError(str(err)) from None
    if not retire_annex_blocks:
        for block in report.config.annex_blocks:
            console.warn(
                f"{paths.user_config} lines {block.span.first_line}-{block.span.last_line} were "
                "appended by condor_annex -setup; annex-cdk's block comes later and wins "
                "(--retire-condor-annex-config comments them out)"
            )
    for problem in report.problems:
        console.warn(problem)
    return report
