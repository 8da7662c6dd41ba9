"""HTCondorAnnex-CondorUser: condor_annex's own IAM user, holding exactly the run-time policy."""

from __future__ import annotations

import json
from typing import Any

from annex_stacks import AnnexSettings, build_app, names, policy, synth
from tests.infra.conftest import resources

CONDOR_USER = AnnexSettings(allowed_cidrs=("198.51.100.7/32",), condor_user=True)


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


def test_the_user_holds_the_runtime_policy_and_no_key(tmp_path, cfn_lint):
    from cdk_nag import AwsSolutionsChecks

    result = synth(CONDOR_USER, outdir=tmp_path)
    text = (result.outdir / f"{names.CONDOR_USER_STACK}.template.json").read_text()
    template = json.loads(text)
    [user] = resources(template, "AWS::IAM::User").values()
    [(lid, managed)] = resources(template, "AWS::IAM::ManagedPolicy").items()
    assert user["Properties"]["ManagedPolicyArns"] == [{"Ref": lid}]
    assert "Policies" not in user["Properties"]  # a user's inline policies hold 2,048 in all
    expected = policy.policy_document(
        region="us-east-1", account="123456789012", actions=policy.runtime_actions()
    )
    assert _resolve(managed["Properties"]["PolicyDocument"]) == expected
    # The access key is setup's, made through IAM: none in the template, none in an output.
    assert not resources(template, "AWS::IAM::AccessKey")
    assert list(template["Outputs"]) == [names.OUT_CONDOR_USER]
    assert cfn_lint(text) == []
    violations = AwsSolutionsChecks().validate_scope(build_app(CONDOR_USER, nag=False)).violations
    assert [f"{v.rule_name} {v.resource}" for v in violations] == []
