"""Logical ids, resource types and output keys pinned against condor_annex's own templates.

Read from ../shared/reference/condor_annex_templates (tests/condor_annex_reference.py), never
from our own constants: renaming a logical id or an output that condor_annex's templates use
fails here. Kept logical ids are what lets an account condor_annex set up be updated in place.
"""

from __future__ import annotations

import pytest

from annex_cdk.templates.ownership import foreign_reason
from annex_stacks import names
from tests.condor_annex_reference import template

#: annex-setup.cpp:277-321 via the reference README: which template each stack was made from.
STACK_TEMPLATES = {
    names.BUCKET_STACK: "bucket-11.json",
    names.LAMBDA_STACK: "template-11.json",
    names.INSTANCE_PROFILE_STACK: "role-11.json",
    names.SECURITY_GROUP_STACK: "security-group-11.json",
}


@pytest.mark.parametrize("variant", ["one-cidr", "adopted"])
@pytest.mark.parametrize(("stack", "reference"), sorted(STACK_TEMPLATES.items()))
def test_condor_annex_logical_ids_and_types_are_kept(synth_variant, variant, stack, reference):
    ours = synth_variant(variant).templates[stack]["Resources"]
    for logical_id, resource in template(reference)["Resources"].items():
        assert logical_id in ours, f"{stack} lost condor_annex's logical id {logical_id}"
        assert ours[logical_id]["Type"] == resource["Type"], logical_id


@pytest.mark.parametrize(("stack", "reference"), sorted(STACK_TEMPLATES.items()))
def test_condor_annex_output_keys_are_kept(synth_variant, stack, reference):
    ours = synth_variant("one-cidr").templates[stack].get("Outputs", {})
    missing = set(template(reference).get("Outputs", {})) - set(ours)
    assert not missing, f"{stack} lacks condor_annex's outputs {sorted(missing)}"


@pytest.mark.parametrize(("stack", "reference"), sorted(STACK_TEMPLATES.items()))
def test_condor_annex_stacks_are_recognised_by_its_own_templates(stack: str, reference: str):
    """What tells condor_annex's stacks from someone else's is its templates' description and
    resources; a template of another description, or with a resource of its own, is foreign."""
    theirs = template(reference)
    description, resources = names.CONDOR_ANNEX_TEMPLATES[stack]
    assert description == theirs["Description"]
    assert resources == {lid: r["Type"] for lid, r in theirs["Resources"].items()}
    assert foreign_reason(stack, "ours (annex-cdk)", theirs) is None
    extra = {**theirs, "Resources": {**theirs["Resources"], "X": {"Type": "AWS::SNS::Topic"}}}
    assert foreign_reason(stack, "ours (annex-cdk)", extra) is not None
    other = {**theirs, "Description": "team-x"}
    assert foreign_reason(stack, "ours (annex-cdk)", other) is not None
