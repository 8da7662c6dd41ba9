"""HTCondorAnnex-SubmitHostRole, and the policy's CloudFormation part against the templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from annex_cdk.templates.load import body as template_body
from annex_stacks import (
    AnnexSettings,
    SynthResult,
    build_app,
    nag,
    names,
    policy,
    recorded_context,
    stack_specs,
    synth,
)
from tests.infra.conftest import VARIANTS, assert_built_as_declared, resources
from tests.infra.test_synthesis import INLINE_TEMPLATE_LIMIT

SUBMIT_HOST = AnnexSettings(allowed_cidrs=("198.51.100.7/32",), submit_host_role=True)
SUBMIT_HOST_IMAGE = AnnexSettings(
    allowed_cidrs=("198.51.100.7/32",), submit_host_role=True, build_image=True
)
ADOPTED_SUBMIT_HOST = AnnexSettings(
    allowed_cidrs=("198.51.100.7/32",),
    submit_host_role=True,
    bucket_name="htcondorannex-configurationbucket-1x2y3z",
    key_pair_name="my-annex-key",
)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Any:
    done: dict[int, SynthResult] = {}  # settings hold a dict (tags), so they are not hashable

    def run(settings: AnnexSettings) -> SynthResult:
        if id(settings) not in done:
            done[id(settings)] = synth(settings, outdir=tmp_path_factory.mktemp("synth-sh"))
        return done[id(settings)]

    return run


def _resolve(value: Any) -> Any:
    """Fn::Sub as CloudFormation would resolve it in us-east-1, account 123456789012."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        for name, concrete in (
            ("AWS::Partition", "aws"),
            ("AWS::Region", "us-east-1"),
            ("AWS::AccountId", "123456789012"),
        ):
            text = text.replace("${" + name + "}", concrete)
        return text.replace("${!", "${")
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


def _role(result: SynthResult) -> dict[str, Any]:
    template = result.templates[names.SUBMIT_HOST_STACK]
    return template["Resources"][names.LID_SUBMIT_HOST_ROLE]["Properties"]


def test_the_stack_is_made_only_when_asked(synthesized, synth_variant):
    assert names.SUBMIT_HOST_STACK not in synth_variant("one-cidr").templates
    result = synthesized(SUBMIT_HOST)
    assert list(result.templates) == [*stack_specs.CORE_STACKS, names.SUBMIT_HOST_STACK]
    assert_built_as_declared(result.templates)
    template = result.templates[names.SUBMIT_HOST_STACK]
    assert set(template["Outputs"]) == {names.OUT_SUBMIT_HOST_PROFILE, names.OUT_SUBMIT_HOST_ROLE}
    assert template["Outputs"][names.OUT_SUBMIT_HOST_PROFILE]["Value"] == {
        "Fn::GetAtt": [names.LID_SUBMIT_HOST_PROFILE, "Arn"]
    }
    # The other stacks do not change when it is added.
    assert {n: result.templates[n] for n in stack_specs.CORE_STACKS} == synth_variant(
        "one-cidr"
    ).templates


def test_the_role_is_for_ec2_and_carries_exactly_the_policy(synthesized):
    role = _role(synthesized(SUBMIT_HOST))
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert "ManagedPolicyArns" not in role and "RoleName" not in role
    [inline] = role["Policies"]
    assert inline["PolicyName"] == names.SUBMIT_HOST_POLICY_NAME
    assert _resolve(inline["PolicyDocument"]) == policy.policy_document(
        region="us-east-1", account="123456789012"
    )
    profile = synthesized(SUBMIT_HOST).templates[names.SUBMIT_HOST_STACK]["Resources"][
        names.LID_SUBMIT_HOST_PROFILE
    ]
    assert profile["Properties"]["Roles"] == [{"Ref": names.LID_SUBMIT_HOST_ROLE}]


def test_an_adopted_bucket_and_own_key_are_what_the_policy_names(synthesized):
    document = _resolve(_role(synthesized(ADOPTED_SUBMIT_HOST))["Policies"][0]["PolicyDocument"])
    assert document == policy.policy_document(
        region="us-east-1",
        account="123456789012",
        bucket=ADOPTED_SUBMIT_HOST.bucket_name,
        key_pair_name="my-annex-key",
    )


def test_the_setting_is_recorded_so_a_rerun_keeps_the_stack(synthesized):
    template = synthesized(SUBMIT_HOST).templates[names.SUBMIT_HOST_STACK]
    ctx = recorded_context({names.SUBMIT_HOST_STACK: template})
    assert ctx == {names.CTX_SUBMIT_HOST_ROLE: True}
    assert AnnexSettings.from_context(ctx).submit_host_role is True


def test_size_lint_and_nag(synthesized, cfn_lint):
    from cdk_nag import AwsSolutionsChecks

    for settings in (SUBMIT_HOST, ADOPTED_SUBMIT_HOST, SUBMIT_HOST_IMAGE):
        result = synthesized(settings)
        assert (
            len(template_body(result.templates[names.SUBMIT_HOST_STACK]).encode())
            < INLINE_TEMPLATE_LIMIT
        )
        text = (result.outdir / f"{names.SUBMIT_HOST_STACK}.template.json").read_text()
        assert cfn_lint(text) == []
        violations = AwsSolutionsChecks().validate_scope(build_app(settings, nag=False)).violations
        assert [v.rule_name for v in violations] == []


def test_every_acknowledgement_of_the_stack_is_needed(monkeypatch):
    """Acknowledgements come from the document; each must match a finding, and none may hide
    the next real one."""
    from cdk_nag import AwsSolutionsChecks

    acknowledged: dict[str, str] = {}

    def record(construct, reasons):
        if construct.node.path.startswith(names.SUBMIT_HOST_STACK):
            acknowledged.update(reasons)

    monkeypatch.setattr(nag, "acknowledge", record)
    app = build_app(SUBMIT_HOST, nag=False)
    found = {
        v.rule_name
        for v in AwsSolutionsChecks().validate_scope(app).violations
        if any(r.construct_path.startswith(names.SUBMIT_HOST_STACK) for r in v.violating_resources)
    }
    assert found == set(acknowledged)
    for reason in acknowledged.values():
        assert len(reason) > 40, reason


# --- The policy's CloudFormation table against what is synthesized ------------------------------
def _all_templates(synth_variant, synthesized) -> list[dict[str, Any]]:
    templates = [t for v in VARIANTS for t in synth_variant(v).templates.values()]
    templates += list(synthesized(SUBMIT_HOST).templates.values())
    return templates


def test_every_resource_type_in_the_templates_is_in_the_table(synth_variant, synthesized):
    types = {
        r["Type"]
        for t in _all_templates(synth_variant, synthesized)
        for r in t["Resources"].values()
    }
    assert types - set(policy.CFN_RESOURCE_ACTIONS) == set()
    assert set(policy.CFN_RESOURCE_ACTIONS) - types == set()  # and nothing granted for no reason


def test_permissions_left_out_are_for_properties_no_template_sets(synth_variant, synthesized):
    for template in _all_templates(synth_variant, synthesized):
        for rtype, reasons in policy.CFN_NOT_NEEDED.items():
            for resource in resources(template, rtype).values():
                props = resource.get("Properties", {})
                assert not {p for p, _ in reasons.values() if p} & set(props), rtype


def test_resource_names_stay_inside_the_policy_scopes(synth_variant, synthesized):
    """The policy scopes by name: generated names start with the stack name (HTCondorAnnex-),
    fixed ones are the ones it lists."""
    for template in _all_templates(synth_variant, synthesized):
        for props in (r["Properties"] for r in resources(template, "AWS::IAM::Role").values()):
            assert "RoleName" not in props and props.get("Path", "/") == "/"
        for props in (
            r["Properties"] for r in resources(template, "AWS::IAM::InstanceProfile").values()
        ):
            assert "InstanceProfileName" not in props
        for props in (
            r["Properties"] for r in resources(template, "AWS::Lambda::Function").values()
        ):
            assert props.get("FunctionName", names.STACK_PREFIX).startswith(names.STACK_PREFIX)
        for props in (r["Properties"] for r in resources(template, "AWS::Logs::LogGroup").values()):
            assert props["LogGroupName"].startswith(names.LAMBDA_LOG_GROUP_PREFIX)


def test_the_policy_json_on_disk_matches(synthesized):
    """What `cdk synth` writes for the stack is the same document (a reviewer reads that file)."""
    result = synthesized(SUBMIT_HOST)
    written = json.loads(
        Path(result.outdir / f"{names.SUBMIT_HOST_STACK}.template.json").read_text()
    )
    assert written == result.templates[names.SUBMIT_HOST_STACK]


def test_with_the_image_stack_the_role_carries_both_policies(synthesized):
    document = _resolve(_role(synthesized(SUBMIT_HOST_IMAGE))["Policies"][0]["PolicyDocument"])
    assert document == policy.policy_document(
        region="us-east-1", account="123456789012", build_image=True
    )
    sids = {s["Sid"] for s in document["Statement"]}
    assert {policy.SCOPES[name].sid for name in policy.IMAGE_SCOPES} <= sids
    assert policy.size(document) < 10_240  # IAM's limit for a role's inline policies
    # Without the image stack, the role has none of them.
    plain = _resolve(_role(synthesized(SUBMIT_HOST))["Policies"][0]["PolicyDocument"])
    assert not {policy.SCOPES[name].sid for name in policy.IMAGE_SCOPES} & {
        s["Sid"] for s in plain["Statement"]
    }
