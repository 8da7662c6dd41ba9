"""Templates read back as JSON or YAML (what the CDK CLI uploads), short-form tags included."""

from __future__ import annotations

import json

import pytest

from annex_cdk.templates.load import TemplateFormatError, body, normalise, parse

YAML = """
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: 2012-10-17
        Statement: []
      Description: !Sub "${AWS::StackName} role"
      Path: !Join ["", ["/", !Ref AWS::Region, "/"]]
  Permission:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !GetAtt Function.Arn
      SourceAccount: !Ref AWS::AccountId
      Other: !GetAtt [Function, Arn]
      Pick: !Select [0, !GetAZs ""]
      Flag: !If [IsProd, !Base64 "x", !Ref AWS::NoValue]
Conditions:
  IsProd: !Equals [!Ref AWS::Region, us-east-1]
"""

JSON_FORM = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
                "Description": {"Fn::Sub": "${AWS::StackName} role"},
                "Path": {"Fn::Join": ["", ["/", {"Ref": "AWS::Region"}, "/"]]},
            },
        },
        "Permission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Fn::GetAtt": ["Function", "Arn"]},
                "SourceAccount": {"Ref": "AWS::AccountId"},
                "Other": {"Fn::GetAtt": ["Function", "Arn"]},
                "Pick": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
                "Flag": {"Fn::If": ["IsProd", {"Fn::Base64": "x"}, {"Ref": "AWS::NoValue"}]},
            },
        },
    },
    "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}},
}


def test_yaml_with_short_form_tags_means_the_same_json():
    assert parse(YAML) == JSON_FORM
    assert normalise(YAML) == normalise(json.dumps(JSON_FORM, indent=4))


def test_a_policy_version_stays_a_string_not_a_date():
    doc = parse("Version: 2012-10-17\n")
    assert doc == {"Version": "2012-10-17"}


def test_json_is_read_as_json():
    assert parse('{"Resources": {}}') == {"Resources": {}}


def test_neither_json_nor_yaml_is_one_clear_error():
    with pytest.raises(TemplateFormatError, match="neither JSON nor YAML"):
        parse("Resources: [unclosed\n  - : :")


def test_the_body_sent_keeps_the_synthesized_key_order() -> None:
    """The CDK CLI compares JSON.stringify of its template and the deployed one: key order
    counts (tests/e2e/test_cdk_cli.py runs the real CLI on what setup deployed)."""
    template = {
        "Resources": {
            "Zeta": {"Type": "AWS::SNS::Topic", "Properties": {"b": 1, "a": [2, {"d": 3, "c": 4}]}}
        },
        "Outputs": {"Out": {"Value": "x"}},
        "Description": "last",
    }
    sent = body(template)
    assert (
        sent
        == '{"Resources":{"Zeta":{"Type":"AWS::SNS::Topic","Properties":{"b":1,"a":[2,{"d":3,"c":4}]}}},"Outputs":{"Out":{"Value":"x"}},"Description":"last"}'
    )
    assert parse(sent) == template
