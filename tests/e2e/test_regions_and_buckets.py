"""A region given only by flag is the one later commands find; a big bucket is emptied at once."""

from __future__ import annotations

import json

import pytest

from annex_cdk.aws.resources import empty_bucket
from annex_stacks import names
from tests.e2e.conftest import World

pytestmark = pytest.mark.e2e

ALLOW = ("--allow-from", "198.51.100.7/32")
NO_REGION_ENV = {"AWS_REGION": None, "AWS_DEFAULT_REGION": None}


def test_setup_in_a_flag_region_is_found_by_check_setup_and_destroy(world: World):
    world.run("setup", "--region", "us-west-2", *ALLOW, env=NO_REGION_ENV, timeout=600)
    text = world.paths.user_config.read_text()
    assert f"{names.KEY_REGION} = us-west-2" in text, text
    check = world.run("check-setup", env=NO_REGION_ENV)
    assert "Will check setup in region 'us-west-2'." in check.stdout
    destroyed = world.run("destroy", "--yes", env=NO_REGION_ENV, timeout=600)
    assert "Nothing annex-cdk made is left in us-west-2." in destroyed.stdout


def test_a_bucket_with_more_than_1000_versions_is_emptied_in_one_go(world: World):
    s3 = world.client("s3")
    bucket = "annex-cdk-many-versions"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for i in range(700):
        s3.put_object(Bucket=bucket, Key=f"config-{i}.tar.gz", Body=b"x")
        s3.put_object(Bucket=bucket, Key=f"config-{i}.tar.gz", Body=b"y")  # a second version
    assert empty_bucket(s3, bucket) == 1400
    left = s3.list_object_versions(Bucket=bucket)
    assert left.get("Versions", []) == [] and left.get("DeleteMarkers", []) == []
    s3.delete_bucket(Bucket=bucket)


def test_setup_is_never_successful_with_a_non_zero_exit(world: World):
    world.run("setup", *ALLOW)
    key = f"{names.local_name('us-east-1')}.{names.KEY_S3_BUCKET}"
    with world.paths.user_config.open("a") as config:
        config.write(f"{key} = somebody-elses-bucket\n")  # after the block: it wins
    proc = world.run("setup", *ALLOW, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Setup successful" not in proc.stdout
    assert "finished with problems" in proc.stdout


def test_a_bucket_stack_in_delete_failed_converges_with_yes(world: World):
    world.run("setup", *ALLOW)
    cfn, s3 = world.client("cloudformation"), world.client("s3")
    [stack] = cfn.describe_stacks(StackName=names.BUCKET_STACK)["Stacks"]
    bucket = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}[names.OUT_BUCKET]
    s3.put_object(Bucket=bucket, Key="config-1.tar.gz", Body=b"x")
    cfn.delete_stack(StackName=names.BUCKET_STACK)
    [stack] = cfn.describe_stacks(StackName=stack["StackId"])["Stacks"]
    assert stack["StackStatus"] == "DELETE_FAILED"

    proc = world.run("setup", *ALLOW, "--yes", check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "AlreadyExists" not in proc.stderr and f"Emptied {bucket}" in proc.stderr
    check = world.run("check-setup", check=False)
    assert check.returncode == 0, check.stdout


def test_a_bucket_kept_by_retain_bucket_is_adopted_by_the_next_setup(world: World):
    world.run("setup", *ALLOW, "--retain-bucket")
    cfn, s3 = world.client("cloudformation"), world.client("s3")
    [stack] = cfn.describe_stacks(StackName=names.BUCKET_STACK)["Stacks"]
    bucket = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}[names.OUT_BUCKET]
    s3.put_object(Bucket=bucket, Key="config-1.tar.gz", Body=b"kept")
    destroyed = world.run("destroy", "--yes", timeout=600)
    assert f"The bucket {bucket} was kept" in destroyed.stdout

    proc = world.run("setup", *ALLOW, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (
        "BucketAlreadyExists" not in proc.stderr and f"Adopting the bucket {bucket}" in proc.stderr
    )
    assert s3.get_object(Bucket=bucket, Key="config-1.tar.gz")["Body"].read() == b"kept"
    [stack] = cfn.describe_stacks(StackName=names.BUCKET_STACK)["Stacks"]
    assert stack["StackStatus"] in ("IMPORT_COMPLETE", "UPDATE_COMPLETE")  # then updated
    resources = cfn.describe_stack_resources(StackName=names.BUCKET_STACK)["StackResources"]
    owned = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    assert owned[names.LID_BUCKET] == bucket
    assert world.run("check-setup", check=False).returncode == 0
    # It stays kept: a destroy after the adopting setup (no flag) leaves it and its objects...
    destroyed = world.run("destroy", "--yes", timeout=600)
    assert f"The bucket {bucket} was kept" in destroyed.stdout
    assert s3.get_object(Bucket=bucket, Key="config-1.tar.gz")["Body"].read() == b"kept"
    # ...until the user says otherwise: then destroy empties and deletes it.
    world.run("setup", *ALLOW, "--no-retain-bucket", timeout=600)
    world.run("destroy", "--yes", timeout=600)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_a_bucket_import_cut_off_before_its_change_set_ran_converges_in_one_run(world: World):
    """The IMPORT change set was created (its stack is REVIEW_IN_PROGRESS) and never executed:
    `setup --yes` replaces that empty stack by importing the kept bucket, not by creating one
    (which failed with BucketAlreadyExists and reported DELETE_COMPLETE, exit 6)."""
    world.run("setup", *ALLOW, "--retain-bucket")
    cfn, s3 = world.client("cloudformation"), world.client("s3")
    [stack] = cfn.describe_stacks(StackName=names.BUCKET_STACK)["Stacks"]
    bucket = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}[names.OUT_BUCKET]
    s3.put_object(Bucket=bucket, Key="config-1.tar.gz", Body=b"kept")
    world.run("destroy", "--yes", timeout=600)
    resource = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain",
                "Properties": {"BucketName": bucket}}  # fmt: skip
    cfn.create_change_set(
        StackName=names.BUCKET_STACK,
        ChangeSetName="cut-off",
        ChangeSetType="IMPORT",
        TemplateBody=json.dumps({"Resources": {names.LID_BUCKET: resource}}),
        ResourcesToImport=[
            {
                "ResourceType": "AWS::S3::Bucket",
                "LogicalResourceId": names.LID_BUCKET,
                "ResourceIdentifier": {"BucketName": bucket},
            }
        ],
    )
    [stack] = cfn.describe_stacks(StackName=names.BUCKET_STACK)["Stacks"]
    assert stack["StackStatus"] == "REVIEW_IN_PROGRESS"

    proc = world.run("setup", *ALLOW, "--yes", check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert s3.get_object(Bucket=bucket, Key="config-1.tar.gz")["Body"].read() == b"kept"
    resources = cfn.describe_stack_resources(StackName=names.BUCKET_STACK)["StackResources"]
    assert {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}[
        names.LID_BUCKET
    ] == bucket
