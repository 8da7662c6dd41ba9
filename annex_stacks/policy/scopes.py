"""Where the policy lets each action act: one Scope per statement, its resources and why.

The statements of the policy (annex_stacks/policy): the resources each may touch (str.format
templates filled per account and region), an optional condition, and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from annex_stacks import names
from annex_stacks.stack_specs import spec

#: EC2's service-linked roles (…Spot and …SpotFleet), which an account's first spot request
#: creates.
SPOT_SERVICE_ROLE: Final = "AWSServiceRoleForEC2Spot"
#: The tag condor_annex puts on every on-demand annex instance (TagSpecification).
_ANNEX_TAG_CONDITION: Final = {"StringLike": {f"aws:RequestTag/{names.TAG_ANNEX_NAME}": "*"}}


@dataclass(frozen=True)
class Scope:
    """One statement: its Sid, its resources (str.format templates) and an optional condition.

    Fields: {partition} {region} {account} {bucket} {key_pair}.
    """

    sid: str
    resources: tuple[str, ...]
    why: str
    condition: Mapping[str, Mapping[str, Any]] | None = None


_ARN = "arn:{partition}:%s:{region}:{account}:%s"
_IAM = "arn:{partition}:iam::{account}:%s"
#: HTCondorAnnex-CondorUser's user and its run-time policy: CloudFormation names both
#: <stack>-<logical id>-<suffix>.
_CONDOR_USER = _IAM % f"user/{names.CONDOR_USER_STACK}-*"
_CONDOR_USER_POLICY = _IAM % f"policy/{names.CONDOR_USER_STACK}-*"
_IMAGEBUILDER = "imagebuilder.amazonaws.com"
_PREFIX = names.STACK_PREFIX  # "HTCondorAnnex-": every stack, generated role and function name
#: The condition key naming a lease rule's target.
TARGET_ARN_KEY: Final = "events:TargetArn"


def lease_target_condition(functions: str | list[str]) -> dict[str, dict[str, Any]]:
    """Every target of a PutTargets among `functions`, and at least one target."""
    return {
        "ForAllValues:ArnLike": {TARGET_ARN_KEY: functions},
        "Null": {TARGET_ARN_KEY: "false"},
    }


#: In statement order. A Sid says why its Resource is what it is where that is not obvious.
SCOPES: Final[dict[str, Scope]] = {
    "stacks": Scope(
        "Stacks",
        # Change sets (plain `cdk diff`/`cdk deploy`) are authorized on their stack's ARN.
        (_ARN % ("cloudformation", f"stack/{_PREFIX}*/*"),),
        "annex-cdk and plain cdk create, update, read and delete only the HTCondorAnnex-* "
        "stacks, directly or through CDK's change sets.",
    ),
    "no-resource-level": Scope(
        "NoResourceLevelPermissions",
        ("*",),
        "These read-only Describe calls support no resource-level permissions in IAM, so their "
        "Resource must be *.",
    ),
    "bucket": Scope(
        "Bucket",
        ("arn:{partition}:s3:::{bucket}",),
        "Bucket-level actions on the annex configuration bucket only; s3:Get* there reads the "
        "bucket's configuration (CloudFormation reads all of it after each change).",
    ),
    "config-objects": Scope(
        "ConfigTarballs",
        (f"arn:{{partition}}:s3:::{{bucket}}/{names.CONFIG_OBJECT_PATTERN}",),
        "condor_annex uploads config-<annex>.tar.gz; annex names are chosen at run time.",
    ),
    "bucket-objects": Scope(
        "EmptyBucket",
        ("arn:{partition}:s3:::{bucket}/*",),
        "destroy deletes every object version so that CloudFormation can delete the bucket.",
    ),
    "parameters": Scope(
        "Parameters",
        (
            _ARN % ("ssm", "parameter" + names.LOCK_PARAMETER),
            _ARN % ("ssm", "parameter" + names.KEY_PAIR_SSM_PREFIX + "*"),
        ),
        "The setup lock, and the key pair's private key, which EC2 keeps under /ec2/keypair/ "
        "with the key pair's id (known only once it exists).",
    ),
    "kms-via-ssm": Scope(
        "DecryptViaSsm",
        (_ARN % ("kms", "key/*"),),
        "The key pair parameter is a SecureString; its key is only usable through SSM here.",
        {"StringEquals": {"kms:ViaService": "ssm.{region}.amazonaws.com"}},
    ),
    "iam": Scope(
        "AnnexRoles",
        (
            _IAM % f"role/{_PREFIX}*",
            _IAM % f"instance-profile/{_PREFIX}*",
            # The pre-flight: an IAM user simulates its own policies. A policy variable: the
            # doubled braces survive str.format as ${aws:username}. Of this statement's role
            # and profile actions, only the reads and the simulation apply to a user.
            _IAM % "user/${{aws:username}}",
        ),
        "CloudFormation names generated roles and profiles <stack>-<logical id>-<suffix>, so "
        "HTCondorAnnex-* is exactly the stacks' own; the caller's own user is for the "
        "permission pre-flight.",
    ),
    "condor-user": Scope(
        "CondorUser",
        (_CONDOR_USER,),
        "CloudFormation creates, reads, tags and deletes HTCondorAnnex-CondorUser's own user.",
    ),
    "condor-user-attach": Scope(
        "AttachCondorUserPolicy",
        (_CONDOR_USER,),
        "That user gets that stack's run-time policy and no other.",
        {"ArnLike": {"iam:PolicyARN": _CONDOR_USER_POLICY}},
    ),
    "condor-user-policy": Scope(
        "CondorUserPolicy",
        (_CONDOR_USER_POLICY,),
        "The run-time policy CloudFormation makes for that user, by its generated name.",
    ),
    "condor-user-keys": Scope(
        "CondorUserAccessKeys",
        (_CONDOR_USER,),
        "setup --condor-user makes condor_annex's own user's access key, credentials --rotate "
        "replaces it, destroy deletes its keys (IAM deletes no user that has one): that "
        "stack's user only.",
    ),
    "pass-role": Scope(
        "PassAnnexRoles",
        (_IAM % f"role/{_PREFIX}*",),
        "CloudFormation passes the function roles to Lambda and the instance roles to instance "
        "profiles; condor_annex passes the instance role to EC2.",
        {"StringEquals": {"iam:PassedToService": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}},
    ),
    "pass-fleet-role": Scope(
        "PassFleetRole",
        (_IAM % "role/*",),
        "condor_annex passes the IamFleetRole of the user's spot fleet JSON (BulkRequest.cpp), "
        "a role of any name; it may only go to Spot Fleet.",
        {"StringEquals": {"iam:PassedToService": "spotfleet.amazonaws.com"}},
    ),
    "spot-service-roles": Scope(
        "SpotServiceRoles",
        # One pattern for both: spot.amazonaws.com/AWSServiceRoleForEC2Spot and
        # spotfleet.amazonaws.com/AWSServiceRoleForEC2SpotFleet (IAM's size limit).
        (_IAM % f"role/aws-service-role/spot*.amazonaws.com/{SPOT_SERVICE_ROLE}*",),
        "An account's first spot request creates EC2's spot service-linked roles.",
        {"StringLike": {"iam:AWSServiceName": "spot*.amazonaws.com"}},
    ),
    "functions": Scope(
        "Functions",
        (_ARN % ("lambda", f"function:{_PREFIX}*"),),
        "The lease functions have generated names <stack>-<logical id>-<suffix>; "
        "lambda:GetFunction* only reads them.",
    ),
    "check-function": Scope(
        "InvokeCheck",
        (_ARN % ("lambda", f"function:{names.CHECK_CONNECTIVITY_FUNCTION}"),),
        "condor_annex invokes the connectivity check by its fixed name.",
    ),
    "log-groups": Scope(
        "LogGroups",
        (_ARN % ("logs", f"log-group:{names.LAMBDA_LOG_GROUP_PREFIX}*"),),
        "The functions' explicit log groups, all under one prefix.",
    ),
    "security-groups": Scope(
        "SecurityGroup",
        (_ARN % ("ec2", "security-group/*"), _ARN % ("ec2", "vpc/*")),
        "The group's id is generated by EC2, and CreateSecurityGroup authorizes on the default "
        "VPC too, whose id differs per account and region.",
    ),
    "key-pair": Scope(
        "KeyPair",
        (_ARN % ("ec2", "key-pair/{key_pair}"),),
        "The key pair, by its configured name.",
    ),
    "annex-instances": Scope(
        "LaunchTaggedAnnex",
        (_ARN % ("ec2", "instance/*"),),
        "condor_annex tags each instance htcondor:AnnexName at launch; instance ids are new.",
        _ANNEX_TAG_CONDITION,
    ),
    "annex-rollback": Scope(
        "TerminateAnnex",
        (_ARN % ("ec2", "instance/*"),),
        "condor_annex's rollback (OnDemandRequest::rollback) terminates the instances it "
        "started, which carry its htcondor:AnnexName tag.",
        {"StringLike": {f"aws:ResourceTag/{names.TAG_ANNEX_NAME}": "*"}},
    ),
    "tag-at-launch": Scope(
        "TagAtLaunch",
        (_ARN % ("ec2", "instance/*"),),
        "Tags come with RunInstances' TagSpecification; existing instances cannot be re-tagged.",
        {"StringEquals": {"ec2:CreateAction": "RunInstances"}},
    ),
    "launch-resources": Scope(
        "LaunchResources",
        (
            "arn:{partition}:ec2:{region}::image/*",
            "arn:{partition}:ec2:{region}::snapshot/*",
            _ARN % ("ec2", "subnet/*"),
            _ARN % ("ec2", "network-interface/*"),
            _ARN % ("ec2", "security-group/*"),
            _ARN % ("ec2", "volume/*"),
            _ARN % ("ec2", "key-pair/*"),
        ),
        "The AMI, subnet and key are condor_annex settings chosen per annex, and the volumes "
        "and interfaces are created by the launch.",
    ),
    "built-images": Scope(
        "BuiltImages",
        ("arn:{partition}:ec2:{region}::image/*",),
        "destroy deregisters only the AMIs HTCondorAnnex-Image built, which carry its tag, "
        "and their snapshots with them (DeleteAssociatedSnapshots).",
        {"StringEquals": {f"aws:ResourceTag/{names.TAG_IMAGE_STACK}": names.IMAGE_STACK}},
    ),
    "spot-fleets": Scope(
        "SpotFleets",
        (_ARN % ("ec2", "spot-fleet-request/*"),),
        "Fleet request ids are generated at request time.",
    ),
    "lease-rules": Scope(
        "LeaseRules",
        (_ARN % ("events", "rule/*"),),
        "condor_annex names each lease rule after its annex at run time.",
    ),
    "lease-targets": Scope(
        "LeaseTargets",
        (_ARN % ("events", "rule/*"),),
        "A lease rule may only target the annex lease functions: events:TargetArn holds every "
        "target of the call, so ForAllValues limits all of them, and the Null guard refuses a "
        "call without targets (ForAllValues alone holds on none).",
        lease_target_condition(_ARN % ("lambda", f"function:{_PREFIX}*")),
    ),
    # The optional HTCondorAnnex-Image stack (IMAGE_SCOPES): a second document, since the
    # first is within a few characters of IAM's managed-policy limit.
    "image-builder": Scope(
        "ImageBuilderResources",
        (_ARN % ("imagebuilder", f"*/{_PREFIX.lower()}*"),),
        "Image Builder's ARNs carry the lowercased names the image stack gives its component, "
        "recipe, configurations and image, all HTCondorAnnex-*.",
    ),
    "image-parents": Scope(
        "ImageParents",
        ("arn:{partition}:imagebuilder:{region}:aws:image/*",),
        "The recipe's parent is Image Builder's managed Amazon Linux 2023 image, owned by AWS.",
    ),
    "image-service-role": Scope(
        "ImageBuilderServiceLinkedRole",
        (_IAM % f"role/aws-service-role/{_IMAGEBUILDER}/AWSServiceRoleForImageBuilder",),
        "Image Builder creates its service-linked role on its first use in an account; the "
        "ARN is that one role's (no iam:AWSServiceName condition: iam:GetRole lacks the key).",
    ),
    "image-no-resource-level": Scope(
        "ImageBuilderDescribeCalls",
        ("*",),
        "Read-only Describe calls of the Image Builder handlers; IAM has no resource-level "
        "permissions for them, so their Resource must be *.",
    ),
    "image-imds": Scope(
        "BuiltImageImdsSupport",
        ("arn:{partition}:ec2:{region}::image/*",),
        "setup registers the AMI the image stack built for IMDSv2 (ImdsSupport v2.0), and only "
        "that stack's AMIs, which carry its tag.",
        {"StringEquals": {f"aws:ResourceTag/{names.TAG_IMAGE_STACK}": names.IMAGE_STACK}},
    ),
    "image-pass-role": Scope(
        "PassImageBuildRole",
        (_IAM % f"role/{names.IMAGE_STACK}-*",),
        "The infrastructure configuration passes the build instance's role (its instance "
        "profile's), and only the image stack's own.",
    ),
    # The optional HTCondorAnnex-Guardrail stack (GUARDRAIL_SCOPES): a document of its own too.
    "guardrail-deny-policy": Scope(
        "GuardrailDenyPolicy",
        (_IAM % f"policy/{names.GUARDRAIL_DENY_POLICY}",),
        "The guardrail's Deny policy, by its fixed name: CloudFormation makes it, annex-cdk "
        "lists where it is attached.",
    ),
    "guardrail-attach": Scope(
        "AttachGuardrailDeny",
        (
            _IAM % "user/${{aws:username}}",
            _IAM % f"role/{_PREFIX}*",
            # condor_annex's own user: CloudFormation names it <stack>-<logical id>-<suffix>.
            _CONDOR_USER,
        ),
        "setup attaches the Deny to the identities condor_annex runs as (the caller's own user, "
        "the submit host's role, condor_annex's own user), and destroy detaches it; no other "
        "policy.",
        {"ArnEquals": {"iam:PolicyARN": _IAM % f"policy/{names.GUARDRAIL_DENY_POLICY}"}},
    ),
    "guardrail-schedule": Scope(
        "GuardrailSchedule",
        (_ARN % ("scheduler", f"schedule/default/{names.GUARDRAIL_STACK}-*"),),
        "CloudFormation names the schedule <stack>-<logical id>-<suffix> in the default group.",
    ),
    "guardrail-pass-scheduler-role": Scope(
        "PassGuardrailSchedulerRole",
        (_IAM % f"role/{names.GUARDRAIL_STACK}-*",),
        "The schedule invokes the guardrail function through the guardrail stack's own role.",
        {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
    ),
    "guardrail-budget": Scope(
        "GuardrailBudget",
        ("arn:{partition}:budgets::{account}:budget/" + names.GUARDRAIL_BUDGET,),
        "The monthly budget on annex spend, by its fixed name.",
    ),
    "guardrail-heartbeat": Scope(
        "GuardrailHeartbeat",
        (_ARN % ("ssm", "parameter" + names.GUARDRAIL_HEARTBEAT_PARAMETER),),
        "annex-cdk heartbeat (and its schedd cron job) refreshes it; spend reads its age.",
    ),
    "guardrail-state": Scope(
        "GuardrailState",
        (f"arn:{{partition}}:s3:::{{bucket}}/{names.GUARDRAIL_STATE_KEY}",),
        "spend reads the guardrail function's ledger and last run.",
    ),
    "guardrail-no-resource-level": Scope(
        "GuardrailReadsWithoutResourceLevelPermissions",
        ("*",),
        "spend prices instance types (pricing:GetProducts) and counts their vCPUs; IAM has no "
        "resource-level permissions for these reads, so their Resource must be *.",
    ),
}
#: The statements only the image stack needs (its spec's policy_scopes): `annex-cdk policy
#: --build-image` prints them.
IMAGE_SCOPES: Final = frozenset(spec(names.IMAGE_STACK).policy_scopes)
#: The statements only the guardrail stack needs: `annex-cdk policy --guardrail` prints them.
GUARDRAIL_SCOPES: Final = frozenset(spec(names.GUARDRAIL_STACK).policy_scopes)
#: The statements only HTCondorAnnex-CondorUser needs: `annex-cdk policy --condor-user`.
CONDOR_USER_SCOPES: Final = frozenset(spec(names.CONDOR_USER_STACK).policy_scopes)


def why(sid: str) -> str:
    """The reason behind a statement's Resource (the stack's cdk-nag acknowledgements)."""
    return next(s.why for s in SCOPES.values() if s.sid == sid)
