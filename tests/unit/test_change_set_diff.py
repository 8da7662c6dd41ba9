"""`diff` asks CloudFormation: a read-only change set per updated stack (cli/aws/change_set.py)
and its verdicts laid over the template diff (cli/templates/change_set.py).

The emulator (moto) describes Modify changes without Replacement or Details, so the change-set
path is exercised here on responses shaped per the CloudFormation API model: botocore's
Stubber checks every request and response against the model a real endpoint uses.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber

from annex_cdk.aws.change_set import read_change_set
from annex_cdk.aws.engine import CAPABILITIES
from annex_cdk.templates.change_set import (
    CHANGE_SET,
    TEMPLATE,
    can_say,
    from_template,
    with_change_set,
)
from annex_cdk.templates.diff import diff_stack
from annex_cdk.templates.diff_model import Replacement, render_all

STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/HTCondorAnnex-Bucket/1"
CHANGE_SET_ID = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/annex-cdk-diff-x/1"
OLD = {
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "old-name"}},
        "Policy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {"Bucket": {"Ref": "Bucket"}, "PolicyDocument": {"Statement": []}},
        },
    }
}
NEW = {
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "new-name"}},
        "Policy": OLD["Resources"]["Policy"],
    }
}
#: A real-AWS-shaped Modify: the bucket is replaced for its name, resolved values included.
BUCKET_REPLACED = {
    "Type": "Resource",
    "ResourceChange": {
        "Action": "Modify",
        "LogicalResourceId": "Bucket",
        "PhysicalResourceId": "old-name",
        "ResourceType": "AWS::S3::Bucket",
        "Replacement": "True",
        "Scope": ["Properties"],
        "Details": [
            {
                "Target": {
                    "Attribute": "Properties",
                    "Name": "BucketName",
                    "RequiresRecreation": "Always",
                    "Path": "/Properties/BucketName",
                    "BeforeValue": "old-name",
                    "AfterValue": "new-name",
                    "AttributeChangeType": "Modify",
                },
                "Evaluation": "Static",
                "ChangeSource": "DirectModification",
            }
        ],
    },
}
#: What the template diff cannot see: the policy changes because the bucket it refers to is
#: replaced; CloudFormation says "Conditional", caused by Bucket.
POLICY_MAYBE = {
    "Type": "Resource",
    "ResourceChange": {
        "Action": "Modify",
        "LogicalResourceId": "Policy",
        "PhysicalResourceId": "policy-1",
        "ResourceType": "AWS::S3::BucketPolicy",
        "Replacement": "Conditional",
        "Scope": ["Properties"],
        "Details": [
            {
                "Target": {
                    "Attribute": "Properties",
                    "Name": "Bucket",
                    "RequiresRecreation": "Always",
                },
                "Evaluation": "Dynamic",
                "ChangeSource": "ResourceReference",
                "CausingEntity": "Bucket",
            }
        ],
    },
}


@pytest.fixture
def cfn():
    client = boto3.client(
        "cloudformation",
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLEEXAMPLE00",
        aws_secret_access_key="secret",
    )
    with Stubber(client) as stub:
        client.stub = stub  # type: ignore[attr-defined]
        yield client
        stub.assert_no_pending_responses()  # the change set was deleted, every time


def _created(cfn) -> None:
    cfn.stub.add_response(
        "create_change_set",
        {"Id": CHANGE_SET_ID, "StackId": STACK_ID},
        {
            "StackName": STACK_ID,
            "ChangeSetName": ANY,  # unique per run
            "ChangeSetType": "UPDATE",
            "TemplateBody": ANY,
            "Capabilities": CAPABILITIES,
            "Description": "annex-cdk diff: read only, deleted after reading",
        },
    )


def _described(cfn, status: str, changes: list, reason: str | None = None) -> None:
    response = {
        "ChangeSetName": "annex-cdk-diff-x",
        "ChangeSetId": CHANGE_SET_ID,
        "StackId": STACK_ID,
        "StackName": "HTCondorAnnex-Bucket",
        "ExecutionStatus": "UNAVAILABLE" if status != "CREATE_COMPLETE" else "AVAILABLE",
        "Status": status,
        "Changes": changes,
    }
    if reason:
        response["StatusReason"] = reason
    cfn.stub.add_response(
        "describe_change_set",
        response,
        {"ChangeSetName": CHANGE_SET_ID, "IncludePropertyValues": True},
    )


def _deleted(cfn) -> None:
    cfn.stub.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET_ID})


def test_replacement_cause_and_resolved_values_come_from_cloudformation(cfn):
    _created(cfn)
    _described(cfn, "CREATE_PENDING", [])
    _described(cfn, "CREATE_COMPLETE", [BUCKET_REPLACED, POLICY_MAYBE])
    _deleted(cfn)
    reading = read_change_set(cfn, STACK_ID, NEW, capabilities=CAPABILITIES)
    assert reading.changes is not None and can_say(reading.changes)

    diff = with_change_set(diff_stack("HTCondorAnnex-Bucket", OLD, NEW), reading.changes)
    assert diff.source == CHANGE_SET
    bucket = diff.resource("Bucket")
    assert bucket.replacement is Replacement.YES
    assert bucket.replacement_reasons == ['BucketName: "old-name" → "new-name" (Always)']
    assert bucket.dangerous  # a new, empty bucket: our knowledge of what is lost stays
    policy = diff.resource("Policy")
    assert policy.replacement is Replacement.MAYBE
    assert policy.replacement_reasons == ["Bucket (Always, via Bucket)"]
    assert not policy.dangerous
    text = "\n".join(render_all([diff]))
    assert "(replacements as CloudFormation's change set says)" in text
    assert "! Policy (AWS::S3::BucketPolicy) may be REPLACED: Bucket (Always, via Bucket)" in text
    assert diff.as_dict()["source"] == CHANGE_SET


def test_cloudformation_saying_no_replacement_overrides_the_template_guess(cfn):
    in_place = {
        "Type": "Resource",
        "ResourceChange": {
            **BUCKET_REPLACED["ResourceChange"],
            "Replacement": "False",
            "Details": [
                {
                    "Target": {
                        "Attribute": "Properties",
                        "Name": "BucketName",
                        "RequiresRecreation": "Never",
                    },
                    "Evaluation": "Static",
                    "ChangeSource": "DirectModification",
                }
            ],
        },
    }
    _created(cfn)
    _described(cfn, "CREATE_COMPLETE", [in_place])
    _deleted(cfn)
    template_diff = diff_stack("HTCondorAnnex-Bucket", OLD, NEW)
    assert template_diff.resource("Bucket").replacement is Replacement.YES  # the guess
    reading = read_change_set(cfn, STACK_ID, NEW, capabilities=CAPABILITIES)
    diff = with_change_set(template_diff, reading.changes or [])
    assert diff.resource("Bucket").replacement is Replacement.NO
    assert not diff.resource("Bucket").dangerous


def test_a_change_set_without_per_resource_details_falls_back_to_the_template_diff(cfn):
    # What the emulator (moto 5.2.5) returns: a Modify with neither Replacement nor Details.
    bare = {
        "Type": "Resource",
        "ResourceChange": {
            "Action": "Modify",
            "LogicalResourceId": "Bucket",
            "ResourceType": "AWS::S3::Bucket",
        },
    }
    _created(cfn)
    _described(cfn, "CREATE_COMPLETE", [bare])
    _deleted(cfn)
    reading = read_change_set(cfn, STACK_ID, NEW, capabilities=CAPABILITIES)
    assert reading.changes is not None and not can_say(reading.changes)
    diff = from_template(diff_stack("HTCondorAnnex-Bucket", OLD, NEW), "no details")
    assert diff.source == TEMPLATE
    assert "  (from the template diff: no details)" in render_all([diff])


def test_no_changes_and_failures_say_so_and_still_delete_the_change_set(cfn):
    _created(cfn)
    _described(
        cfn,
        "FAILED",
        [],
        "The submitted information didn't contain changes. Submit different information.",
    )
    _deleted(cfn)
    assert read_change_set(cfn, STACK_ID, NEW, capabilities=CAPABILITIES).changes == []

    _created(cfn)
    _described(cfn, "FAILED", [], "Template error: unresolved resource dependencies [X]")
    _deleted(cfn)
    failed = read_change_set(cfn, STACK_ID, NEW, capabilities=CAPABILITIES)
    assert failed.changes is None and "unresolved resource dependencies" in failed.note


def test_a_change_set_that_cannot_be_created_is_a_fallback_not_an_error(cfn):
    cfn.stub.add_client_error(
        "create_change_set",
        service_error_code="AccessDenied",
        service_message="not authorized to perform: cloudformation:CreateChangeSet",
        http_status_code=403,
    )
    reading = read_change_set(cfn, STACK_ID, NEW, capabilities=CAPABILITIES)
    assert reading.changes is None
    assert "AccessDenied" in reading.note and "CreateChangeSet" in reading.note


def _page(cfn, changes: list, *, token: str | None, next_token: str | None) -> None:
    """One DescribeChangeSet page as the API model pages it (NextToken in, NextToken out)."""
    response = {
        "ChangeSetName": "annex-cdk-diff-x",
        "ChangeSetId": CHANGE_SET_ID,
        "StackId": STACK_ID,
        "StackName": "HTCondorAnnex-Bucket",
        "ExecutionStatus": "AVAILABLE",
        "Status": "CREATE_COMPLETE",
        "Changes": changes,
    }
    request = {"ChangeSetName": CHANGE_SET_ID, "IncludePropertyValues": True}
    if next_token:
        response["NextToken"] = next_token
    if token:
        request["NextToken"] = token
    cfn.stub.add_response("describe_change_set", response, request)


def test_every_page_of_the_change_set_is_read_and_conditionally_is_a_replacement_reason(cfn):
    """The second page holds the policy's verdict; CloudFormation's detail says its
    recreation is Conditionally (the API's RequiresRecreation enum: Never, Conditionally,
    Always), which is a reason to show, not "CloudFormation replaces it"."""
    conditionally = {
        "Type": "Resource",
        "ResourceChange": {
            **POLICY_MAYBE["ResourceChange"],
            "Details": [
                {
                    "Target": {
                        "Attribute": "Properties",
                        "Name": "PolicyDocument",
                        "RequiresRecreation": "Conditionally",
                    },
                    "Evaluation": "Static",
                    "ChangeSource": "DirectModification",
                }
            ],
        },
    }
    _created(cfn)
    _page(cfn, [BUCKET_REPLACED], token=None, next_token="page-2")
    _page(cfn, [conditionally], token="page-2", next_token=None)
    _deleted(cfn)
    reading = read_change_set(cfn, STACK_ID, NEW, capabilities=CAPABILITIES)
    assert reading.changes is not None and len(reading.changes) == 2
    diff = with_change_set(diff_stack("HTCondorAnnex-Bucket", OLD, NEW), reading.changes)
    policy = diff.resource("Policy")
    assert policy.replacement is Replacement.MAYBE
    assert policy.replacement_reasons == ["PolicyDocument (Conditionally)"]


def test_a_removal_only_the_change_set_shows_is_dangerous():
    """The template diff sees nothing (the templates are equal), CloudFormation removes the
    bucket (a condition turned false, say): deleting a bucket loses its objects."""
    removed = {
        "Type": "Resource",
        "ResourceChange": {
            "Action": "Remove",
            "LogicalResourceId": "Bucket",
            "PhysicalResourceId": "old-name",
            "ResourceType": "AWS::S3::Bucket",
            "Scope": [],
            "Details": [],
        },
    }
    diff = with_change_set(diff_stack("HTCondorAnnex-Bucket", OLD, OLD), [removed])
    bucket = diff.resource("Bucket")
    assert bucket.status == "removed" and bucket.dangerous
    assert "DANGEROUS" in "\n".join(render_all([diff]))
