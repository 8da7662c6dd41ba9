"""One declaration per stack: what the façade builds and what every command reads about it.

As SETTINGS is for settings, STACKS is for stacks: the façade, setup, diff, check-setup,
write-config, destroy and the policy read a stack's facts here, never by its name elsewhere.
Plain data (no aws_cdk): the construct is a "module:Class" string that only the façade imports.

Adding a stack: its names in names.py, its module under annex_stacks/, a StackSpec below, and
tests (docs/architecture.md has the recipe).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from annex_stacks import names
from annex_stacks.settings import SETTINGS, recorded_by_stack


@dataclass(frozen=True, kw_only=True)
class StackSpec:
    """Everything annex-cdk knows about one HTCondorAnnex-* stack."""

    #: The CloudFormation stack name (names.py).
    name: str
    #: "module:Class" of its Stack, built as Class(app, name, settings=..., **stack options).
    construct: str
    #: The template's Description.
    description: str
    #: An add-on to condor_annex's setup: off unless its setting turns it on, not part of
    #: condor_annex's check-setup, and deleted after the core stacks (CloudFormation may be
    #: deleting those with this stack's role's credentials).
    optional: bool = False
    #: The AnnexSettings bool field that turns the stack on (None: always there).
    enabled_by: str | None = None
    #: Its output keys.
    outputs: tuple[str, ...] = ()
    #: HTCondor config key <- its output, for the keys write-config writes from it.
    feeds: Mapping[str, str] = field(default_factory=dict)
    #: check-setup's "Checking for <this>..." line (None: check-setup does not look at it).
    checked_as: str | None = None
    #: What setup does once the stack is deployed, by step id (cli/ops/setup.py's steps).
    after_deploy: tuple[str, ...] = ()
    #: What destroy does before deleting any stack, by step id (cli/ops/destroy.py's steps).
    before_destroy: tuple[str, ...] = ()
    #: What destroy does once the stack is deleted, by step id (what outlives the stack).
    after_destroy: tuple[str, ...] = ()
    #: The outputs naming roles a run's own credentials may come from: destroy keeps the stack
    #: when this run is one of them (deleting it would cut the run off half-way).
    role_outputs: tuple[str, ...] = ()
    #: The ids of the `check-setup --deep` checks that look at this stack.
    deep_checks: tuple[str, ...] = ()
    #: The policy statements (scope names, annex_stacks/policy) only this stack needs.
    policy_scopes: tuple[str, ...] = ()

    @property
    def records(self) -> tuple[str, ...]:
        """The context keys its template Metadata records (each Setting says which stack
        records it), so that a later run without the flag keeps what is deployed."""
        return recorded_by_stack().get(self.name, ())

    def __post_init__(self) -> None:
        module, _, cls = self.construct.partition(":")
        if not module.startswith("annex_stacks.") or not cls:
            raise TypeError(f"{self.name}: construct {self.construct!r} is not 'module:Class'")
        if self.optional and self.enabled_by is None:
            raise TypeError(f"{self.name}: an optional stack needs the setting that enables it")
        if unknown := set(self.feeds.values()) - set(self.outputs):
            raise TypeError(f"{self.name}: feeds from outputs it lacks: {sorted(unknown)}")


#: Every deep check that looks inside a deployed core stack.
_CORE_DEEP_CHECKS: Final = (names.DEEP_EXISTS, names.DEEP_CONFIG, names.DEEP_DRIFT)

#: In deployment order: condor_annex's four (its order), the key pair, then the add-ons.
STACKS: Final[tuple[StackSpec, ...]] = (
    StackSpec(
        name=names.BUCKET_STACK,
        construct="annex_stacks.bucket_stack:ConfigurationBucketStack",
        description="HTCondorAnnex: Configuration Bucket (annex-cdk)",
        outputs=(names.OUT_BUCKET,),
        feeds={names.KEY_S3_BUCKET: names.OUT_BUCKET},
        checked_as="configuration bucket",
        before_destroy=("empty-bucket",),
        deep_checks=(*_CORE_DEEP_CHECKS, names.DEEP_INSTANCE_ROLE),
    ),
    StackSpec(
        name=names.LAMBDA_STACK,
        construct="annex_stacks.lambda_stack:LambdaFunctionsStack",
        description="HTCondor Annex: Lambda Functions (annex-cdk)",
        outputs=(names.OUT_ODI_LEASE, names.OUT_SFR_LEASE, names.OUT_CHECK_CONNECTIVITY),
        feeds={names.KEY_ODI_LEASE: names.OUT_ODI_LEASE, names.KEY_SFR_LEASE: names.OUT_SFR_LEASE},
        checked_as="Lambda functions",
        deep_checks=(*_CORE_DEEP_CHECKS, names.DEEP_RUNTIME),
    ),
    StackSpec(
        name=names.INSTANCE_PROFILE_STACK,
        construct="annex_stacks.instance_profile_stack:InstanceProfileStack",
        description="HTCondor Annex: Instance Profile (annex-cdk)",
        outputs=(names.OUT_INSTANCE_PROFILE,),
        feeds={names.KEY_INSTANCE_PROFILE: names.OUT_INSTANCE_PROFILE},
        checked_as="instance profile",
        deep_checks=(*_CORE_DEEP_CHECKS, names.DEEP_INSTANCE_ROLE),
    ),
    StackSpec(
        name=names.SECURITY_GROUP_STACK,
        construct="annex_stacks.security_group_stack:SecurityGroupStack",
        description="HTCondorAnnex: Security Group (annex-cdk)",
        outputs=(names.OUT_SECURITY_GROUP,),
        feeds={names.KEY_SECURITY_GROUP_IDS: names.OUT_SECURITY_GROUP},
        checked_as="security group",
        deep_checks=(*_CORE_DEEP_CHECKS, names.DEEP_SECURITY_GROUP),
    ),
    StackSpec(
        name=names.KEY_PAIR_STACK,
        construct="annex_stacks.key_pair_stack:KeyPairStack",
        description="HTCondorAnnex: SSH Key Pair (annex-cdk)",
        # Not optional: part of every setup unless the user brings their own key pair.
        enabled_by="create_key_pair",
        outputs=(names.OUT_KEY_PAIR_NAME, names.OUT_KEY_PAIR_ID, names.OUT_KEY_PAIR_PARAMETER),
        checked_as="SSH key pair",
        # The PEM's digest is journalled first: an interrupted destroy, re-run, still knows
        # which local PEM was the deleted key pair's.
        before_destroy=("key-pair-journal",),
        deep_checks=(*_CORE_DEEP_CHECKS, names.DEEP_PEM),
    ),
    StackSpec(
        name=names.SUBMIT_HOST_STACK,
        construct="annex_stacks.submit_host_stack:SubmitHostRoleStack",
        description="HTCondorAnnex: Submit Host Role (annex-cdk)",
        optional=True,
        enabled_by="submit_host_role",
        outputs=(names.OUT_SUBMIT_HOST_PROFILE, names.OUT_SUBMIT_HOST_ROLE),
        role_outputs=(names.OUT_SUBMIT_HOST_ROLE,),
    ),
    StackSpec(
        name=names.CONDOR_USER_STACK,
        construct="annex_stacks.condor_user_stack:CondorUserStack",
        description="HTCondorAnnex: condor_annex's own IAM user, run-time policy (annex-cdk)",
        optional=True,
        enabled_by="condor_user",
        outputs=(names.OUT_CONDOR_USER,),
        # IAM deletes no user that still has access keys; setup made them, destroy removes them.
        before_destroy=("condor-user-keys",),
        deep_checks=(names.DEEP_CONDOR_USER_KEY,),
        # A document of its own: the first and the image's are a role's inline policies.
        policy_scopes=(
            "condor-user",
            "condor-user-attach",
            "condor-user-policy",
            "condor-user-keys",
        ),
    ),
    StackSpec(
        name=names.CI_ROLES_STACK,
        construct="annex_stacks.ci_roles_stack:CiRolesStack",
        description="HTCondorAnnex: CI plan and deploy roles (annex-cdk)",
        optional=True,
        enabled_by="ci_roles",
        outputs=(names.OUT_CI_PLAN_ROLE, names.OUT_CI_DEPLOY_ROLE, names.OUT_CI_OIDC_PROVIDER),
        role_outputs=(names.OUT_CI_PLAN_ROLE, names.OUT_CI_DEPLOY_ROLE),
    ),
    StackSpec(
        name=names.IMAGE_STACK,
        construct="annex_stacks.image_stack:ImageStack",
        description="HTCondorAnnex: Annex Image, EC2 Image Builder (annex-cdk)",
        optional=True,
        enabled_by="build_image",
        outputs=(names.OUT_IMAGE_ID, names.OUT_IMAGE_HTCONDOR),
        feeds={names.KEY_ODI_IMAGE_ID: names.OUT_IMAGE_ID},
        # Its AMI's boot script speaks IMDSv2: the image is registered so (Image Builder cannot).
        after_deploy=("declare-imds-v2",),
        # Its AMIs (and earlier builds') outlive it.
        after_destroy=("deregister-images",),
        deep_checks=(names.DEEP_IMAGE,),
        # A second document: the first is within a few characters of IAM's limit.
        policy_scopes=(
            "image-builder",
            "image-parents",
            "image-service-role",
            "image-no-resource-level",
            "image-pass-role",
            "image-imds",
        ),
    ),
    StackSpec(
        name=names.GUARDRAIL_STACK,
        construct="annex_stacks.guardrail_stack:GuardrailStack",
        description="HTCondorAnnex: Spend guardrail (annex-cdk)",
        optional=True,
        enabled_by="guardrail",
        outputs=(names.OUT_GUARDRAIL_FUNCTION, names.OUT_GUARDRAIL_DENY_POLICY),
        # The Deny goes onto condor_annex's identities; the dead-man switch gets its first
        # heartbeat.
        after_deploy=("guardrail-deny-and-heartbeat",),
        # IAM deletes no managed policy that is still attached to an identity.
        before_destroy=("detach-guardrail-deny",),
        policy_scopes=(
            "guardrail-deny-policy",
            "guardrail-attach",
            "guardrail-schedule",
            "guardrail-pass-scheduler-role",
            "guardrail-budget",
            "guardrail-heartbeat",
            "guardrail-state",
            "guardrail-no-resource-level",
        ),
    ),
)

_BY_NAME: Final = {spec.name: spec for spec in STACKS}
#: Every stack annex-cdk may deploy, in deployment order: synthesis, setup's reads and destroy
#: go over all of them.
MANAGED_STACKS: Final = tuple(_BY_NAME)
#: The stacks of condor_annex's setup (and its key pair): every setup has them.
CORE_STACKS: Final = tuple(spec.name for spec in STACKS if not spec.optional)
#: The add-ons, each turned on by its setting.
OPTIONAL_STACKS: Final = tuple(spec.name for spec in STACKS if spec.optional)
#: The stacks check-setup checks, with its descriptions, in its order.
CHECKED_STACKS: Final = tuple((spec.name, spec.checked_as) for spec in STACKS if spec.checked_as)


def spec(name: str) -> StackSpec:
    """The declaration of stack `name`."""
    return _BY_NAME[name]


def enabled(settings: object) -> tuple[StackSpec, ...]:
    """The stacks a setup with `settings` (an AnnexSettings) deploys, in deployment order."""
    return tuple(s for s in STACKS if s.enabled_by is None or getattr(settings, s.enabled_by))


def output_for_key(stacks: Iterable[StackSpec] = STACKS) -> dict[str, str]:
    """HTCondor config key <- stack output, for the keys that `stacks` feed."""
    return {key: out for s in stacks for key, out in s.feeds.items()}


def switched_off(name: str, recorded: Mapping[str, object]) -> bool:
    """Whether the deployed stacks' recorded settings (context) turned stack `name` off: the
    user's own key pair means no key pair stack, and none is missing."""
    setting = spec(name).enabled_by
    key = next((s.context_key for s in SETTINGS if s.field == setting), None)
    return key is not None and recorded.get(key) is False


def in_deployment_order(stack_names: Iterable[str]) -> list[str]:
    """`stack_names` in deployment order; names of no stack of ours last, by name."""
    order = {name: i for i, name in enumerate(MANAGED_STACKS)}
    return sorted(stack_names, key=lambda n: (order.get(n, len(order)), n))
