"""Every external name that condor_annex, annex instances or a user depends on.

This module is the only home of these strings: stacks, CLI, emulator and tests import them.
It imports nothing from aws_cdk so that commands which never synthesize stay fast.
"""

from __future__ import annotations

import re
from typing import Final

# --- CloudFormation stacks -------------------------------------------------------------------
# What each stack is and does is declared once, in stack_specs.py (STACKS).
# The first four are the names condor_annex -setup creates and -check-setup looks for.
BUCKET_STACK: Final = "HTCondorAnnex-ConfigurationBucket"
LAMBDA_STACK: Final = "HTCondorAnnex-LambdaFunctions"
INSTANCE_PROFILE_STACK: Final = "HTCondorAnnex-InstanceProfile"
SECURITY_GROUP_STACK: Final = "HTCondorAnnex-SecurityGroup"
KEY_PAIR_STACK: Final = "HTCondorAnnex-KeyPair"
STACK_PREFIX: Final = "HTCondorAnnex-"

# --- Stack outputs ---------------------------------------------------------------------------
# condor_annex copies these OutputKeys into its scratchpad; they must not change.
OUT_BUCKET: Final = "S3BucketName"
OUT_ODI_LEASE: Final = "odiLeaseFunctionARN"
OUT_SFR_LEASE: Final = "sfrLeaseFunctionARN"
OUT_CHECK_CONNECTIVITY: Final = "ccFunctionARN"
OUT_INSTANCE_PROFILE: Final = "InstanceProfileARN"
OUT_SECURITY_GROUP: Final = "SecurityGroupID"
# What the post-deploy step needs from the key pair stack. These must not collide with
# condor_annex's scratchpad names (case-insensitively, as its ClassAd is).
OUT_KEY_PAIR_NAME: Final = "AnnexKeyPairName"
OUT_KEY_PAIR_ID: Final = "AnnexKeyPairId"
OUT_KEY_PAIR_PARAMETER: Final = "AnnexKeyPairParameter"
FORBIDDEN_OUTPUT_KEYS: Final = frozenset({"AccessKeyFile", "SecretKeyFile", "KeyName", "KeyPath"})

# --- Resources -------------------------------------------------------------------------------
CHECK_CONNECTIVITY_FUNCTION: Final = "HTCondorAnnex-CheckConnectivity"
#: IAM access key ids: a long-term user key, and a temporary one that needs a session token
#: (which condor_annex's key files cannot hold).
LONG_TERM_KEY_PREFIX: Final = "AKIA"
TEMPORARY_KEY_PREFIX: Final = "ASIA"
KEY_PAIR_NAME: Final = "HTCondorAnnex-KeyPair"
#: EC2 keeps a CloudFormation-created key pair's private key here (SecureString).
KEY_PAIR_SSM_PREFIX: Final = "/ec2/keypair/"
#: Deterministic, so stacks that only need the bucket's name need not wait for its stack.
BUCKET_NAME_PATTERN: Final = "htcondor-annex-${AWS::AccountId}-${AWS::Region}"
#: Annex instances find their bucket by matching this object pattern in their role's policy.
CONFIG_OBJECT_PATTERN: Final = "config-*.tar.gz"
#: Where the Lambda stack's functions log (explicit log groups, so that retention is ours).
LAMBDA_LOG_GROUP_PREFIX: Final = "/htcondor-annex/lambda/"
DEFAULT_COLLECTOR_PORT: Final = 9618
#: Our security group's description (an adopted group keeps condor_annex's own).
GROUP_DESCRIPTION: Final = "HTCondor annex instances: HTCondor and SSH from configured networks"
#: Annex instances run HTCondor's shared port daemon on its default port (condor-annex-ec2's
#: images keep USE_SHARED_PORT's default); the submit host's schedd claims them there, so the
#: security group opens this port whatever port the submit host's collector uses.
INSTANCE_SHARED_PORT: Final = 9618
SSH_PORT: Final = 22
#: The environment variable through which the stack gives each lease function its bucket
#: (lambda_src/lease.py reads it; the lease file may import only the standard library and boto3).
LEASE_BUCKET_ENV: Final = "ANNEX_CONFIG_BUCKET"

# Logical IDs kept from condor_annex's templates so an account it set up updates in place.
LID_BUCKET: Final = "ConfigurationBucket"
#: The construct that stands for the permissions boundary (no resource of its own).
CID_PERMISSIONS_BOUNDARY: Final = "PermissionsBoundary"
LID_LEASE_ROLE: Final = "LeaseFunctionRole"
LID_CC_ROLE: Final = "ccFunctionRole"
LID_ODI_FUNCTION: Final = "odiLeaseFunction"
LID_SFR_FUNCTION: Final = "sfrLeaseFunction"
LID_CC_FUNCTION: Final = "ccFunction"
LID_ODI_PERMISSION: Final = "odiLeaseFunctionPermissions"
LID_SFR_PERMISSION: Final = "sfrLeaseFunctionPermissions"
LID_INSTANCE_ROLE: Final = "InstanceConfigurationRole"
LID_INSTANCE_PROFILE: Final = "InstanceConfigurationProfile"
LID_SECURITY_GROUP: Final = "SecurityGroup"
LID_KEY_PAIR: Final = "KeyPair"
#: How condor_annex -setup's stacks look (its templates, version 11: Description and the
#: logical id and type of every resource): a stack of ours by name that looks like neither
#: this nor annex-cdk's own is someone else's, never changed without their consent.
CONDOR_ANNEX_TEMPLATES: Final = {
    BUCKET_STACK: ("HTCondorAnnex: Configuration Bucket", {LID_BUCKET: "AWS::S3::Bucket"}),
    LAMBDA_STACK: (
        "HTCondor Annex: Lambda Functions",
        {
            LID_LEASE_ROLE: "AWS::IAM::Role",
            LID_CC_ROLE: "AWS::IAM::Role",
            LID_ODI_FUNCTION: "AWS::Lambda::Function",
            LID_SFR_FUNCTION: "AWS::Lambda::Function",
            LID_CC_FUNCTION: "AWS::Lambda::Function",
            LID_ODI_PERMISSION: "AWS::Lambda::Permission",
            LID_SFR_PERMISSION: "AWS::Lambda::Permission",
        },
    ),
    INSTANCE_PROFILE_STACK: (
        "HTCondor Annex: Instance Profile",
        {LID_INSTANCE_ROLE: "AWS::IAM::Role", LID_INSTANCE_PROFILE: "AWS::IAM::InstanceProfile"},
    ),
    SECURITY_GROUP_STACK: (
        "HTCondorAnnex: Security Group",
        {LID_SECURITY_GROUP: "AWS::EC2::SecurityGroup"},
    ),
}

# --- Tags ------------------------------------------------------------------------------------
#: Put on every taggable resource annex-cdk makes.
TAG_SETUP: Final = "htcondor:AnnexSetup"
TAG_SETUP_VALUE: Final = "annex-cdk"
#: condor_annex tags every annex instance with this; the lease functions and destroy use it.
TAG_ANNEX_NAME: Final = "htcondor:AnnexName"
#: On each StackSet `annex-cdk org deploy` makes (and so on every stack it creates in a member
#: account): the HTCondorAnnex-* stack the StackSet carries. A member account finds its
#: StackSet-<name>-<id> stacks by it.
TAG_STACK: Final = "htcondor:AnnexStack"

# --- AWS Organizations (`annex-cdk org`) -----------------------------------------------------
#: The role AWS Organizations creates in every account it creates (org deploy's look into a
#: member account for a setup already there goes through it).
ORG_ACCESS_ROLE: Final = "OrganizationAccountAccessRole"
#: CloudFormation names each stack a StackSet creates StackSet-<StackSet name>-<uuid>.
STACK_SET_STACK_PREFIX: Final = "StackSet-"
#: The security group's CIDR slots in a StackSet's template (org mode): per address family,
#: a parameter each, empty for an unused slot; an account's collector CIDR is an override.
CIDR_SLOTS: Final = 4


def cidr_parameter(version: int, slot: int) -> str:
    """The template parameter of CIDR slot `slot` (1-based) of IP version 4 or 6."""
    return f"AllowedCidrV{version}No{slot}"


# --- HTCondor configuration keys -------------------------------------------------------------
KEY_REGION: Final = "ANNEX_DEFAULT_AWS_REGION"
KEY_ACCESS_KEY_FILE: Final = "ANNEX_DEFAULT_ACCESS_KEY_FILE"
KEY_SECRET_KEY_FILE: Final = "ANNEX_DEFAULT_SECRET_KEY_FILE"
KEY_S3_BUCKET: Final = "ANNEX_DEFAULT_S3_BUCKET"
KEY_SECURITY_GROUP_IDS: Final = "ANNEX_DEFAULT_ODI_SECURITY_GROUP_IDS"
KEY_ODI_LEASE: Final = "ANNEX_DEFAULT_ODI_LEASE_FUNCTION_ARN"
KEY_SFR_LEASE: Final = "ANNEX_DEFAULT_SFR_LEASE_FUNCTION_ARN"
KEY_INSTANCE_PROFILE: Final = "ANNEX_DEFAULT_ODI_INSTANCE_PROFILE_ARN"
KEY_KEY_NAME: Final = "ANNEX_DEFAULT_ODI_KEY_NAME"
KEY_COLLECTOR_HOST: Final = "COLLECTOR_HOST"
KEY_PASSWORD_FILE: Final = "SEC_PASSWORD_FILE"
#: The magic credential value condor_annex understands for instance-profile credentials.
FROM_INSTANCE: Final = "FROM INSTANCE"

#: What condor_annex -check-setup requires to be non-empty, in its order.
CHECK_SETUP_KEYS: Final = (
    KEY_ACCESS_KEY_FILE,
    KEY_SECRET_KEY_FILE,
    KEY_S3_BUCKET,
    KEY_SECURITY_GROUP_IDS,
    KEY_ODI_LEASE,
    KEY_SFR_LEASE,
    KEY_INSTANCE_PROFILE,
    KEY_COLLECTOR_HOST,
    KEY_PASSWORD_FILE,
)

# --- Local files -----------------------------------------------------------------------------
CONDOR_USER_DIR: Final = ".condor"
USER_CONFIG_FILE: Final = "user_config"
#: The HTCondor knob naming the user config (default user_config; a relative name is in ~/.condor).
USER_CONFIG_KNOB: Final = "USER_CONFIG_FILE"
PUBLIC_KEY_FILE: Final = "publicKeyFile"
PRIVATE_KEY_FILE: Final = "privateKeyFile"
BLOCK_BEGIN: Final = (
    "# BEGIN annex-cdk block for region {region}: managed by annex-cdk, do not edit"
)
BLOCK_END: Final = "# END annex-cdk block for region {region}"


def pem_file_name(region: str, key_name: str = KEY_PAIR_NAME) -> str:
    """The PEM file name condor_annex uses (it renames the key file to carry the region)."""
    return f"{key_name}.{region}.pem"


def local_name(region: str) -> str:
    """condor_annex's config prefix for a region: every char outside [A-Za-z0-9_./] becomes _."""
    return re.sub(r"[^A-Za-z0-9_./]", "_", region)


def bucket_name(account: str, region: str) -> str:
    """The concrete bucket name that BUCKET_NAME_PATTERN resolves to."""
    return BUCKET_NAME_PATTERN.replace("${AWS::AccountId}", account).replace(
        "${AWS::Region}", region
    )


# --- Locking ---------------------------------------------------------------------------------
#: An SSM parameter that serialises setups in one account and region.
LOCK_PARAMETER: Final = "/htcondor-annex/annex-cdk-lock"

#: Template Metadata key under which a stack records the settings it was built with.
SETTINGS_METADATA: Final = "AnnexCdkSettings"

# --- CDK context keys (cdk.json / cdk -c) ----------------------------------------------------
#: What each key means, its CLI flag and which stack records it: annex_stacks/settings.py SETTINGS.
CTX_REGION: Final = "annex:region"
CTX_ACCOUNT: Final = "annex:account"
CTX_ALLOWED_CIDRS: Final = "annex:allowedCidrs"
#: The COLLECTOR_HOST the allowed CIDR was derived from (none when --allow-from gave it).
CTX_CIDRS_FROM_COLLECTOR: Final = "annex:allowedCidrsFromCollector"
CTX_SSH: Final = "annex:ssh"
CTX_COLLECTOR_PORT: Final = "annex:collectorPort"
CTX_KEY_PAIR_NAME: Final = "annex:keyPairName"
CTX_CREATE_KEY_PAIR: Final = "annex:createKeyPair"
CTX_EXTRA_TAGS: Final = "annex:tags"
CTX_RETAIN_BUCKET: Final = "annex:retainBucket"
CTX_BUCKET_NAME: Final = "annex:bucketName"
#: condor_annex's security-group description, kept on adoption: a new description replaces the
#: group, which EC2 refuses while annex instances use it (DependencyViolation).
CTX_GROUP_DESCRIPTION: Final = "annex:groupDescription"
CTX_SUBMIT_HOST_ROLE: Final = "annex:submitHostRole"
CTX_CONDOR_USER: Final = "annex:condorUser"
CTX_CI_ROLES: Final = "annex:ciRoles"
CTX_CI_REPOSITORY: Final = "annex:ciRepository"
CTX_CI_ENVIRONMENT: Final = "annex:ciEnvironment"
CTX_CI_OIDC_PROVIDER: Final = "annex:ciOidcProviderArn"
CTX_BUILD_IMAGE: Final = "annex:buildImage"
CTX_IMAGE_HTCONDOR: Final = "annex:imageHtcondor"
CTX_IMAGE_ARCH: Final = "annex:imageArch"
CTX_IMAGE_VERSION: Final = "annex:imageVersion"
CTX_PERMISSIONS_BOUNDARY: Final = "annex:permissionsBoundary"
CTX_MAX_INSTANCES: Final = "annex:maxInstances"
CTX_MAX_VCPUS: Final = "annex:maxVcpus"
CTX_MAX_INSTANCE_HOURS: Final = "annex:maxInstanceHours"
CTX_MAX_DOLLARS: Final = "annex:maxDollars"
CTX_HEARTBEAT_MINUTES: Final = "annex:heartbeatMinutes"
CTX_BUDGET_EMAIL: Final = "annex:budgetEmail"
#: The security group takes its CIDRs from template parameters (the StackSets' templates).
CTX_CIDR_PARAMETERS: Final = "annex:cidrParameters"

# --- User config text (the config writer, cli/condor/user_config.py) -------------------------
#: The comment condor_annex -setup writes before each block it appends (hyphen and sanitized
#: region as it writes them); the second form is used when it knows no region.
ANNEX_SETUP_COMMENT: Final = "# Generated by condor-annex -setup for region {region}."
ANNEX_SETUP_COMMENT_NO_REGION: Final = "# Generated by condor_annex -setup."
#: condor_annex's two comment lines after a block when it wrote a PEM; "<address>" is literal.
SSH_HINT_LINES: Final = ("# For debugging:", "# ssh -i {pem} ec2-user@<address>")
#: Put right after BLOCK_BEGIN when annex-cdk had to end the file's last line to append its
#: block, so that removing the block can take that newline away again.
BLOCK_ADDED_EOL_NOTE: Final = "# annex-cdk added the newline that ends the line above this block"
#: condor_annex runs as this HTCondor subsystem, so ANNEX.<KEY> is tried before <KEY>.
ANNEX_SUBSYSTEM: Final = "ANNEX"
#: Backup of a replaced local file: <name> + this, timestamp in UTC (%Y%m%dT%H%M%SZ).
BACKUP_SUFFIX: Final = ".annex-cdk-{timestamp}.bak"
#: condor_annex's scratchpad name for each key it writes; its lines come out in ASCII order
#: of these names, not of the keys. It copies the stacks' outputs into its scratchpad under
#: their OutputKeys.
SCRATCHPAD_FOR_KEY: Final = {
    KEY_ACCESS_KEY_FILE: "AccessKeyFile",
    KEY_SECRET_KEY_FILE: "SecretKeyFile",
    KEY_KEY_NAME: "KeyName",
    KEY_INSTANCE_PROFILE: OUT_INSTANCE_PROFILE,
    KEY_S3_BUCKET: OUT_BUCKET,
    KEY_SECURITY_GROUP_IDS: OUT_SECURITY_GROUP,
    KEY_ODI_LEASE: OUT_ODI_LEASE,
    KEY_SFR_LEASE: OUT_SFR_LEASE,
}

# --- The personal HTCondor (cli/personal_condor.py, `annex-cdk condor configure`) -------------
#: The key of annex-cdk's one block in the personal HTCondor's local config file. The markers
#: can't be mistaken for user_config's per-region ones (no "for region", no whitespace in key).
PERSONAL_BLOCK_ID: Final = "personal-htcondor"
PERSONAL_BLOCK_BEGIN: Final = (
    "# BEGIN annex-cdk block {region}: managed by annex-cdk, do not edit "
    "(annex-cdk condor unconfigure removes it)"
)
PERSONAL_BLOCK_END: Final = "# END annex-cdk block {region}"
#: Put after PERSONAL_BLOCK_BEGIN when annex-cdk created the file, so that unconfigure can
#: delete a file that holds nothing else.
PERSONAL_BLOCK_CREATED_NOTE: Final = (
    "# annex-cdk created this file; unconfigure deletes it if nothing else is in it"
)
#: The first-time guide's settings (reference §7), by section, in the guide's order.
KEY_NETWORK_INTERFACE: Final = "NETWORK_INTERFACE"
KEY_CONDOR_HOST: Final = "CONDOR_HOST"
KEY_ALLOW_DAEMON: Final = "ALLOW_DAEMON"
DEFAULT_NETWORK_INTERFACE: Final = "*"
FULL_HOSTNAME_MACRO: Final = "$(FULL_HOSTNAME)"
POOL_PASSWORD_FILE_DEFAULT: Final = "$(LOCAL_DIR)/condor_pool_password"
ALLOW_DAEMON_POOL: Final = "condor_pool@*"
#: The pool-password security lines between SEC_PASSWORD_FILE and ALLOW_DAEMON.
GUIDE_SECURITY_SETTINGS: Final = (
    ("SEC_DAEMON_INTEGRITY", "REQUIRED"),
    ("SEC_DAEMON_AUTHENTICATION", "REQUIRED"),
    ("SEC_DAEMON_AUTHENTICATION_METHODS", "PASSWORD"),
    ("SEC_NEGOTIATOR_INTEGRITY", "REQUIRED"),
    ("SEC_NEGOTIATOR_AUTHENTICATION", "REQUIRED"),
    ("SEC_NEGOTIATOR_AUTHENTICATION_METHODS", "PASSWORD"),
    ("SEC_CLIENT_AUTHENTICATION_METHODS", "FS, PASSWORD"),
)
#: The daemons of a personal HTCondor; each must read the guide's values.
PERSONAL_DAEMONS: Final = ("MASTER", "COLLECTOR", "NEGOTIATOR", "SCHEDD", "STARTD")
#: HTCondor command-line tools annex-cdk runs when they are installed.
TOOL_CONFIG_VAL: Final = "condor_config_val"
TOOL_STORE_CRED: Final = "condor_store_cred"
TOOL_RESTART: Final = "condor_restart"
TOOL_VERSION: Final = "condor_version"

# --- The access-point path of HTCondor >= 24.11.2 (`htcondor annex create NAME TYPE@aws-ec2`) ---
# shared/reference/htcondor_24_11_annex.md; param_info.in:7573-7666 (feature HPC_ANNEX).
USE_HPC_ANNEX_LINE: Final = "use feature:HPC_ANNEX"
KEY_TCP_FORWARDING_HOST: Final = "TCP_FORWARDING_HOST"
KEY_HPC_ANNEX_ENABLED: Final = "HPC_ANNEX_ENABLED"
KEY_ANNEX_COLLECTOR: Final = "ANNEX_COLLECTOR"
KEY_ANNEX_TOKEN_KEY_NAME: Final = "ANNEX_TOKEN_KEY_NAME"
KEY_ANNEX_TOKEN_DOMAIN: Final = "ANNEX_TOKEN_DOMAIN"
KEY_TOKEN_FETCH_KEYS: Final = "SEC_TOKEN_FETCH_ALLOWED_SIGNING_KEYS"
KEY_USE_SHARED_PORT: Final = "USE_SHARED_PORT"
KEY_ALLOW_WRITE: Final = "ALLOW_WRITE"
KEY_ALLOW_READ: Final = "ALLOW_READ"
KEY_DEFAULT_AUTH_METHODS: Final = "SEC_DEFAULT_AUTHENTICATION_METHODS"
#: The levels at which the annex's execution points present their IDTOKEN: WRITE (the
#: schedd's DIRECT_ATTACH, schedd.cpp:16928-16932) and DAEMON (ADVERTISE_* fall back to it,
#: condor_perms.cpp:119-121); each falls back to SEC_DEFAULT_AUTHENTICATION_METHODS.
IDTOKEN_LEVELS: Final = ("WRITE", "DAEMON", "ADVERTISE_STARTD", "ADVERTISE_MASTER")
#: HTCondor's names for the IDTOKENS method (all the same method).
IDTOKEN_METHODS: Final = frozenset({"IDTOKENS", "IDTOKEN", "TOKENS", "TOKEN"})
#: `htcondor annex create` needs this directory to exist (annex_create.py:649-655).
HPC_ANNEX_DIR: Final = ".hpc-annex"
#: The programs that read the access point's settings: the `htcondor annex` tool and the schedd.
ACCESS_POINT_SUBSYSTEMS: Final = ("TOOL", "SCHEDD", "COLLECTOR")

# --- The submit host's own role (`annex-cdk setup --submit-host-role`) --------------------------
#: Optional sixth stack: a role and instance profile carrying the least-privilege policy
#: (annex_stacks/policy/), for the guide's "Using Instance Credentials" path.
SUBMIT_HOST_STACK: Final = "HTCondorAnnex-SubmitHostRole"
LID_SUBMIT_HOST_ROLE: Final = "SubmitHostRole"
LID_SUBMIT_HOST_PROFILE: Final = "SubmitHostInstanceProfile"
SUBMIT_HOST_POLICY_NAME: Final = "AnnexCdkAndCondorAnnex"
OUT_SUBMIT_HOST_PROFILE: Final = "SubmitHostInstanceProfileARN"
OUT_SUBMIT_HOST_ROLE: Final = "SubmitHostRoleARN"
# --- condor_annex's own identity (`annex-cdk setup --condor-user`) --------------------------------
#: Optional stack: an IAM user holding exactly the run-time policy (`annex-cdk policy --runtime`)
#: for condor_annex, instead of an administrator's key. Its access key is made by setup through
#: IAM (never in a template or an output) and kept in these files of ~/.condor (0600).
CONDOR_USER_STACK: Final = "HTCondorAnnex-CondorUser"
LID_CONDOR_USER: Final = "CondorAnnexUser"
LID_CONDOR_USER_POLICY: Final = "CondorAnnexRuntimePolicy"
OUT_CONDOR_USER: Final = "CondorAnnexUserName"
CONDOR_USER_PUBLIC_KEY_FILE: Final = "condorUserPublicKeyFile"
CONDOR_USER_PRIVATE_KEY_FILE: Final = "condorUserPrivateKeyFile"
#: Past this age check-setup --deep warns to rotate condor_annex's own key (AWS Security Hub's
#: IAM.3: access keys rotated every 90 days or less).
CONDOR_USER_KEY_MAX_AGE_DAYS: Final = 90
# --- The pipeline's roles (`annex-cdk setup --ci-roles --ci-repository OWNER/NAME`) -------------
#: Optional stack: GitHub's OIDC provider (or a reference to an existing one) and two roles for
#: .github/workflows/annex-cdk.yml: PLAN (read only, pull requests) and DEPLOY (the environment).
CI_ROLES_STACK: Final = "HTCondorAnnex-CiRoles"
LID_CI_OIDC_PROVIDER: Final = "GitHubOidcProvider"
LID_CI_PLAN_ROLE: Final = "PlanRole"
LID_CI_DEPLOY_ROLE: Final = "DeployRole"
CI_PLAN_POLICY_NAME: Final = "AnnexCdkDiff"
CI_DEPLOY_POLICY_NAME: Final = "AnnexCdkSetup"
OUT_CI_PLAN_ROLE: Final = "PlanRoleARN"
OUT_CI_DEPLOY_ROLE: Final = "DeployRoleARN"
OUT_CI_OIDC_PROVIDER: Final = "OidcProviderARN"
#: GitHub's OIDC issuer, its audience for AWS, and the subject claims of the two job kinds
#: (GitHub docs, "About security hardening with OpenID Connect": example subject claims).
GITHUB_OIDC_HOST: Final = "token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE: Final = "sts.amazonaws.com"
GITHUB_SUB_PULL_REQUEST: Final = "repo:{repository}:pull_request"
GITHUB_SUB_ENVIRONMENT: Final = "repo:{repository}:environment:{environment}"
#: The protected environment the workflow's deploy job runs in, unless --ci-environment.
CI_DEFAULT_ENVIRONMENT: Final = "aws"
#: The PR label (or workflow_dispatch input) by which a reviewer allows a DANGEROUS deploy.
CI_ALLOW_DANGEROUS_LABEL: Final = "annex-cdk:allow-dangerous"
CI_ALLOW_DANGEROUS_INPUT: Final = "allow_dangerous"

# --- The annex image (`annex-cdk setup --build-image`) ---------------------------------------
#: Optional stack: EC2 Image Builder builds an Amazon Linux 2023 AMI with HTCondor and the
#: condor-annex-ec2 boot service (annex_stacks/image_stack.py), for ANNEX_DEFAULT_ODI_IMAGE_ID.
IMAGE_STACK: Final = "HTCondorAnnex-Image"
#: condor_annex's key for the on-demand instances' AMI (annex.cpp:1431-1567).
KEY_ODI_IMAGE_ID: Final = "ANNEX_DEFAULT_ODI_IMAGE_ID"
OUT_IMAGE_ID: Final = "ImageId"
OUT_IMAGE_HTCONDOR: Final = "ImageHTCondorSeries"
LID_IMAGE_COMPONENT: Final = "HTCondorComponent"
LID_IMAGE_RECIPE: Final = "AnnexImageRecipe"
LID_IMAGE_ROLE: Final = "ImageBuildRole"
LID_IMAGE_PROFILE: Final = "ImageBuildInstanceProfile"
LID_IMAGE_INFRASTRUCTURE: Final = "ImageBuildInfrastructure"
LID_IMAGE_DISTRIBUTION: Final = "AnnexImageDistribution"
LID_IMAGE: Final = "AnnexImage"
#: HTCondor series the image can carry: series -> the path of HTCondor's yum repository
#: (https://research.cs.wisc.edu/htcondor/repo/<series>/el... for Amazon Linux 2023: "amzn2023").
#: 24.0 is the LTS with the classic annex; 25.x the feature series with the access-point path.
IMAGE_HTCONDOR_SERIES: Final = ("24.0", "25.x")
DEFAULT_IMAGE_HTCONDOR: Final = "25.x"
#: Series whose condor-annex-ec2 knows the access-point tarball layout (htcondor_24_11_annex.md).
ACCESS_POINT_SERIES: Final = frozenset({"25.x"})
#: CPU architecture -> the Image Builder managed Amazon Linux 2023 image (resolved when the
#: image is built: x.x.x is always the newest version) and the SSM public parameter of its AMI.
IMAGE_ARCHES: Final = ("x86_64", "arm64")
DEFAULT_IMAGE_ARCH: Final = "x86_64"
AL2023_MANAGED_IMAGE: Final = {
    "x86_64": "amazon-linux-2023-x86",
    "arm64": "amazon-linux-2023-arm64",
}
AL2023_SSM_PARAMETER: Final = {
    "x86_64": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
    "arm64": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
}
#: The build instance's type per architecture (the smallest that builds in minutes).
IMAGE_BUILD_INSTANCE_TYPE: Final = {"x86_64": "t3.medium", "arm64": "t4g.medium"}
#: Tags on every AMI the stack builds: destroy finds (and deregisters) them by TAG_IMAGE_STACK,
#: check-setup compares TAG_HTCONDOR_SERIES with the HTCondor side.
TAG_IMAGE_STACK: Final = "htcondor:AnnexImageStack"
TAG_HTCONDOR_SERIES: Final = "htcondor:Series"
#: The component document (EC2 Image Builder AWSTOE YAML), versioned in the repo.
IMAGE_COMPONENT_DOCUMENT: Final = "htcondor_annex_component.yml"
IMAGE_COMPONENT_VERSION: Final = "1.0.0"

#: The ids of `check-setup --deep`'s checks: each prefixes the names of its findings in the
#: report (`deep:exists:HTCondorAnnex-Bucket`), and a stack's spec lists those it concerns.
DEEP_EXISTS: Final = "deep:exists"
DEEP_CONFIG: Final = "deep:config"
DEEP_INSTANCE_ROLE: Final = "deep:instance-role"
DEEP_RUNTIME: Final = "deep:runtime"
DEEP_SECURITY_GROUP: Final = "deep:security-group"
DEEP_PEM: Final = "deep:pem"
DEEP_DRIFT: Final = "deep:drift"
DEEP_IMAGE: Final = "deep:image"
DEEP_CONDOR_USER_KEY: Final = "deep:condor-user-key"

# --- The spend guardrail (optional) -------------------------------------------------------------
GUARDRAIL_STACK: Final = "HTCondorAnnex-Guardrail"
#: The AnnexSettings fields that are caps (lambda_src/guardrail.py CAP_NAMES, same order).
GUARDRAIL_CAP_FIELDS: Final = ("max_instances", "max_vcpus", "max_instance_hours", "max_dollars")
GUARDRAIL_FUNCTION: Final = "HTCondorAnnex-Guardrail"
#: The managed policy whose default version the function turns into a Deny on annex launches
#: (lambda_src/guardrail.py DENY_ARMED) while a cap is breached.
GUARDRAIL_DENY_POLICY: Final = "HTCondorAnnex-GuardrailDeny"
#: The access point's heartbeat (`annex-cdk heartbeat`, the HTCondor cron job); its
#: LastModifiedDate is the heartbeat's time.
GUARDRAIL_HEARTBEAT_PARAMETER: Final = "/htcondor-annex/guardrail/heartbeat"
GUARDRAIL_SCHEDULE: Final = "rate(5 minutes)"
GUARDRAIL_BUDGET: Final = "HTCondorAnnex-Spend"
#: What the stack tells the function (lambda_src/guardrail.py reads them; it may import only
#: the standard library, boto3 and lease.py).
GUARDRAIL_CAPS_ENV: Final = "ANNEX_GUARDRAIL_CAPS"
GUARDRAIL_DENY_POLICY_ENV: Final = "ANNEX_GUARDRAIL_DENY_POLICY"
GUARDRAIL_HEARTBEAT_PARAMETER_ENV: Final = "ANNEX_GUARDRAIL_HEARTBEAT_PARAMETER"
GUARDRAIL_HEARTBEAT_MINUTES_ENV: Final = "ANNEX_GUARDRAIL_HEARTBEAT_MINUTES"
#: The function's state (today's ledger, the Deny, its last report) in the configuration bucket.
GUARDRAIL_STATE_KEY: Final = "guardrail/state.json"
GUARDRAIL_METRIC_NAMESPACE: Final = "HTCondorAnnex/Guardrail"
LID_GUARDRAIL_ROLE: Final = "GuardrailFunctionRole"
LID_GUARDRAIL_FUNCTION: Final = "GuardrailFunction"
LID_GUARDRAIL_SCHEDULE: Final = "GuardrailSchedule"
LID_GUARDRAIL_SCHEDULER_ROLE: Final = "GuardrailSchedulerRole"
LID_GUARDRAIL_DENY: Final = "GuardrailDenyPolicy"
LID_GUARDRAIL_BUDGET: Final = "SpendBudget"
OUT_GUARDRAIL_FUNCTION: Final = "GuardrailFunctionARN"
OUT_GUARDRAIL_DENY_POLICY: Final = "GuardrailDenyPolicyARN"


#: Region prefixes of the partitions other than `aws` (AWS's partition table).
_OTHER_PARTITIONS: Final = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-iso-", "aws-iso"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-isof-", "aws-iso-f"),
    ("eusc-", "aws-eusc"),
)


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to."""
    return next((p for prefix, p in _OTHER_PARTITIONS if region.startswith(prefix)), "aws")
