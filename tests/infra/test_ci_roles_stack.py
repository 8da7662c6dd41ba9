"""HTCondorAnnex-CiRoles: GitHub OIDC trust pinned to the repository, PRs and the environment;
a plan role that cannot write; a deploy role that covers setup but never the private key."""

from __future__ import annotations

from typing import Any

import pytest

from annex_cdk.templates.load import body as template_body
from annex_stacks import (
    AnnexSettings,
    SynthResult,
    build_app,
    names,
    policy,
    recorded_context,
    stack_specs,
    synth,
)
from annex_stacks.policy import ci_roles
from annex_stacks.settings import SettingsError
from tests.infra.conftest import as_list, assert_built_as_declared, resources
from tests.infra.test_submit_host_stack import _resolve
from tests.infra.test_synthesis import INLINE_TEMPLATE_LIMIT
from tests.policy_eval import allows

REPO = "octo-org/annex-pool"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{names.GITHUB_OIDC_HOST}"
CI = AnnexSettings(allowed_cidrs=("198.51.100.7/32",), ci_roles=True, ci_repository=REPO)
CI_REUSED = AnnexSettings(
    allowed_cidrs=("198.51.100.7/32",),
    ci_roles=True,
    ci_repository=REPO,
    ci_environment="production",
    ci_oidc_provider_arn=PROVIDER,
)
#: GitHub's subject claims for the two job kinds, as its OIDC docs spell them.
PR_SUBJECT = f"repo:{REPO}:pull_request"
ENV_SUBJECT = f"repo:{REPO}:environment:aws"


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Any:
    done: dict[int, SynthResult] = {}

    def run(settings: AnnexSettings) -> SynthResult:
        if id(settings) not in done:
            done[id(settings)] = synth(settings, outdir=tmp_path_factory.mktemp("synth-ci"))
        return done[id(settings)]

    return run


def _template(result: SynthResult) -> dict[str, Any]:
    return result.templates[names.CI_ROLES_STACK]


def _role(result: SynthResult, lid: str) -> dict[str, Any]:
    return _template(result)["Resources"][lid]["Properties"]


def _condition(role: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(statement["Condition"]) == {"StringEquals"}  # no StringLike: no wildcards
    return statement["Principal"]["Federated"], statement["Condition"]["StringEquals"]


def test_off_by_default_and_needs_the_repository(synthesized):
    assert AnnexSettings().ci_roles is False
    with pytest.raises(SettingsError, match="--ci-repository"):
        AnnexSettings(ci_roles=True)
    for bad in ("octo", "octo/annex/x", "octo/an nex", "../x"):
        with pytest.raises(SettingsError, match="OWNER/NAME"):
            AnnexSettings(ci_roles=True, ci_repository=bad)
    with pytest.raises(SettingsError, match="OIDC provider"):
        AnnexSettings(ci_oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/example.com")
    result = synthesized(CI)
    assert list(result.templates) == [*stack_specs.CORE_STACKS, names.CI_ROLES_STACK]
    assert_built_as_declared(result.templates)
    assert set(_template(result)["Outputs"]) == {
        names.OUT_CI_PLAN_ROLE,
        names.OUT_CI_DEPLOY_ROLE,
        names.OUT_CI_OIDC_PROVIDER,
    }


def test_plan_is_trusted_only_by_the_repositorys_pull_requests(synthesized):
    provider, condition = _condition(_role(synthesized(CI), names.LID_CI_PLAN_ROLE))
    assert provider == {"Fn::GetAtt": [names.LID_CI_OIDC_PROVIDER, "Arn"]}
    assert condition == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": PR_SUBJECT,
    }


def test_deploy_is_trusted_only_by_the_protected_environment(synthesized):
    _, condition = _condition(_role(synthesized(CI), names.LID_CI_DEPLOY_ROLE))
    assert condition["token.actions.githubusercontent.com:sub"] == ENV_SUBJECT
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    provider, condition = _condition(_role(synthesized(CI_REUSED), names.LID_CI_DEPLOY_ROLE))
    assert condition["token.actions.githubusercontent.com:sub"] == (
        f"repo:{REPO}:environment:production"
    )
    assert provider == PROVIDER


def test_the_provider_is_created_or_reused(synthesized):
    [(lid, provider)] = resources(_template(synthesized(CI)), "AWS::IAM::OIDCProvider").items()
    assert lid == names.LID_CI_OIDC_PROVIDER
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]
    assert resources(_template(synthesized(CI_REUSED)), "AWS::IAM::OIDCProvider") == {}
    outputs = _template(synthesized(CI_REUSED))["Outputs"]
    assert outputs[names.OUT_CI_OIDC_PROVIDER]["Value"] == PROVIDER


def _document(result: SynthResult, lid: str) -> dict[str, Any]:
    [inline] = _role(result, lid)["Policies"]
    return inline["PolicyDocument"]


def _actions(document: dict[str, Any]) -> set[str]:
    return {a for s in document["Statement"] for a in as_list(s["Action"])}


def _is_write(action: str) -> bool:
    # IAM's naming: Describe*, Get*, List* are its read access level; the rest here write
    # (SimulatePrincipalPolicy is the one read of another name).
    verb = action.split(":")[1]
    return (
        not verb.startswith(("Describe", "Get", "List")) and action != "iam:SimulatePrincipalPolicy"
    )


#: Every write the three sources of the submit host's policy name (handlers list reads too).
WRITES = {
    a
    for by_scope in policy.CFN_RESOURCE_ACTIONS.values()
    for actions in by_scope.values()
    for a in actions.all
    if _is_write(a)
} | {
    a
    for source in (policy.ANNEX_CDK_ACTIONS, policy.CONDOR_ANNEX_ACTIONS)
    for listed in source.values()
    for a in listed
    if _is_write(a)
}


def test_the_plan_role_cannot_write(synthesized):
    document = _document(synthesized(CI), names.LID_CI_PLAN_ROLE)
    writes = sorted(a for a in WRITES if allows(document, a))
    assert writes == []
    assert not allows(document, "ssm:GetParameter") and not allows(document, "kms:Decrypt")
    for action in _actions(document):  # every action is IAM's read level, wildcards included
        verb = action.split(":")[1]
        assert verb.startswith(("Describe", "Get", "List")) or action in ci_roles.READ_ACTIONS
    assert "sts:AssumeRole" not in _actions(document)
    # What `annex-cdk diff` calls on a deployed setup (tests/e2e records them).
    for call in ("cloudformation:DescribeStacks", "cloudformation:GetTemplate",
                 "ec2:DescribeKeyPairs", "s3:ListBucket", "iam:SimulatePrincipalPolicy"):  # fmt: skip
        assert allows(document, call), call


def test_the_deploy_role_deploys_but_never_reads_the_private_key(synthesized):
    document = _document(synthesized(CI), names.LID_CI_DEPLOY_ROLE)
    for call in ("cloudformation:CreateStack", "cloudformation:UpdateStack", "iam:PassRole",
                 "ec2:CreateKeyPair", "ssm:PutParameter", "lambda:CreateFunction"):  # fmt: skip
        assert allows(document, call), call
    key = "arn:aws:ssm:us-east-1:123456789012:parameter/ec2/keypair/key-0123"
    lock = _resolve(next(s for s in document["Statement"] if s["Sid"] == ci_roles.LOCK_SID))
    assert lock["Resource"] == f"arn:aws:ssm:us-east-1:123456789012:parameter{names.LOCK_PARAMETER}"
    assert not _allows_resolved(document, "ssm:GetParameter", key)
    assert not allows(document, "kms:Decrypt")
    # condor_annex's own calls stay with the submit host: no instance is launched from CI.
    for call in ("ec2:RunInstances", "ec2:RequestSpotFleet", "lambda:InvokeFunction"):
        assert not allows(document, call), call
    # The trust anchor is an administrator's to create or delete.
    assert not allows(document, "iam:CreateOpenIDConnectProvider")
    assert not allows(document, "iam:DeleteOpenIDConnectProvider")


def _allows_resolved(document: dict[str, Any], action: str, resource: str) -> bool:
    return allows(_resolve(document), action, resource)


def test_the_settings_are_recorded_so_a_pipeline_run_keeps_the_stack(synthesized):
    ctx = recorded_context({names.CI_ROLES_STACK: _template(synthesized(CI_REUSED))})
    kept = AnnexSettings.from_context(ctx)
    assert (kept.ci_roles, kept.ci_repository, kept.ci_environment) == (True, REPO, "production")
    assert kept.ci_oidc_provider_arn == PROVIDER


def test_size_lint_and_nag(synthesized, cfn_lint):
    from cdk_nag import AwsSolutionsChecks

    for settings in (CI, CI_REUSED):
        result = synthesized(settings)
        assert (
            len(template_body(result.templates[names.CI_ROLES_STACK]).encode())
            < INLINE_TEMPLATE_LIMIT
        )
        for lid in (names.LID_CI_PLAN_ROLE, names.LID_CI_DEPLOY_ROLE):
            # IAM's limit for a role's inline policies (10,240 characters, whitespace excluded).
            assert policy.size(_document(result, lid)) < 10_240
        text = (result.outdir / f"{names.CI_ROLES_STACK}.template.json").read_text()
        assert cfn_lint(text) == []
        violations = AwsSolutionsChecks().validate_scope(build_app(settings, nag=False)).violations
        assert [v.rule_name for v in violations] == []
