"""What condor_annex and annex instances depend on: names, outputs, logical IDs, policy strings."""

from __future__ import annotations

import re

import pytest

from annex_lambda_src import lease
from annex_stacks import names, stack_specs
from annex_stacks.instance_profile_stack import config_object_arn
from tests.infra.conftest import VARIANTS, as_list, assert_built_as_declared, resources, statements

# The regex the condor-annex-ec2 boot script applies to its role's policy resources.
BOOT_SCRIPT_RE = re.compile(r"^arn:aws:s3:::[^/]*/config-\*\.tar\.gz")

EXPECTED_OUTPUTS = {
    names.BUCKET_STACK: {names.OUT_BUCKET},
    names.LAMBDA_STACK: {names.OUT_ODI_LEASE, names.OUT_SFR_LEASE, names.OUT_CHECK_CONNECTIVITY},
    names.INSTANCE_PROFILE_STACK: {names.OUT_INSTANCE_PROFILE},
    names.SECURITY_GROUP_STACK: {names.OUT_SECURITY_GROUP},
    names.KEY_PAIR_STACK: {
        names.OUT_KEY_PAIR_NAME,
        names.OUT_KEY_PAIR_ID,
        names.OUT_KEY_PAIR_PARAMETER,
    },
}


def test_five_stacks_with_exact_names(synth_variant):
    assert list(synth_variant("one-cidr").templates) == list(stack_specs.CORE_STACKS)
    assert names.KEY_PAIR_STACK not in synth_variant("own-key").templates


@pytest.mark.parametrize("stack", stack_specs.CORE_STACKS)
def test_outputs_have_condor_annex_keys(synth_variant, stack):
    outputs = synth_variant("one-cidr").templates[stack]["Outputs"]
    assert set(outputs) == EXPECTED_OUTPUTS[stack]


def test_every_stack_is_built_as_its_spec_declares(synth_variant):
    templates = synth_variant("image").templates
    assert list(templates) == [*stack_specs.CORE_STACKS, names.IMAGE_STACK]
    assert_built_as_declared(templates)


def test_no_output_collides_with_condor_annex_scratchpad(synth_variant):
    forbidden = {k.lower() for k in names.FORBIDDEN_OUTPUT_KEYS}
    for template in synth_variant("tagged-retained").templates.values():
        assert not {k.lower() for k in template.get("Outputs", {})} & forbidden


def test_condor_annex_logical_ids_are_kept(synth_variant):
    t = synth_variant("one-cidr").templates
    expected = {
        names.BUCKET_STACK: {names.LID_BUCKET: "AWS::S3::Bucket"},
        names.LAMBDA_STACK: {
            names.LID_LEASE_ROLE: "AWS::IAM::Role",
            names.LID_CC_ROLE: "AWS::IAM::Role",
            names.LID_ODI_FUNCTION: "AWS::Lambda::Function",
            names.LID_SFR_FUNCTION: "AWS::Lambda::Function",
            names.LID_CC_FUNCTION: "AWS::Lambda::Function",
            names.LID_ODI_PERMISSION: "AWS::Lambda::Permission",
            names.LID_SFR_PERMISSION: "AWS::Lambda::Permission",
        },
        names.INSTANCE_PROFILE_STACK: {
            names.LID_INSTANCE_ROLE: "AWS::IAM::Role",
            names.LID_INSTANCE_PROFILE: "AWS::IAM::InstanceProfile",
        },
        names.SECURITY_GROUP_STACK: {names.LID_SECURITY_GROUP: "AWS::EC2::SecurityGroup"},
        names.KEY_PAIR_STACK: {names.LID_KEY_PAIR: "AWS::EC2::KeyPair"},
    }
    for stack, ids in expected.items():
        for lid, rtype in ids.items():
            assert t[stack]["Resources"][lid]["Type"] == rtype, (stack, lid)


def test_bucket_name_is_deterministic_and_shared_without_cross_stack_refs(synth_variant):
    t = synth_variant("one-cidr").templates
    bucket = t[names.BUCKET_STACK]["Resources"][names.LID_BUCKET]["Properties"]
    assert bucket["BucketName"] == {"Fn::Sub": names.BUCKET_NAME_PATTERN}
    # No stack waits for another: nothing is imported across stacks.
    for template in t.values():
        assert "Fn::ImportValue" not in str(template)
    name = names.bucket_name("123456789012", "ap-southeast-2")
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name)


def test_check_connectivity_keeps_its_fixed_name(synth_variant):
    fn = synth_variant("one-cidr").templates[names.LAMBDA_STACK]["Resources"][names.LID_CC_FUNCTION]
    assert fn["Properties"]["FunctionName"] == names.CHECK_CONNECTIVITY_FUNCTION


def test_instance_role_keeps_literal_config_object_arn(synth_variant):
    t = synth_variant("one-cidr").templates[names.INSTANCE_PROFILE_STACK]
    role = t["Resources"][names.LID_INSTANCE_ROLE]["Properties"]
    [config] = [p for p in role["Policies"] if p["PolicyName"] == "Configuration"]
    [stmt] = config["PolicyDocument"]["Statement"]
    assert as_list(stmt["Action"]) == ["s3:GetObject"]
    arn = config_object_arn(VARIANTS["one-cidr"])
    assert stmt["Resource"] == {"Fn::Sub": arn}
    resolved = arn.replace("${AWS::AccountId}", "123456789012").replace(
        "${AWS::Region}", "us-east-1"
    )
    assert BOOT_SCRIPT_RE.match(resolved)
    assert (
        resolved == f"arn:aws:s3:::{names.bucket_name('123456789012', 'us-east-1')}/config-*.tar.gz"
    )


def test_instance_role_has_the_eight_introspection_actions(synth_variant):
    t = synth_variant("one-cidr").templates[names.INSTANCE_PROFILE_STACK]
    actions = {a for s in statements(t) for a in as_list(s["Action"])}
    assert actions == {
        "s3:GetObject",
        "iam:GetRolePolicy",
        "iam:GetInstanceProfile",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies",
        "ec2:DescribeInstances",
        "ec2:DescribeSpotFleetRequests",
    }


def test_instance_role_reads_aws_managed_policies_too(synth_variant):
    # condor-annex-ec2 calls get-policy/get-policy-version on every ARN that
    # list-attached-role-policies returns, AWS-managed ones (arn:aws:iam::aws:policy/...) included.
    t = synth_variant("one-cidr").templates[names.INSTANCE_PROFILE_STACK]
    (read,) = [s for s in statements(t) if "iam:GetPolicy" in as_list(s["Action"])]
    arns = {r["Fn::Sub"] for r in as_list(read["Resource"])}
    assert arns == {
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/*",
        "arn:${AWS::Partition}:iam::aws:policy/*",
    }


def test_lease_functions_are_told_their_bucket(synth_variant):
    for variant, bucket in (
        ("one-cidr", {"Fn::Sub": names.BUCKET_NAME_PATTERN}),
        ("adopted", VARIANTS["adopted"].bucket_name),
    ):
        t = synth_variant(variant).templates[names.LAMBDA_STACK]
        for lid in (names.LID_ODI_FUNCTION, names.LID_SFR_FUNCTION):
            env = t["Resources"][lid]["Properties"]["Environment"]["Variables"]
            assert env == {names.LEASE_BUCKET_ENV: bucket}
            assert names.LEASE_BUCKET_ENV == lease.BUCKET_ENV


def test_key_pair_stack_names_the_ssm_parameter(synth_variant):
    t = synth_variant("tagged-retained").templates[names.KEY_PAIR_STACK]
    key = t["Resources"][names.LID_KEY_PAIR]["Properties"]
    assert key["KeyName"] == "my-annex-key"
    param = t["Outputs"][names.OUT_KEY_PAIR_PARAMETER]["Value"]
    assert param == {
        "Fn::Join": [
            "",
            [names.KEY_PAIR_SSM_PREFIX, {"Fn::GetAtt": [names.LID_KEY_PAIR, "KeyPairId"]}],
        ]
    }


def test_every_function_logs_to_an_explicit_group_with_retention(synth_variant):
    t = synth_variant("one-cidr").templates[names.LAMBDA_STACK]
    groups = resources(t, "AWS::Logs::LogGroup")
    fns = resources(t, "AWS::Lambda::Function")
    assert len(fns) == 3
    for fn in fns.values():
        ref = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[ref]["Properties"]["RetentionInDays"] == 30
        assert groups[ref]["DeletionPolicy"] == "Delete"


def test_a_kept_bucket_is_not_renamed_and_policies_name_it(synth_variant):
    t = synth_variant("adopted").templates
    bucket = t[names.BUCKET_STACK]["Resources"][names.LID_BUCKET]["Properties"]
    assert "BucketName" not in bucket  # naming it would replace it, contents and all
    role = t[names.INSTANCE_PROFILE_STACK]["Resources"][names.LID_INSTANCE_ROLE]["Properties"]
    [config] = [p for p in role["Policies"] if p["PolicyName"] == "Configuration"]
    [stmt] = config["PolicyDocument"]["Statement"]
    resource = stmt["Resource"]
    assert BOOT_SCRIPT_RE.match(resource)
    assert resource == "arn:aws:s3:::htcondorannex-configurationbucket-1x2y3z/config-*.tar.gz"
    lease = [s for s in statements(t[names.LAMBDA_STACK]) if s["Action"] == "s3:DeleteObject"]
    assert lease[0]["Resource"] == resource
