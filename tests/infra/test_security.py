"""Better than condor_annex where it costs no compatibility: least privilege, closed by default."""

from __future__ import annotations

import pytest

from annex_stacks import names
from tests.condor_annex_reference import security_group_ports
from tests.infra.conftest import VARIANTS, as_list, resources, statements


def _ingress(synth_variant, variant):
    t = synth_variant(variant).templates[names.SECURITY_GROUP_STACK]
    sg = t["Resources"][names.LID_SECURITY_GROUP]["Properties"]
    return {
        (r["FromPort"], r["ToPort"], r.get("CidrIp") or r.get("CidrIpv6"))
        for r in sg.get("SecurityGroupIngress", [])
    }


def test_no_cidr_means_no_ingress_and_a_warning_naming_the_setting(synth_variant):
    result = synth_variant("default")
    assert _ingress(synth_variant, "default") == set()
    assert any(names.CTX_ALLOWED_CIDRS in w for w in result.warnings)


def test_one_cidr_opens_collector_and_ssh_only_to_it(synth_variant):
    assert _ingress(synth_variant, "one-cidr") == {
        (9618, 9618, "198.51.100.7/32"),
        (22, 22, "198.51.100.7/32"),
    }
    assert synth_variant("one-cidr").warnings == ()


def test_ssh_off_and_ipv6_open_the_instances_shared_port_not_the_collector_port(synth_variant):
    # The variant's collector listens on 9700; the instances still accept HTCondor on the port
    # condor_annex's own security group opens besides SSH (shared port, 9618).
    (htcondor,) = security_group_ports() - {names.SSH_PORT}
    assert VARIANTS["no-ssh-v6-port"].collector_port != htcondor
    assert _ingress(synth_variant, "no-ssh-v6-port") == {
        (htcondor, htcondor, "198.51.100.0/24"),
        (htcondor, htcondor, "2001:db8::/64"),
    }


def test_world_only_when_asked(synth_variant):
    for variant in ("default", "one-cidr", "no-ssh-v6-port", "tagged-retained"):
        assert all(c not in ("0.0.0.0/0", "::/0") for *_, c in _ingress(synth_variant, variant))
    assert (9618, 9618, "0.0.0.0/0") in _ingress(synth_variant, "world")


def test_bucket_is_encrypted_private_and_tls_only(synth_variant):
    t = synth_variant("one-cidr").templates[names.BUCKET_STACK]
    bucket = t["Resources"][names.LID_BUCKET]
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    [policy] = resources(t, "AWS::S3::BucketPolicy").values()
    [deny] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert bucket["DeletionPolicy"] == "Delete"
    retained = synth_variant("tagged-retained").templates[names.BUCKET_STACK]
    assert retained["Resources"][names.LID_BUCKET]["DeletionPolicy"] == "Retain"


def test_no_wildcard_actions_and_no_events_star(synth_variant):
    for template in synth_variant("one-cidr").templates.values():
        for stmt in statements(template):
            for action in as_list(stmt["Action"]):
                assert "*" not in action, action


def test_terminate_is_limited_to_annex_tagged_instances(synth_variant):
    t = synth_variant("one-cidr").templates[names.LAMBDA_STACK]
    [term] = [s for s in statements(t) if "ec2:TerminateInstances" in as_list(s["Action"])]
    assert term["Resource"] != "*"
    assert term["Condition"] == {"StringLike": {f"ec2:ResourceTag/{names.TAG_ANNEX_NAME}": "*"}}
    [events] = [
        s for s in statements(t) if any(a.startswith("events:") for a in as_list(s["Action"]))
    ]
    assert sorted(as_list(events["Action"])) == ["events:DeleteRule", "events:RemoveTargets"]
    assert "rule/*" in str(events["Resource"])


def test_lease_permissions_admit_only_this_accounts_rules(synth_variant):
    t = synth_variant("one-cidr").templates[names.LAMBDA_STACK]
    perms = resources(t, "AWS::Lambda::Permission")
    assert set(perms) == {names.LID_ODI_PERMISSION, names.LID_SFR_PERMISSION}
    for perm in perms.values():
        props = perm["Properties"]
        assert props["Principal"] == "events.amazonaws.com"
        assert props["SourceAccount"] == {"Ref": "AWS::AccountId"}
        assert props["SourceArn"]["Fn::Sub"].endswith(":rule/*")


def test_check_connectivity_has_its_own_role(synth_variant):
    t = synth_variant("one-cidr").templates[names.LAMBDA_STACK]
    cc = t["Resources"][names.LID_CC_FUNCTION]["Properties"]
    assert cc["Role"] == {"Fn::GetAtt": [names.LID_CC_ROLE, "Arn"]}
    lease = t["Resources"][names.LID_ODI_FUNCTION]["Properties"]
    assert lease["Role"] == {"Fn::GetAtt": [names.LID_LEASE_ROLE, "Arn"]}


TAGGABLE = {
    "AWS::S3::Bucket",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::KeyPair",
}


def _tags(resource):
    return {t["Key"]: t["Value"] for t in resource["Properties"].get("Tags", [])}


@pytest.mark.parametrize("variant", ["one-cidr", "tagged-retained"])
def test_every_taggable_resource_is_tagged(synth_variant, variant):
    extra = {"project": "physics", "cost-center": "42"} if variant == "tagged-retained" else {}
    seen = set()
    for template in synth_variant(variant).templates.values():
        for res in template["Resources"].values():
            if res["Type"] not in TAGGABLE:
                continue
            seen.add(res["Type"])
            tags = _tags(res)
            assert tags[names.TAG_SETUP] == names.TAG_SETUP_VALUE
            # A key pair's tags cannot change without a new key, so user tags stay off it.
            expected_extra = {} if res["Type"] == "AWS::EC2::KeyPair" else extra
            assert {k: v for k, v in tags.items() if k != names.TAG_SETUP} == expected_extra
    assert seen == TAGGABLE
