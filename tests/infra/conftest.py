"""Synthesize each settings variant once per test session (CDK start-up dominates test time)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from annex_stacks import AnnexSettings, SynthResult, names, stack_specs, synth
from tests.shared_synth import lint_once, shared_tmp, synth_once

#: Settings variants the infrastructure tests look at.
VARIANTS: dict[str, AnnexSettings] = {
    "default": AnnexSettings(),
    "one-cidr": AnnexSettings(allowed_cidrs=("198.51.100.7/32",)),
    "no-ssh-v6-port": AnnexSettings(
        allowed_cidrs=("198.51.100.0/24", "2001:db8::/64"), ssh=False, collector_port=9700
    ),
    "world": AnnexSettings(allowed_cidrs=("0.0.0.0/0",)),
    "tagged-retained": AnnexSettings(
        allowed_cidrs=("203.0.113.5/32",),
        extra_tags={"project": "physics", "cost-center": "42"},
        retain_bucket=True,
        key_pair_name="my-annex-key",
    ),
    "own-key": AnnexSettings(allowed_cidrs=("203.0.113.5/32",), create_key_pair=False),
    # An account condor_annex set up: its bucket (generated name) is kept.
    "adopted": AnnexSettings(
        allowed_cidrs=("203.0.113.5/32",),
        bucket_name="htcondorannex-configurationbucket-1x2y3z",
        create_key_pair=False,
    ),
    # The optional HTCondorAnnex-Guardrail stack (any cap adds it), with a budget, and
    # HTCondorAnnex-CondorUser (condor_annex's own user).
    "guardrail": AnnexSettings(
        allowed_cidrs=("203.0.113.5/32",),
        max_instances=4,
        max_dollars=50.0,
        budget_email="ops@example.org",
        condor_user=True,
    ),
    # The optional HTCondorAnnex-Image stack, both series and both architectures.
    "image": AnnexSettings(allowed_cidrs=("203.0.113.5/32",), build_image=True),
    "image-24-arm": AnnexSettings(
        allowed_cidrs=("203.0.113.5/32",),
        build_image=True,
        image_htcondor="24.0",
        image_arch="arm64",
    ),
}


@pytest.fixture(scope="session")
def synth_variant(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SynthResult]:
    """Each variant synthesized once for the whole run: under pytest-xdist the first worker to
    ask synthesizes it into a directory all workers share, and the others read its result."""
    shared = shared_tmp(tmp_path_factory)

    @cache
    def synthesized(variant: str) -> SynthResult:
        return synth_once(
            shared / f"synth-{variant}", lambda out: synth(VARIANTS[variant], outdir=out)
        )

    return synthesized


@pytest.fixture(scope="session")
def cfn_lint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[str]]:
    """cfn-lint's findings for a template's text (`RULE message` lines), each distinct text
    linted once for the whole run (tests/shared_synth.py: lint_once)."""
    shared = shared_tmp(tmp_path_factory)
    return lambda text: lint_once(shared, text)


def resources(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.get("Resources", {}).items() if v["Type"] == rtype}


def statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every IAM statement in a template, inline role policies and policy resources alike."""
    out: list[dict[str, Any]] = []
    for res in template.get("Resources", {}).values():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Policy":
            out.extend(props["PolicyDocument"]["Statement"])
        if res["Type"] == "AWS::IAM::Role":
            for pol in props.get("Policies", []):
                out.extend(pol["PolicyDocument"]["Statement"])
    return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def assert_built_as_declared(templates: dict[str, dict[str, Any]]) -> None:
    """What a synthesized stack has is what its StackSpec declares."""
    for name, template in templates.items():
        spec = stack_specs.spec(name)
        assert set(template.get("Outputs", {})) == set(spec.outputs), name
        assert template["Description"] == spec.description
        recorded = template.get("Metadata", {}).get(names.SETTINGS_METADATA, {})
        assert set(recorded) <= set(spec.records), name
