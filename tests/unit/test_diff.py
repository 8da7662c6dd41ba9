"""annex_cdk.templates.diff: what setup would change, on hand-made templates and on real synthesized ones."""

from __future__ import annotations

import copy
import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from annex_cdk.templates.diff import diff_all, diff_stack
from annex_cdk.templates.diff_model import Replacement, StackDiff, render_all
from annex_cdk.templates.load import normalise
from annex_cdk.templates.update_effects import REPLACING_PROPERTIES
from annex_stacks import names, stack_specs

ROOT = Path(__file__).resolve().parents[2]


def sg_template(rules: list[dict[str, Any]], **props: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "SecurityGroup": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "annex",
                    "SecurityGroupIngress": rules,
                    **props,
                },
            }
        },
        "Outputs": {"SecurityGroupID": {"Value": {"Fn::GetAtt": ["SecurityGroup", "GroupId"]}}},
    }


def rule(cidr: str, port: int, what: str = "HTCondor") -> dict[str, Any]:
    return {
        "CidrIp": cidr,
        "Description": f"{what} from {cidr}",
        "FromPort": port,
        "IpProtocol": "tcp",
        "ToPort": port,
    }


def lambda_template(
    *, code: str = "def handler(e, c):\n    return 1\n", name: str | None = None
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "Code": {"ZipFile": code},
        "Handler": "index.handler",
        "Role": {"Fn::GetAtt": ["Role", "Arn"]},
        "Runtime": "python3.14",
    }
    if name:
        props["FunctionName"] = name
    return {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"Description": "r"}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": props},
            "Perm": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": {"Fn::GetAtt": ["Fn", "Arn"]},
                    "Principal": "events.amazonaws.com",
                },
            },
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "p",
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "lambda:InvokeFunction",
                                "Resource": {"Fn::Sub": "${Fn.Arn}"},
                            }
                        ]
                    },
                },
            },
        },
        "Outputs": {"FnArn": {"Value": {"Fn::GetAtt": ["Fn", "Arn"]}}},
    }


def lines_of(diff: StackDiff) -> list[str]:
    return diff.render()


def templates_differ(a: Any, b: Any) -> bool:
    return (None if a is None else normalise(a)) != (None if b is None else normalise(b))


# --- hand-made templates -----------------------------------------------------------------------
def test_identical_templates_are_unchanged_whatever_the_formatting():
    t = sg_template([rule("198.51.100.7/32", 9618)])
    diff = diff_stack("S", json.dumps(t, indent=4), copy.deepcopy(t))
    assert not diff.changed
    assert diff.action == "unchanged"
    assert diff.render() == ["Stack S: no changes"]
    assert diff.as_dict()["changed"] is False


def test_ingress_change_is_element_level_and_not_a_replacement():
    old = sg_template([rule("198.51.100.7/32", 9618), rule("198.51.100.7/32", 22, "SSH")])
    new = sg_template([rule("198.51.100.7/32", 9618), rule("203.0.113.0/24", 9618)])
    diff = diff_stack("S", old, new)
    [sg] = diff.resources
    assert (sg.status, sg.replacement, sg.dangerous) == ("modified", Replacement.NO, False)
    assert [(c.path, c.kind) for c in sg.changes] == [
        ("SecurityGroupIngress", "removed"),
        ("SecurityGroupIngress", "added"),
    ]
    assert sg.changes[0].old == rule("198.51.100.7/32", 22, "SSH")
    assert lines_of(diff) == [
        "Stack S: update (1 modified)",
        "~ SecurityGroup (AWS::EC2::SecurityGroup)",
        "    SecurityGroupIngress: - tcp 22 from 198.51.100.7/32",
        "    SecurityGroupIngress: + tcp 9618 from 203.0.113.0/24",
    ]


def test_rule_description_change_reads_as_a_change_of_that_rule():
    old = sg_template([rule("198.51.100.7/32", 9618)])
    new = sg_template([{**rule("198.51.100.7/32", 9618), "Description": "collector"}])
    [sg] = diff_stack("S", old, new).resources
    [change] = sg.changes
    assert change.path == "SecurityGroupIngress[tcp 9618 from 198.51.100.7/32].Description"
    assert change.summary == '"HTCondor from 198.51.100.7/32" → "collector"'


def test_reordered_rules_still_count_as_a_change_but_a_cosmetic_one():
    # The engine updates whenever the templates differ; diff must agree, without inventing
    # rule additions and removals.
    a, b = rule("198.51.100.7/32", 9618), rule("198.51.100.7/32", 22, "SSH")
    diff = diff_stack("S", sg_template([a, b]), sg_template([b, a]))
    assert diff.changed and diff.cosmetic_only
    [sg] = diff.resources
    assert [c.path for c in sg.changes] == ["(order)"]
    assert sg.header() == "~ SecurityGroup (AWS::EC2::SecurityGroup) (cosmetic)"


def test_group_description_change_replaces_the_group_but_is_not_dangerous():
    diff = diff_stack("S", sg_template([]), sg_template([], GroupDescription="other"))
    [sg] = diff.resources
    assert sg.replacement is Replacement.YES and not sg.dangerous
    assert sg.header() == (
        "! SecurityGroup (AWS::EC2::SecurityGroup) will be REPLACED: GroupDescription changed"
    )
    assert sg.changes[0].causes_replacement
    # Its GroupId output may change with it.
    [out] = diff.outputs
    assert (out.path, out.kind) == ("SecurityGroupID.Value", "may-change")
    assert out.line() == (
        "SecurityGroupID.Value: ${Fn::GetAtt SecurityGroup.GroupId} may change "
        "(SecurityGroup replaced)"
    )


def test_key_pair_tag_change_replaces_it_dangerously():
    def kp(tags: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "Resources": {
                "KeyPair": {
                    "Type": "AWS::EC2::KeyPair",
                    "Properties": {"KeyName": "k", "Tags": tags},
                }
            }
        }

    diff = diff_stack("K", kp([{"Key": "a", "Value": "1"}]), kp([{"Key": "a", "Value": "2"}]))
    [key] = diff.resources
    assert key.replacement is Replacement.YES and key.dangerous
    assert key.render() == [
        "! KeyPair (AWS::EC2::KeyPair) will be REPLACED: Tags changed "
        "(DANGEROUS: a new private key; the old PEM stops working)",
        '    Tags[a].Value: "1" → "2"',
    ]


def test_type_change_is_a_replacement():
    old = {"Resources": {"X": {"Type": "AWS::S3::Bucket"}}}
    new = {"Resources": {"X": {"Type": "AWS::SNS::Topic"}}}
    [x] = diff_stack("S", old, new).resources
    assert x.replacement is Replacement.YES
    assert x.replacement_reasons == ["Type changed (AWS::S3::Bucket → AWS::SNS::Topic)"]
    assert x.dangerous  # the bucket that goes held the data


def test_added_and_removed_resources():
    old = {"Resources": {"A": {"Type": "AWS::SNS::Topic"}}}
    new = {"Resources": {"B": {"Type": "AWS::SQS::Queue"}}}
    diff = diff_stack("S", old, new)
    assert [(r.logical_id, r.status) for r in diff.resources] == [("A", "removed"), ("B", "added")]
    assert lines_of(diff)[1:] == ["- A (AWS::SNS::Topic)", "+ B (AWS::SQS::Queue)"]


def test_removing_a_bucket_is_dangerous_unless_it_is_retained():
    bucket: dict[str, Any] = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Delete"}
    [gone] = diff_stack("S", {"Resources": {"B": bucket}}, {"Resources": {}}).resources
    assert gone.danger == "the bucket and the annex config objects in it are deleted"
    assert "DANGEROUS" in gone.header()
    kept = {**bucket, "DeletionPolicy": "Retain"}
    [gone] = diff_stack("S", {"Resources": {"B": kept}}, {"Resources": {}}).resources
    assert not gone.dangerous


def test_policies_metadata_and_depends_on():
    old = {
        "Resources": {
            "B": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Delete",
                "DependsOn": "A",
                "Metadata": {"cdk_nag": {"ids": ["X"]}},
            }
        }
    }
    new = copy.deepcopy(old)
    new["Resources"]["B"].update(
        DeletionPolicy="Retain", DependsOn=["A", "C"], Metadata={"cdk_nag": {"ids": ["Y"]}}
    )
    diff = diff_stack("S", old, new)
    [b] = diff.resources
    assert b.replacement is Replacement.NO
    by_path = {c.path: c for c in b.changes}
    assert (by_path["DeletionPolicy"].old, by_path["DeletionPolicy"].new) == ("Delete", "Retain")
    assert by_path["DependsOn"].summary == "+ C"  # "A" vs ["A", …]: one dependency added
    assert by_path["Metadata.cdk_nag.ids[0]"].cosmetic
    assert not diff.cosmetic_only
    assert lines_of(diff)[2:] == [
        '    DeletionPolicy: "Delete" → "Retain"',
        "    DependsOn: + C",
        '    Metadata.cdk_nag.ids[0] (cosmetic): "X" → "Y"',
    ]


def test_metadata_only_is_cosmetic():
    old = {"Resources": {"T": {"Type": "AWS::SNS::Topic", "Metadata": {"a": 1}}}}
    new = {"Resources": {"T": {"Type": "AWS::SNS::Topic", "Metadata": {"a": 2}}}}
    diff = diff_stack("S", old, new)
    assert diff.changed and diff.cosmetic_only
    assert diff.summary() == "update (1 modified, cosmetic only)"


def test_iam_statements_compare_as_sets_and_by_sid():
    def role(statements: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Resources": {
                "R": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "Policies": [
                            {
                                "PolicyName": "Configuration",
                                "PolicyDocument": {"Statement": statements},
                            }
                        ]
                    },
                }
            }
        }

    get = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    find = {"Sid": "Find", "Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"}
    put = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"}
    wider = {**find, "Action": ["ec2:DescribeInstances", "ec2:DescribeTags"]}
    [r] = diff_stack("S", role([get, find]), role([wider, put])).resources
    statements = "Policies[Configuration].PolicyDocument.Statement"
    assert [c.line() for c in r.changes] == [
        f"{statements}: - Allow s3:GetObject on arn:aws:s3:::b/*",
        f"{statements}: + Allow s3:PutObject on arn:aws:s3:::b/*",
        f"{statements}[Find].Action: + ec2:DescribeTags",
    ]
    assert r.replacement is Replacement.NO


def test_replaced_function_cascades_to_what_refers_to_it():
    diff = diff_stack("L", lambda_template(), lambda_template(name="renamed"))
    fn, perm, policy = diff.resource("Fn"), diff.resource("Perm"), diff.resource("Policy")
    assert fn is not None and perm is not None and policy is not None
    assert fn.replacement is Replacement.YES
    # Every property of a Lambda::Permission replaces it; its FunctionName is the Fn's ARN.
    assert perm.replacement is Replacement.MAYBE
    assert perm.replacement_reasons == ["FunctionName refers to Fn, which is replaced"]
    assert perm.header().startswith("! Perm (AWS::Lambda::Permission) may be REPLACED")
    # An IAM::Policy updates in place; its Fn::Sub ${Fn.Arn} may change.
    assert policy.replacement is Replacement.NO
    [change] = policy.changes
    assert change.kind == "may-change"
    assert change.path == "PolicyDocument.Statement[0].Resource"
    assert change.summary == '${Fn::Sub "${Fn.Arn}"} may change (Fn replaced)'
    assert [c.path for c in diff.outputs] == ["FnArn.Value"]
    assert diff.counts() == {
        "added": 0,
        "modified": 1,
        "replaced": 1,
        "maybe_replaced": 1,
        "removed": 0,
        "dangerous": 0,
    }


def test_small_code_change_is_summarised_with_its_diff():
    old_code = "def handler(e, c):\n    return 1\n"
    new_code = "def handler(e, c):\n    return 2\n"
    diff = diff_stack("L", lambda_template(code=old_code), lambda_template(code=new_code))
    fn = diff.resource("Fn")
    assert fn is not None and fn.replacement is Replacement.NO
    [change] = fn.changes
    assert change.path == "Code.ZipFile"
    assert change.summary.startswith(
        f"inline code changed ({len(old_code)} → {len(new_code)} bytes, sha256 "
    )
    assert change.summary.endswith(", 2 lines changed)")
    # One line of context, no ---/+++ header.
    hunk = ("@@ -1,2 +1,2 @@", " def handler(e, c):", "-    return 1", "+    return 2")
    assert change.detail == hunk
    assert fn.render()[2:] == ["        " + line for line in hunk]
    # --json carries sizes and hashes, not the code.
    as_json = change.as_dict()
    assert as_json["old"]["bytes"] == len(old_code) and len(as_json["new"]["sha256"]) == 64
    assert as_json["diff"] == list(change.detail)


def test_large_code_change_has_no_diff():
    old_code = "".join(f"a{i} = {i}\n" for i in range(30))
    new_code = "".join(f"a{i} = {i + 1}\n" for i in range(30))
    fn = diff_stack("L", lambda_template(code=old_code), lambda_template(code=new_code)).resource(
        "Fn"
    )
    assert fn is not None
    [change] = fn.changes
    assert change.summary.endswith("60 lines changed)") and change.detail == ()


def test_outputs_and_template_sections():
    old = {
        "Description": "one",
        "Metadata": {"AnnexCdkSettings": {"annex:ssh": True}},
        "Resources": {},
        "Outputs": {"A": {"Value": "a"}, "B": {"Value": {"Ref": "X"}}},
    }
    new = {
        "Description": "two",
        "Metadata": {"AnnexCdkSettings": {"annex:ssh": False}},
        "Resources": {},
        "Outputs": {"B": {"Value": {"Ref": "Y"}}, "C": {"Value": {"Fn::GetAtt": "Z.Arn"}}},
    }
    diff = diff_stack("S", old, new)
    assert diff.summary() == "update (no resource changes)"
    assert lines_of(diff)[1:] == [
        "~ Outputs",
        '    A: - "a"',
        "    B.Value: ${Ref X} → ${Ref Y}",
        "    C: + ${Fn::GetAtt Z.Arn}",
        "~ Template",
        '    Description: "one" → "two"',
        "    Metadata.AnnexCdkSettings.annex:ssh: true → false",
    ]


def test_intrinsics_render_readably():
    old = {"Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {"A": "x"}}}}
    values = {
        "Ref": ({"Ref": "Bucket"}, "${Ref Bucket}"),
        "GetAtt": (
            {"Fn::GetAtt": ["odiLeaseFunction", "Arn"]},
            "${Fn::GetAtt odiLeaseFunction.Arn}",
        ),
        "Join": (
            {"Fn::Join": ["", ["/ec2/keypair/", {"Fn::GetAtt": ["KeyPair", "KeyPairId"]}]]},
            '${Fn::Join "/ec2/keypair/" + ${Fn::GetAtt KeyPair.KeyPairId}}',
        ),
        "Select": ({"Fn::Select": [0, {"Fn::GetAZs": ""}]}, '${Fn::Select [0, ${Fn::GetAZs ""}]}'),
    }
    for value, text in values.values():
        new = copy.deepcopy(old)
        new["Resources"]["T"]["Properties"]["A"] = value
        [t] = diff_stack("S", old, new).resources
        assert t.changes[0].summary == f'"x" → {text}'


def test_diff_all_orders_stacks_and_handles_absent_ones():
    t = {"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}
    desired = {names.SECURITY_GROUP_STACK: t, names.BUCKET_STACK: t, "Other": t}
    deployed = {names.KEY_PAIR_STACK: t, names.BUCKET_STACK: t, names.LAMBDA_STACK: None}
    diffs = diff_all(desired, deployed)
    assert [(d.stack, d.action) for d in diffs] == [
        (names.BUCKET_STACK, "unchanged"),
        (names.SECURITY_GROUP_STACK, "create"),
        (names.KEY_PAIR_STACK, "delete"),
        ("Other", "create"),
    ]
    assert diff_stack("S", None, None).action == "unchanged"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"Resources": {}}, {"Resources": {}, "Outputs": {}}),
        (
            {"Resources": {}, "Outputs": {"A": {"Value": ["a", "b"]}}},
            {"Resources": {}, "Outputs": {"A": {"Value": ["b", "a"]}}},
        ),
        (sg_template([]), sg_template([], Tags=[])),
        (
            {"Resources": {"T": {"Type": "X", "DependsOn": "A"}}},
            {"Resources": {"T": {"Type": "X", "DependsOn": ["A"]}}},
        ),
    ],
)
def test_changed_exactly_when_the_engine_would_update(old, new):
    diff = diff_stack("S", old, new)
    assert diff.changed is templates_differ(old, new) is True
    assert diff.render()[1:]  # and something says what


def test_import_is_light():
    heavy = ("aws_cdk", "jsii", "boto3", "botocore")
    code = (
        "import sys, annex_cdk.templates.diff, annex_cdk.templates.diff_model; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_replacement_table_matches_the_cdk_service_spec():
    """The table against the database `cdk diff` uses: nothing it says replaces may be missing."""
    db_path = ROOT / "node_modules" / "aws-cdk" / "db.json.gz"
    assert db_path.exists(), "node_modules/aws-cdk is missing: run `npm ci` (scripts/install)"
    with gzip.open(db_path) as fh:
        db = json.load(fh)
    spec = {
        r["cloudFormationType"]: r["properties"]
        for r in db["schema"]["resource"]["entities"]
        if r.get("cloudFormationType") in REPLACING_PROPERTIES
    }
    assert set(spec) == set(REPLACING_PROPERTIES)
    for rtype, replacing in REPLACING_PROPERTIES.items():
        says = {p for p, d in spec[rtype].items() if d.get("causesReplacement") in ("yes", "maybe")}
        assert says <= replacing, f"{rtype}: add {sorted(says - replacing)}"
        assert replacing <= set(spec[rtype]), (
            f"{rtype}: no such property {sorted(replacing - set(spec[rtype]))}"
        )


# --- real synthesized templates -------------------------------------------------------------------
BASE_CIDR = "198.51.100.7/32"
NEW_CIDR = "203.0.113.0/24"


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two settings variants, synthesized once: the variant widens the CIDRs, turns SSH off,
    renames the key, adds a tag and retains the bucket."""
    from annex_stacks import AnnexSettings, synth

    base = synth(AnnexSettings(allowed_cidrs=(BASE_CIDR,)), outdir=tmp_path_factory.mktemp("base"))
    variant = synth(
        AnnexSettings(
            allowed_cidrs=(BASE_CIDR, NEW_CIDR),
            ssh=False,
            key_pair_name="annex-key-2",
            extra_tags={"Owner": "research"},
            retain_bucket=True,
        ),
        outdir=tmp_path_factory.mktemp("variant"),
    )
    return base.templates, variant.templates


def by_stack(diffs: list[StackDiff]) -> dict[str, StackDiff]:
    return {d.stack: d for d in diffs}


def test_real_identical_is_no_change(synthesized):
    base, _ = synthesized
    # As CloudFormation's GetTemplate returns them: JSON text.
    deployed = {name: json.dumps(t, indent=2) for name, t in base.items()}
    diffs = diff_all(base, deployed)
    assert [d.stack for d in diffs] == list(stack_specs.CORE_STACKS)
    assert not any(d.changed for d in diffs)
    assert render_all(diffs)[-1] == "No changes."


def test_real_cidr_and_ssh_change_modifies_the_group_in_place(synthesized):
    base, variant = synthesized
    sg = by_stack(diff_all(variant, base))[names.SECURITY_GROUP_STACK]
    group = sg.resource(names.LID_SECURITY_GROUP)
    assert group is not None and group.replacement is Replacement.NO
    rules = [(c.kind, c.summary) for c in group.changes if c.path == "SecurityGroupIngress"]
    assert rules == [
        ("removed", f"- tcp 22 from {BASE_CIDR}"),
        ("added", f"+ tcp 9618 from {NEW_CIDR}"),
    ]
    lines = sg.render()
    assert "~ SecurityGroup (AWS::EC2::SecurityGroup)" in lines
    assert f"    SecurityGroupIngress: + tcp 9618 from {NEW_CIDR}" in lines
    assert f"    SecurityGroupIngress: - tcp 22 from {BASE_CIDR}" in lines
    assert "    Metadata.AnnexCdkSettings.annex:ssh: true → false" in lines


def test_real_key_name_change_replaces_the_key_dangerously(synthesized):
    base, variant = synthesized
    kp = by_stack(diff_all(variant, base))[names.KEY_PAIR_STACK]
    key = kp.resource(names.LID_KEY_PAIR)
    assert key is not None
    assert key.replacement is Replacement.YES and key.dangerous
    # User tags never reach the key pair (a tag change would replace it): only the name moves.
    assert [c.path for c in key.changes] == ["KeyName"]
    assert key.header() == (
        "! KeyPair (AWS::EC2::KeyPair) will be REPLACED: KeyName changed "
        "(DANGEROUS: a new private key; the old PEM stops working)"
    )
    assert {c.path for c in kp.outputs} == {
        f"{names.OUT_KEY_PAIR_NAME}.Value",
        f"{names.OUT_KEY_PAIR_ID}.Value",
        f"{names.OUT_KEY_PAIR_PARAMETER}.Value",
    }
    assert "1 DANGEROUS" in render_all(diff_all(variant, base))[-1]


def test_real_tags_and_retained_bucket(synthesized):
    base, variant = synthesized
    bucket_stack = by_stack(diff_all(variant, base))[names.BUCKET_STACK]
    bucket = bucket_stack.resource(names.LID_BUCKET)
    assert bucket is not None and bucket.replacement is Replacement.NO and not bucket.dangerous
    assert [c.line() for c in bucket.changes] == [
        "Tags: + Owner=research",
        'DeletionPolicy: "Delete" → "Retain"',
        'UpdateReplacePolicy: "Delete" → "Retain"',
    ]
    assert "    Metadata.AnnexCdkSettings.annex:retainBucket: false → true" in bucket_stack.render()
    # Every taggable Lambda-stack resource gets the tag, and none is replaced for it.
    lam = by_stack(diff_all(variant, base))[names.LAMBDA_STACK]
    assert lam.replaced == []
    assert all(c.line() == "Tags: + Owner=research" for r in lam.resources for c in r.changes)


def test_real_removed_key_pair_stack_when_the_user_brings_a_key(synthesized):
    base, _ = synthesized
    desired = {n: t for n, t in base.items() if n != names.KEY_PAIR_STACK}
    kp = by_stack(diff_all(desired, base))[names.KEY_PAIR_STACK]
    assert kp.action == "delete" and kp.changed
    [key] = kp.resources
    assert key.status == "removed" and key.dangerous
    assert kp.render()[:2] == [
        f"Stack {names.KEY_PAIR_STACK}: delete (1 removed, 1 DANGEROUS)",
        "- KeyPair (AWS::EC2::KeyPair) (DANGEROUS: the key pair and its private key are deleted; "
        "the PEM stops working)",
    ]


def test_real_added_stacks_on_a_fresh_account(synthesized):
    base, _ = synthesized
    diffs = diff_all(base, dict.fromkeys(base))
    assert all(d.action == "create" for d in diffs)
    sg = by_stack(diffs)[names.SECURITY_GROUP_STACK]
    assert sg.render() == [
        f"Stack {names.SECURITY_GROUP_STACK}: create (1 added)",
        "+ SecurityGroup (AWS::EC2::SecurityGroup)",
        "+ Outputs",
        "    SecurityGroupID: + ${Fn::GetAtt SecurityGroup.GroupId}",
    ]


def test_real_code_change_is_summarised(synthesized):
    base, _ = synthesized
    deployed = base[names.LAMBDA_STACK]
    desired = copy.deepcopy(deployed)
    fn = desired["Resources"][names.LID_ODI_FUNCTION]["Properties"]
    fn["Code"]["ZipFile"] = fn["Code"]["ZipFile"].replace(
        "def odi_handler", "# new\ndef odi_handler"
    )
    diff = diff_stack(names.LAMBDA_STACK, deployed, desired)
    [odi] = diff.resources
    [change] = odi.changes
    assert change.path == "Code.ZipFile"
    assert change.summary.startswith("inline code changed (")
    assert "+# new" in change.detail
    assert len(odi.render()) <= 8  # header, summary line, a short hunk: no code dump
    assert odi.replacement is Replacement.NO


def test_real_diffs_are_json_ready_and_consistent(synthesized):
    base, variant = synthesized
    cases = [(variant, base), (base, variant), (base, base), (base, dict.fromkeys(base))]
    for desired, deployed in cases:
        for d in diff_all(desired, deployed):
            text = json.dumps(d.as_dict())
            assert "def odi_handler" not in text  # no inline code in --json
            assert d.changed is templates_differ(deployed.get(d.stack), desired.get(d.stack))


def test_every_synthesized_resource_type_is_in_the_replacement_table(synthesized):
    base, variant = synthesized
    types = {
        r["Type"] for t in [*base.values(), *variant.values()] for r in t["Resources"].values()
    }
    assert types <= set(REPLACING_PROPERTIES), sorted(types - set(REPLACING_PROPERTIES))


# --- an image rebuild (the optional HTCondorAnnex-Image stack) ----------------------------------
#: What Image Builder's immutable versions make a rebuild replace; nothing condor_annex uses.
IMAGE_RESOURCES = {names.LID_IMAGE_COMPONENT, names.LID_IMAGE_RECIPE, names.LID_IMAGE}


@pytest.fixture(scope="module")
def image_builds(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """The image stack as built, rebuilt with a new recipe version, and with the other series."""
    from annex_stacks import AnnexSettings, synth

    def templates(name: str, **image: Any) -> dict[str, Any]:
        settings = AnnexSettings(allowed_cidrs=(BASE_CIDR,), build_image=True, **image)
        return synth(settings, outdir=tmp_path_factory.mktemp(name)).templates

    return {
        "built": templates("built", image_htcondor="24.0"),
        "new-version": templates("new-version", image_htcondor="24.0", image_version="1.0.1"),
        "new-series": templates("new-series", image_htcondor="25.x"),
    }


@pytest.mark.parametrize(
    ("rebuild", "replaced"),
    [
        ("new-version", {names.LID_IMAGE_RECIPE, names.LID_IMAGE}),
        ("new-series", IMAGE_RESOURCES),
    ],
)
def test_real_image_rebuild_replaces_only_the_image(image_builds, rebuild, replaced):
    built = image_builds["built"]
    diffs = by_stack(diff_all(image_builds[rebuild], built))
    image = diffs.pop(names.IMAGE_STACK)
    # condor_annex's stacks and the key pair: not a change at all.
    assert {n: d.changed for n, d in diffs.items()} == dict.fromkeys(stack_specs.CORE_STACKS, False)
    assert {r.logical_id for r in image.replaced} == replaced
    for resource in image.resources:
        if resource.logical_id not in replaced:  # the build role's policy names the component
            assert resource.replacement is Replacement.NO, resource.header()
        assert not resource.dangerous
    assert f"{names.OUT_IMAGE_ID}.Value" in {c.path for c in image.outputs}
    lines = render_all(diff_all(image_builds[rebuild], built))
    assert "DANGEROUS" not in "\n".join(lines)
