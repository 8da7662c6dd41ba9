"""Synthesis: deployable without bootstrap, within CloudFormation limits, nag- and lint-clean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import regex
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from annex_cdk.templates.load import body as template_body
from annex_stacks import AnnexSettings, SettingsError, build_app, handlers, nag, names, stack_specs
from tests.infra.conftest import VARIANTS, resources

ROOT = Path(__file__).resolve().parents[2]
INLINE_TEMPLATE_LIMIT = 51_200


def test_newest_python_runtime_that_aws_cdk_lib_offers(synth_variant):
    from aws_cdk import aws_lambda

    def version(attr: str) -> tuple[int, ...]:
        return tuple(int(p) for p in attr.removeprefix("PYTHON_").split("_"))

    newest = max((a for a in dir(aws_lambda.Runtime) if a.startswith("PYTHON_")), key=version)
    expected = getattr(aws_lambda.Runtime, newest).name
    t = synth_variant("one-cidr").templates[names.LAMBDA_STACK]
    assert {f["Properties"]["Runtime"] for f in resources(t, "AWS::Lambda::Function").values()} == {
        expected
    }


def test_inline_code_is_the_lambda_src_file(synth_variant):
    t = synth_variant("one-cidr").templates[names.LAMBDA_STACK]["Resources"]
    expected = {
        names.LID_ODI_FUNCTION: (handlers.LEASE_FILE, handlers.ODI_HANDLER),
        names.LID_SFR_FUNCTION: (handlers.LEASE_FILE, handlers.SFR_HANDLER),
        names.LID_CC_FUNCTION: (
            handlers.CHECK_CONNECTIVITY_FILE,
            handlers.CHECK_CONNECTIVITY_HANDLER,
        ),
    }
    for lid, (file_name, handler) in expected.items():
        props = t[lid]["Properties"]
        on_disk = (ROOT / "lambda_src" / file_name).read_text(encoding="utf-8")
        assert props["Code"]["ZipFile"] == on_disk
        assert props["Handler"] == handler
        # The handler the template names exists in that file.
        assert f"def {handler.removeprefix('index.')}(" in on_disk


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_templates_fit_inline_and_need_no_bootstrap(synth_variant, variant):
    result = synth_variant(variant)
    for name, template in result.templates.items():
        assert len(template_body(result.templates[name]).encode()) < INLINE_TEMPLATE_LIMIT, name
        assert "Parameters" not in template, name  # no asset or bootstrap-version parameters
        assert "Rules" not in template, name
        assert "BootstrapVersion" not in json.dumps(template)
    manifest = json.loads((result.outdir / "manifest.json").read_text())
    kinds = {a["type"] for a in manifest["artifacts"].values()}
    assert "cdk:asset-manifest" not in kinds


def test_inline_handlers_leave_room_in_the_lambda_template(synth_variant):
    result = synth_variant("tagged-retained")
    code = sum(len(handlers.source(f).encode()) for f in (handlers.LEASE_FILE,) * 2)
    code += len(handlers.source(handlers.CHECK_CONNECTIVITY_FILE).encode())
    size = len(template_body(result.templates[names.LAMBDA_STACK]).encode())
    assert code < size < INLINE_TEMPLATE_LIMIT
    # Headroom for handler growth; a failure here means the handlers need trimming.
    assert INLINE_TEMPLATE_LIMIT - size > 10_000


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_cdk_nag_has_no_unacknowledged_findings(variant):
    from cdk_nag import AwsSolutionsChecks

    app = build_app(VARIANTS[variant], nag=False)
    violations = AwsSolutionsChecks().validate_scope(app).violations
    assert [v.rule_name for v in violations] == []


def test_every_acknowledgement_is_needed(monkeypatch):
    """Acknowledgements that no longer match a finding would hide the next real one."""
    from cdk_nag import AwsSolutionsChecks

    acknowledged: set[str] = set()

    def record(construct, reasons):
        acknowledged.update(reasons)
        for reason in reasons.values():
            assert len(reason) > 40, reason

    monkeypatch.setattr(nag, "acknowledge", record)
    app = build_app(VARIANTS["world"], nag=False)
    found = {v.rule_name for v in AwsSolutionsChecks().validate_scope(app).violations}
    assert found == acknowledged


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_cfn_lint_is_clean(synth_variant, cfn_lint, variant):
    result = synth_variant(variant)
    for name in result.templates:
        assert cfn_lint((result.outdir / f"{name}.template.json").read_text()) == [], name


def test_nag_runs_in_synthesis_and_blocks_findings(monkeypatch, tmp_path):
    """The nag gate is part of every synth (CLI and `cdk synth`), not only of the tests."""
    from annex_stacks import synth

    monkeypatch.setattr(nag, "acknowledge", lambda construct, reasons: None)
    with pytest.raises(Exception, match="AwsSolutions"):
        synth(VARIANTS["one-cidr"], outdir=tmp_path)


def _cdk_cli() -> list[str] | None:
    local = ROOT / "node_modules" / ".bin" / "cdk"
    return [str(local)] if local.exists() else None


def test_cdk_synth_via_the_node_cli(tmp_path):
    assert shutil.which("node"), "the CDK CLI needs Node.js"
    cli = _cdk_cli()
    assert cli, "run `npm ci` first: the pinned CDK CLI is a dev dependency"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    ctx = ["-c", f"{names.CTX_ALLOWED_CIDRS}=198.51.100.7/32"]
    run = subprocess.run(
        [*cli, "synth", "--no-notices", "-q", "-o", str(tmp_path), *ctx],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    written = sorted(p.name for p in tmp_path.glob("*.template.json"))
    assert written == sorted(f"{n}.template.json" for n in stack_specs.CORE_STACKS)
    sg = json.loads((tmp_path / f"{names.SECURITY_GROUP_STACK}.template.json").read_text())
    cidrs = {
        r["CidrIp"]
        for r in sg["Resources"][names.LID_SECURITY_GROUP]["Properties"]["SecurityGroupIngress"]
    }
    assert cidrs == {"198.51.100.7/32"}

    bad = subprocess.run(
        [
            *cli,
            "synth",
            "--no-notices",
            "-q",
            "-o",
            str(tmp_path / "bad"),
            "-c",
            f"{names.CTX_COLLECTOR_PORT}=99999",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0
    assert "collector_port" in bad.stderr
    assert "Traceback" not in bad.stderr


# Characters to try in a tag: ASCII and Latin-1 (controls, punctuation, the no-break space),
# the line and paragraph separators, format characters (zero-width space, BOM), a combining
# accent, other scripts and numbers (CJK, Arabic-Indic, Roman numeral, superscript), an emoji.
_TAG_CORPUS = [chr(c) for c in range(0x100)] + list(
    "\u2028\u2029\u200b\ufeff\u0301\u4e2d\u0663\u2163\u00b2\U0001f600\u202e"
)


def _tag_patterns(schema: dict[str, Any]) -> set[str]:
    """The Key and Value patterns of a registry schema's tag definitions."""
    found = set()
    for definition in schema.get("definitions", {}).values():
        properties = definition.get("properties", {})
        for part in ("Key", "Value"):
            if "pattern" in properties.get(part, {}):
                found.add(properties[part]["pattern"])
    return found


def test_tag_characters_are_those_every_registry_schema_we_deploy_accepts(synth_variant):
    """A tag the settings accept is accepted by the registry schema of every resource type it
    lands on (CDK tags them all), and the settings refuse what the strictest of them refuses."""
    types = {
        resource["Type"]
        for variant in ("tagged-retained", "image")
        for template in synth_variant(variant).templates.values()
        for resource in template["Resources"].values()
    }
    patterns: set[str] = set()
    for rtype in types:
        try:
            schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", rtype).schema
        except Exception:  # not a registry type (Custom::, AWS::CDK::Metadata)
            continue
        if "Tags" in schema.get("properties", {}):
            patterns |= _tag_patterns(schema)
    assert patterns, "no tag pattern among the types we deploy (AWS::IAM::Role has one)"

    def accepted(char: str) -> bool:
        try:
            AnnexSettings(extra_tags={"k": f"a{char}a"})
        except SettingsError:
            return False
        return True

    ours = {c for c in _TAG_CORPUS if accepted(c)}
    for pattern in patterns:
        theirs = {c for c in _TAG_CORPUS if regex.search(pattern, f"a{c}a")}
        assert ours <= theirs, (pattern, sorted(ours - theirs))
    strictest = {c for c in _TAG_CORPUS if all(regex.search(p, f"a{c}a") for p in patterns)}
    assert ours == strictest, sorted(ours ^ strictest)
    assert "\t" not in ours and "\n" not in ours and " " in ours and "\u00a0" in ours
