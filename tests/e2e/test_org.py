"""`annex-cdk org` against an organization made in the emulator through the Organizations API
(root, an OU, member accounts reached through OrganizationAccountAccessRole), and the member
account's side: write-config and check-setup --deep find the StackSet's stacks, and
condor_annex's own calls (aws/condor_annex_calls.py, as its source makes them) work from the
config written there."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from annex_cdk.aws import condor_annex_calls as replay
from annex_cdk.aws.session import AwsTarget, Credentials
from annex_cdk.condor.files import write_secret_new
from annex_cdk.errors import EXIT_BLOCKED, EXIT_USAGE
from annex_emulator.organization import STACKSETS_PRINCIPAL
from annex_stacks import names, stack_specs
from tests.e2e.conftest import REGION, World
from tests.e2e.test_cdk_cli import cdk, cdk_project

pytestmark = pytest.mark.e2e

REGIONS = (REGION, "us-west-2")
DEFAULT_CIDR = "203.0.113.0/24"
LAB_CIDR = "198.51.100.7/32"


class Org:
    def __init__(self, world: World) -> None:
        self.world = world
        self.organizations = world.client("organizations")
        self.organizations.create_organization(FeatureSet="ALL")
        self.root = self.organizations.list_roots()["Roots"][0]["Id"]
        self.ou = self.organizations.create_organizational_unit(ParentId=self.root, Name="labs")[
            "OrganizationalUnit"
        ]["Id"]

    def new_account(self, *, in_ou: bool = True) -> str:
        tag = uuid.uuid4().hex[:8]
        status = self.organizations.create_account(AccountName=tag, Email=f"{tag}@lab.example")
        account = str(status["CreateAccountStatus"]["AccountId"])
        if in_ou:
            self.organizations.move_account(
                AccountId=account, SourceParentId=self.root, DestinationParentId=self.ou
            )
        return account

    def session(self, account: str) -> boto3.Session:
        """The member account, as its administrator reaches it."""
        creds = self.world.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{names.ORG_ACCESS_ROLE}", RoleSessionName="admin"
        )["Credentials"]
        return boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

    def env(self, account: str) -> dict[str, str | None]:
        """A CLI run's environment as the member account (boto3's chain reads it)."""
        creds = self.session(account).get_credentials()
        return {
            "AWS_ACCESS_KEY_ID": creds.access_key,
            "AWS_SECRET_ACCESS_KEY": creds.secret_key,
            "AWS_SESSION_TOKEN": creds.token,
        }

    def member(self, account: str, service: str, region: str = REGION) -> Any:
        return self.session(account).client(
            service, region_name=region, endpoint_url=self.world.emu.endpoint_url
        )

    def researcher_keys(
        self, account: str, home: Path, documents: list[Any] | None = None, user: str = "researcher"
    ) -> tuple[Path, Path]:
        """A researcher's own long-term key in the member account, as key files; the user holds
        `documents` as managed policies (None: every action)."""
        iam = self.member(account, "iam")
        iam.create_user(UserName=user)
        every = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        for n, document in enumerate(documents or [every]):
            arn = iam.create_policy(PolicyName=f"{user}-{n}", PolicyDocument=json.dumps(document))
            iam.attach_user_policy(UserName=user, PolicyArn=arn["Policy"]["Arn"])
        key = iam.create_access_key(UserName=user)["AccessKey"]
        public, private = home / f"{account}-{user}.public", home / f"{account}-{user}.private"
        write_secret_new(public, f"{key['AccessKeyId']}\n".encode())
        write_secret_new(private, f"{key['SecretAccessKey']}\n".encode())
        return public, private


def _stack_set_stacks(cfn: Any) -> dict[str, dict[str, Any]]:
    """The StackSet-* stacks of an account and Region, by the stack each carries."""
    found = {}
    for stack in cfn.describe_stacks()["Stacks"]:
        tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
        if stack["StackName"].startswith(names.STACK_SET_STACK_PREFIX):
            found[tags[names.TAG_STACK]] = stack
    return found


def _ingress(org: Org, account: str, region: str) -> set[str]:
    stacks = _stack_set_stacks(org.member(account, "cloudformation", region))
    outputs = {
        o["OutputKey"]: o["OutputValue"] for o in stacks[names.SECURITY_GROUP_STACK]["Outputs"]
    }
    [group] = org.member(account, "ec2", region).describe_security_groups(
        GroupIds=[outputs[names.OUT_SECURITY_GROUP]]
    )["SecurityGroups"]
    return {r["CidrIp"] for p in group["IpPermissions"] for r in p.get("IpRanges", [])}


def test_org_deploy_member_accounts_and_destroy(world: World, tmp_path: Path):
    org = Org(world)
    lab, other, taken = (org.new_account() for _ in range(3))
    # A setup already in one member account: its key pair holds the fixed name.
    org.member(taken, "ec2").create_key_pair(KeyName=names.KEY_PAIR_NAME)
    overrides = tmp_path / "labs.toml"
    overrides.write_text(f'[accounts."{lab}"]\nallow-from = ["{LAB_CIDR}"]\n')
    deploy_args = ("--ou", org.ou, *(a for r in REGIONS for a in ("--region", r)))
    flags = ("--allow-from", DEFAULT_CIDR, "--overrides", str(overrides))

    run = world.run("org", "deploy", *deploy_args, *flags, "--json", check=False)
    assert run.returncode == 1, run.stderr  # one account left out: not complete
    report = json.loads(run.stdout)
    assert [(c["account"], c["taken"]) for c in report["collisions"]] == [
        (taken, [f"key pair {names.KEY_PAIR_NAME}"])
    ]
    assert sorted(report["accounts"]) == sorted([lab, other])
    assert {s["name"] for s in report["stack_sets"]} == set(stack_specs.CORE_STACKS)
    assert all(s["ok"] and s["action"] == "created" for s in report["stack_sets"]), run.stdout
    assert "(0/" in run.stderr or "instances)" in run.stderr  # progress on stderr
    # The taken account kept its own key pair, and got no stack.
    assert not _stack_set_stacks(org.member(taken, "cloudformation"))
    # The lab's override and the default, in every Region.
    for region in REGIONS:
        assert _ingress(org, lab, region) == {LAB_CIDR}
        assert _ingress(org, other, region) == {DEFAULT_CIDR}

    status = json.loads(world.run("org", "status", "--json").stdout)
    assert status["ok"] is True
    cells = {(i["account"], i["region"], i["stack"]): i for i in status["instances"]}
    assert set(cells) == {
        (a, r, s) for a in (lab, other) for r in REGIONS for s in stack_specs.CORE_STACKS
    }
    assert {(i["status"], i["drift"]) for i in cells.values()} == {("CURRENT", "IN_SYNC")}, [
        (k, i["drift"]) for k, i in cells.items() if i["drift"] != "IN_SYNC"
    ]
    text = world.run("org", "status", "--no-drift").stdout
    assert f"{lab}  {REGIONS[0]}" in text

    # Nothing to do the second time but the left-out account; a new default is an update.
    same = json.loads(world.run("org", "diff", *deploy_args, *flags, "--json").stdout)
    assert {s["action"] for s in same["stack_sets"]} == {"none"}
    assert {(n["account"]) for s in same["stack_sets"] for n in s["new_instances"]} == {taken}
    moved = json.loads(
        world.run(
            "org",
            "diff",
            *deploy_args,
            "--allow-from",
            "192.0.2.0/24",
            "--overrides",
            str(overrides),
            "--json",
        ).stdout
    )
    changed = {s["name"]: s["changes"] for s in moved["stack_sets"] if s["action"] == "update"}
    assert changed == {names.SECURITY_GROUP_STACK: ["parameters"]}

    # An account that joins the OU later gets the stacks without anyone running annex-cdk.
    late = org.new_account()
    deadline = time.monotonic() + 120
    while len(_stack_set_stacks(org.member(late, "cloudformation"))) < len(stack_specs.CORE_STACKS):
        assert time.monotonic() < deadline, "automatic deployment did not reach the new account"
        time.sleep(0.2)

    # The member accounts' side: each finds its StackSet stacks and checks them deeply.
    for account in (other, late):
        public, private = org.researcher_keys(account, world.paths.home)
        keys = ("--access-key-file", str(public), "--secret-key-file", str(private))
        check = world.run("check-setup", "--deep", "--no-local", "--region", REGION, *keys)
        assert check.stdout.splitlines()[-1] == "Your setup looks OK.", check.stdout
    public, private = org.researcher_keys(lab, world.paths.home)
    keys = ("--access-key-file", str(public), "--secret-key-file", str(private))
    world.run("write-config", "--region", REGION, *keys)
    config_keys = [
        names.KEY_S3_BUCKET,
        names.KEY_ODI_LEASE,
        names.KEY_INSTANCE_PROFILE,
        names.KEY_SECURITY_GROUP_IDS,
        names.KEY_KEY_NAME,
        names.KEY_ACCESS_KEY_FILE,
    ]
    config = world.paths.effective(config_keys, REGION)
    assert config[names.KEY_S3_BUCKET] == names.bucket_name(lab, REGION)
    assert config[names.KEY_ACCESS_KEY_FILE] == str(public)
    pem = world.paths.pem(REGION, config[names.KEY_KEY_NAME])
    assert pem.read_text().startswith("-----BEGIN") and pem.stat().st_mode & 0o077 == 0
    deep = world.run("check-setup", "--deep", "--region", REGION, *keys)
    assert deep.stdout.splitlines()[-1] == "Your setup looks OK.", deep.stdout
    assert "Checking for security group... OK." in deep.stdout

    # condor_annex's launch, from the config alone, in the lab's account.
    account = replay.AnnexAccount(
        AwsTarget(REGION, Credentials(public, private), endpoint_url=world.emu.endpoint_url)
    )
    annex = replay.Annex("physics", config[names.KEY_S3_BUCKET], config[names.KEY_ODI_LEASE])
    account.upload_config(annex, b"tarball")
    account.start_lease(annex, int(time.time()) + replay.DEFAULT_LEASE_SECONDS)
    image = org.member(lab, "ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instances = account.run_instances(
        annex,
        image_id=image,
        instance_profile_arn=config[names.KEY_INSTANCE_PROFILE],
        security_group_ids=config[names.KEY_SECURITY_GROUP_IDS].split(","),
        key_name=config[names.KEY_KEY_NAME],
    )
    assert account.instance_states(instances) <= {"pending", "running"}
    account.terminate(instances)
    s3 = org.member(lab, "s3")
    for item in s3.list_objects_v2(Bucket=annex.bucket).get("Contents", []):
        s3.delete_object(Bucket=annex.bucket, Key=item["Key"])

    gone = json.loads(world.run("org", "destroy", "--yes", "--json").stdout)
    assert gone["ok"] is True
    assert {s["outcome"] for s in gone["stack_sets"]} == {"removed"}
    for account in (lab, other, late):
        for region in REGIONS:
            assert not _stack_set_stacks(org.member(account, "cloudformation", region))
    assert names.KEY_PAIR_NAME in {
        k["KeyName"] for k in org.member(taken, "ec2").describe_key_pairs()["KeyPairs"]
    }


def test_stack_sets_carry_the_templates_the_cdk_cli_synthesizes(world: World):
    """What each StackSet carries is what the real pinned CDK CLI synthesizes from app.py with
    the same settings (the CIDR parameters on), stack by stack."""
    org = Org(world)
    org.new_account()
    world.run("org", "deploy", "--ou", org.ou, "--region", REGION, "--allow-from", DEFAULT_CIDR)
    project = cdk_project(world)
    cdk(world, project, "synth", "--all", "-c", f"{names.CTX_CIDR_PARAMETERS}=true", "-o", "out")
    cfn = world.client("cloudformation")
    for name in stack_specs.CORE_STACKS:
        carried = cfn.describe_stack_set(StackSetName=name)["StackSet"]["TemplateBody"]
        synthesized = json.loads((project / "out" / f"{name}.template.json").read_text())
        assert json.loads(carried) == synthesized, name
    # The CIDRs are the StackSet's parameters, not the template's.
    [group] = [
        p["ParameterValue"]
        for p in cfn.describe_stack_set(StackSetName=names.SECURITY_GROUP_STACK)["StackSet"][
            "Parameters"
        ]
        if p["ParameterKey"] == names.cidr_parameter(4, 1)
    ]
    assert group == DEFAULT_CIDR
    world.run("org", "destroy", "--yes")


def test_setup_in_a_member_account_that_has_the_stack_sets_stacks_refuses(world: World):
    """A researcher's plain setup (and diff) where the organization's StackSets already hold
    the stacks stops before any change, naming them and what to run instead."""
    org = Org(world)
    lab = org.new_account()
    world.run("org", "deploy", "--ou", org.ou, "--region", REGION, "--allow-from", DEFAULT_CIDR)
    cfn = org.member(lab, "cloudformation")
    before = cfn.describe_stacks()["Stacks"]
    held = {s["StackName"] for s in before}
    ssm = org.member(lab, "ssm")
    parameters = ssm.describe_parameters()["Parameters"]
    public, private = org.researcher_keys(lab, world.paths.home)
    keys = ("--region", REGION, "--access-key-file", str(public), "--secret-key-file", str(private))

    for command in ("setup", "diff"):
        run = world.run(command, "--allow-from", LAB_CIDR, *keys, check=False)
        assert run.returncode == EXIT_BLOCKED, (command, run.stdout, run.stderr)
        assert "Traceback" not in run.stderr
        [line] = [x for x in run.stderr.splitlines() if x.startswith("annex-cdk:")]
        assert "organization's StackSets already provide the annex stacks" in line, run.stderr
        assert all(name in line for name in held), (held, line)
        assert "write-config" in run.stderr and "org deploy" in run.stderr
    # A researcher holding exactly `annex-cdk policy` may not list the stacks and sees none of
    # the StackSet's: setup's pre-flight stops at the key pair the StackSet made.
    printed = json.loads(
        world.run("policy", "--offline", "--region", REGION, "--account", lab).stdout
    )
    least = org.researcher_keys(
        lab, world.paths.home, printed if isinstance(printed, list) else [printed], "least"
    )
    world.emu.enforce_iam(True)
    try:
        run = world.run(
            "setup",
            "--allow-from",
            LAB_CIDR,
            "--region",
            REGION,
            "--access-key-file",
            str(least[0]),
            "--secret-key-file",
            str(least[1]),
            check=False,
        )
    finally:
        world.emu.enforce_iam(False)
    assert run.returncode == EXIT_USAGE, run.stderr
    [line] = [x for x in run.stderr.splitlines() if x.startswith("annex-cdk:")]
    assert f"a key pair named {names.KEY_PAIR_NAME!r} already exists" in line, run.stderr
    # Nothing changed: the StackSet's stacks as they were, no HTCondorAnnex-* stack, no lock.
    assert cfn.describe_stacks()["Stacks"] == before
    assert ssm.describe_parameters()["Parameters"] == parameters

    world.run("write-config", *keys)
    config = world.paths.effective([names.KEY_S3_BUCKET], REGION)
    assert config[names.KEY_S3_BUCKET] == names.bucket_name(lab, REGION)


def test_org_from_a_delegated_administrator_account(world: World):
    """A member account registered as the StackSets' delegated administrator runs deploy,
    status and destroy with --delegated-admin; without it, one line says what is missing."""
    org = Org(world)
    admin, lab = org.new_account(in_ou=False), org.new_account()
    as_admin = org.env(admin)
    unregistered = world.run("org", "status", "--delegated-admin", env=as_admin, check=False)
    assert unregistered.returncode == EXIT_USAGE, unregistered.stderr
    [line] = [x for x in unregistered.stderr.splitlines() if x.startswith("annex-cdk:")]
    assert "not the organization's delegated administrator" in line, unregistered.stderr
    # The management account's part: trusted access on, then the registration.
    world.client("cloudformation").activate_organizations_access()
    org.organizations.register_delegated_administrator(
        AccountId=admin, ServicePrincipal=STACKSETS_PRINCIPAL
    )
    deploy_args = ("--ou", org.ou, "--region", REGION, "--allow-from", DEFAULT_CIDR)

    refused = world.run("org", "deploy", *deploy_args, env=as_admin, check=False)
    assert refused.returncode == EXIT_USAGE, refused.stderr
    assert "Traceback" not in refused.stderr and "unexpected" not in refused.stderr
    [line] = [x for x in refused.stderr.splitlines() if x.startswith("annex-cdk:")]
    assert "delegated administrator" in line, refused.stderr
    assert "--delegated-admin" in refused.stderr, refused.stderr
    # A member account that is no delegated administrator may not even read the OUs.
    stranger = world.run("org", "deploy", *deploy_args, env=org.env(lab), check=False)
    assert stranger.returncode == EXIT_USAGE, stranger.stderr
    [line] = [x for x in stranger.stderr.splitlines() if x.startswith("annex-cdk:")]
    assert "Organizations refuses this caller" in line, stranger.stderr

    deployed = world.run("org", "deploy", "--delegated-admin", *deploy_args, "--json", env=as_admin)
    report = json.loads(deployed.stdout)
    assert report["ok"] is True and report["accounts"] == [lab]
    # OrganizationAccountAccessRole trusts the management account only: the look for an
    # existing setup could not enter the lab's account, and says so.
    assert [u["account"] for u in report["unchecked"]] == [lab]
    assert "AssumeRole" in report["unchecked"][0]["reason"]
    assert len(_stack_set_stacks(org.member(lab, "cloudformation"))) == len(stack_specs.CORE_STACKS)
    assert not _stack_set_stacks(org.member(admin, "cloudformation"))  # not in the OU
    # The StackSets are the delegated administrator's, not the management account's.
    assert not world.client("cloudformation").list_stack_sets()["Summaries"]
    status = json.loads(
        world.run("org", "status", "--delegated-admin", "--json", env=as_admin).stdout
    )
    assert status["ok"] is True
    assert {(i["account"], i["status"]) for i in status["instances"]} == {(lab, "CURRENT")}
    assert len(status["instances"]) == len(stack_specs.CORE_STACKS)

    gone = json.loads(
        world.run("org", "destroy", "--delegated-admin", "--yes", "--json", env=as_admin).stdout
    )
    assert gone["ok"] is True
    assert {s["outcome"] for s in gone["stack_sets"]} == {"removed"}
    assert not _stack_set_stacks(org.member(lab, "cloudformation"))
