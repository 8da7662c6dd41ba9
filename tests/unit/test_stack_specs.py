"""Each stack is declared once (annex_stacks/stack_specs.py STACKS); what every command knows
about a stack comes from there, and every id a spec names is one the code knows."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
from pathlib import Path

import pytest

from annex_cdk.ops import destroy, image_check, setup
from annex_cdk.ops.deep_check import DEEP_CHECKS
from annex_stacks import AnnexSettings, names, stack_specs
from annex_stacks.policy import SCOPES
from annex_stacks.settings import SETTINGS
from annex_stacks.stack_specs import STACKS, StackSpec


def test_every_stack_name_in_names_is_declared_once():
    declared = [s.name for s in STACKS]
    stack_names = {
        getattr(names, n) for n in dir(names) if n.endswith("_STACK") and not n.startswith("TAG_")
    }
    assert len(declared) == len(set(declared))
    assert set(declared) == stack_names
    assert tuple(declared) == stack_specs.MANAGED_STACKS
    assert set(stack_specs.CORE_STACKS) | set(stack_specs.OPTIONAL_STACKS) == set(declared)


def _module_path(module: str) -> Path:
    found = importlib.util.find_spec(module)
    assert found is not None and found.origin, module
    return Path(found.origin)


@pytest.mark.parametrize("spec", STACKS, ids=lambda s: s.name)
def test_the_construct_is_a_stack_class_of_its_module(spec: StackSpec):
    """Read without importing: aws_cdk stays out of a unit test."""
    module, _, cls = spec.construct.partition(":")
    tree = ast.parse(_module_path(module).read_text())
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    assert cls in classes, f"{module} has no class {cls}"
    assert "Stack" in {ast.unparse(base) for base in classes[cls].bases}


def test_enabling_settings_are_bool_fields_and_optional_stacks_record_them():
    fields = {f.name: f for f in dataclasses.fields(AnnexSettings)}
    by_field = {s.field: s for s in SETTINGS}
    for spec in STACKS:
        if spec.enabled_by is None:
            continue
        if isinstance(getattr(AnnexSettings, spec.enabled_by, None), property):
            # Turned on by any of several settings (the guardrail's caps): off by default,
            # and a later run without the flags keeps it because the stack records them.
            assert not getattr(AnnexSettings(), spec.enabled_by), spec.name
            assert any(s.recorded_by == spec.name for s in SETTINGS), spec.name
            continue
        assert fields[spec.enabled_by].type in ("bool", bool), spec.name
        if spec.optional:  # a later run without the flag keeps the add-on
            assert by_field[spec.enabled_by].recorded_by == spec.name


def test_every_recording_stack_is_declared():
    assert {s.recorded_by for s in SETTINGS if s.recorded_by} <= set(stack_specs.MANAGED_STACKS)


def test_which_stacks_a_setup_deploys():
    default = [s.name for s in stack_specs.enabled(AnnexSettings())]
    assert default == list(stack_specs.CORE_STACKS)
    own_key = [s.name for s in stack_specs.enabled(AnnexSettings(create_key_pair=False))]
    assert names.KEY_PAIR_STACK not in own_key
    everything = AnnexSettings(
        submit_host_role=True,
        condor_user=True,
        ci_roles=True,
        ci_repository="o/r",
        build_image=True,
        max_vcpus=8,
    )
    assert [s.name for s in stack_specs.enabled(everything)] == list(stack_specs.MANAGED_STACKS)


def test_outputs_are_unique_and_feed_the_config_keys():
    outputs = [o for s in STACKS for o in s.outputs]
    assert len(outputs) == len(set(outputs))
    assert not set(outputs) & names.FORBIDDEN_OUTPUT_KEYS
    feeds = stack_specs.output_for_key()
    # condor_annex -check-setup's keys that stack outputs set, and the image key.
    from_stacks = set(names.CHECK_SETUP_KEYS) - {
        names.KEY_ACCESS_KEY_FILE,
        names.KEY_SECRET_KEY_FILE,
        names.KEY_COLLECTOR_HOST,
        names.KEY_PASSWORD_FILE,
    }
    assert set(feeds) == from_stacks | {names.KEY_ODI_IMAGE_ID}


def test_check_setup_checks_condor_annexs_stacks_and_the_key_pair_in_order():
    assert [n for n, _ in stack_specs.CHECKED_STACKS] == list(stack_specs.CORE_STACKS)


def test_a_spec_refuses_what_would_break_a_command():
    with pytest.raises(TypeError, match="module:Class"):
        StackSpec(name="HTCondorAnnex-X", construct="x_stack", description="x")
    with pytest.raises(TypeError, match="enables it"):
        StackSpec(
            name="HTCondorAnnex-X",
            construct="annex_stacks.x:X",
            description="x",
            optional=True,
        )
    with pytest.raises(TypeError, match="lacks"):
        StackSpec(
            name="HTCondorAnnex-X",
            construct="annex_stacks.x:X",
            description="x",
            outputs=("A",),
            feeds={"ANNEX_DEFAULT_X": "B"},
        )


def test_setup_knows_every_step_a_spec_names():
    named = {step for s in STACKS for step in s.after_deploy}
    assert named and named == set(setup.AFTER_DEPLOY)


def test_destroy_knows_every_step_a_spec_names():
    before = {step for s in STACKS for step in s.before_destroy}
    after = {step for s in STACKS for step in s.after_destroy}
    assert before and before <= set(destroy.BEFORE_DESTROY)
    assert after and after <= set(destroy.AFTER_DESTROY)
    # And no step is registered that no spec uses.
    assert set(destroy.BEFORE_DESTROY) == before and set(destroy.AFTER_DESTROY) == after


def test_every_deep_check_a_spec_names_is_registered():
    known = {*DEEP_CHECKS, image_check.CHECK_NAME}
    named = {check for s in STACKS for check in s.deep_checks}
    assert named == known, named ^ known
    # A check registered for one stack is named by that stack's spec.
    for check in DEEP_CHECKS.values():
        if check.stack is not None:
            assert check.id in stack_specs.spec(check.stack).deep_checks, check.id


def test_every_policy_statement_a_spec_names_exists():
    for spec in STACKS:
        assert set(spec.policy_scopes) <= set(SCOPES), spec.name
