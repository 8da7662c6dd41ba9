"""The one typed, validated settings object every entry point builds the app from."""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from annex_stacks import names

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
# EC2 key names: up to 255 printable ASCII characters, no leading or trailing space. The name
# is also part of the PEM's file name in ~/.condor, so no path separator either.
_KEY_NAME_RE = re.compile(r"^(?! )[\x20-\x2e\x30-\x5b\x5d-\x7e]{1,255}(?<! )$")
# What every AWS service that we tag accepts in tag keys and values: letters, numbers and
# separators (Unicode L, N and Z: a space, never a tab or a newline) and _ . : / = + - @, the
# registry schemas' ^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$ (AWS::IAM::Role's Tag, the strictest we tag).
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
TAG_KEY_MAX, TAG_VALUE_MAX = 128, 256
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Image Builder recipe versions: major.minor.patch, no leading zeros needed.
_SEMVER_RE = re.compile(r"^\d{1,5}\.\d{1,5}\.\d{1,5}$")
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
_WORLD = frozenset({"0.0.0.0/0", "::/0"})
# GitHub's owner and repository names; environment names as GitHub accepts them.
_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$")
_ENVIRONMENT_RE = re.compile(r"^[A-Za-z0-9 _.-]{1,255}$")
# A managed policy's ARN (the account's own, or AWS's): what a permissions boundary names.
_POLICY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,512}$")
_OIDC_PROVIDER_RE = re.compile(
    rf"^arn:aws[a-z-]*:iam::\d{{12}}:oidc-provider/{re.escape(names.GITHUB_OIDC_HOST)}$"
)


class SettingsError(ValueError):
    """A setting is invalid; the message names the setting and how to fix it."""


@dataclass(frozen=True, kw_only=True)
class AnnexSettings:
    """What the stacks are built from. Precedence when built: flag > env > cdk.json > default."""

    region: str | None = None
    account: str | None = None
    allowed_cidrs: tuple[str, ...] = ()
    #: The collector host allowed_cidrs was derived from, recorded so that a later run
    #: derives it again from the collector host as it is then (a moved collector moves the
    #: /32); None when --allow-from gave the CIDRs.
    cidrs_from_collector: str | None = None
    ssh: bool = True
    collector_port: int = names.DEFAULT_COLLECTOR_PORT
    key_pair_name: str = names.KEY_PAIR_NAME
    create_key_pair: bool = True
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    retain_bucket: bool = False
    #: Keep this existing bucket (one condor_annex -setup made, with a generated name) instead
    #: of the deterministic name: renaming a bucket would replace it and lose its contents.
    bucket_name: str | None = None
    #: The security group's CIDRs are template parameters (names.CIDR_SLOTS per family) rather
    #: than allowed_cidrs: the template `annex-cdk org deploy` gives its StackSet, whose
    #: parameters carry the CIDRs, per account where an account overrides them.
    cidr_parameters: bool = False
    #: Keep this security-group description (condor_annex's, on adoption), so the group is
    #: updated in place rather than replaced under running annex instances.
    group_description: str | None = None
    #: Also deploy HTCondorAnnex-SubmitHostRole: an instance profile with the least-privilege
    #: policy, for a submit host on EC2 that uses its instance credentials.
    submit_host_role: bool = False
    condor_user: bool = False
    #: Also deploy HTCondorAnnex-CiRoles: the pipeline's plan and deploy roles, trusted by
    #: GitHub's OIDC for `ci_repository` (OWNER/NAME) and its environment `ci_environment`.
    ci_roles: bool = False
    ci_repository: str | None = None
    ci_environment: str | None = None
    #: An existing GitHub OIDC provider in the account (there can be only one per URL).
    ci_oidc_provider_arn: str | None = None
    #: Also deploy HTCondorAnnex-Image: EC2 Image Builder builds the annex instances' AMI.
    build_image: bool = False
    #: The HTCondor series the image carries (names.IMAGE_HTCONDOR_SERIES).
    image_htcondor: str = names.DEFAULT_IMAGE_HTCONDOR
    #: The image's CPU architecture (names.IMAGE_ARCHES).
    image_arch: str = names.DEFAULT_IMAGE_ARCH
    #: The recipe's version: a new one rebuilds the image (the newest HTCondor of the series).
    image_version: str = names.IMAGE_COMPONENT_VERSION
    #: The managed policy every role of every stack carries as its permissions boundary (an
    #: organization's SCP may deny creating a role without it).
    permissions_boundary: str | None = None
    #: The spend guardrail's caps for this region (any of them adds HTCondorAnnex-Guardrail):
    #: annex instances and their vCPUs at a time; instance-hours and estimated on-demand
    #: dollars per UTC day.
    max_instances: int | None = None
    max_vcpus: int | None = None
    max_instance_hours: float | None = None
    max_dollars: float | None = None
    #: The dead-man switch: every annex ends when the heartbeat is older than this.
    heartbeat_minutes: int | None = None
    #: A monthly AWS Budget on annex spend (a month of max_dollars) notifies this address.
    budget_email: str | None = None

    def __post_init__(self) -> None:
        if self.region is not None and not _REGION_RE.match(self.region):
            raise SettingsError(
                f"region: {self.region!r} is not an AWS region name (e.g. us-east-1)"
            )
        if self.region is not None and (partition := names.partition_of(self.region)) != "aws":
            # condor-annex-ec2 finds its bucket by matching ^arn:aws:s3::: in its role's
            # policy, so instances in another partition could never find their config.
            raise SettingsError(
                f"region: {self.region} is in the {partition} partition; condor_annex's "
                "annex instances only recognize arn:aws: ARNs, so annex-cdk supports the aws "
                "partition only (commercial regions)"
            )
        if self.account is not None and not _ACCOUNT_RE.match(self.account):
            raise SettingsError(f"account: {self.account!r} is not a 12-digit AWS account id")
        object.__setattr__(self, "allowed_cidrs", _normalise_cidrs(self.allowed_cidrs))
        if isinstance(self.collector_port, bool) or not isinstance(self.collector_port, int):
            raise SettingsError(f"collector_port: {self.collector_port!r} is not an integer")
        if not 1 <= self.collector_port <= 65535:
            raise SettingsError(f"collector_port: {self.collector_port} is not in 1..65535")
        if self.ssh and self.collector_port == names.SSH_PORT:
            raise SettingsError("collector_port: 22 is the SSH port; pick another port")
        if not _KEY_NAME_RE.match(self.key_pair_name) or self.key_pair_name in {".", ".."}:
            raise SettingsError(
                f"key_pair_name: {self.key_pair_name!r} must be 1-255 printable ASCII characters "
                "without '/' or '\\' (it names the PEM file in ~/.condor)"
            )
        object.__setattr__(self, "extra_tags", dict(_validate_tags(self.extra_tags)))
        if self.bucket_name is not None and not _BUCKET_RE.match(self.bucket_name):
            raise SettingsError(f"bucket_name: {self.bucket_name!r} is not an S3 bucket name")
        if self.image_htcondor not in names.IMAGE_HTCONDOR_SERIES:
            raise SettingsError(
                f"image_htcondor: {self.image_htcondor!r} is not one of "
                f"{', '.join(names.IMAGE_HTCONDOR_SERIES)}"
            )
        if self.image_arch not in names.IMAGE_ARCHES:
            raise SettingsError(
                f"image_arch: {self.image_arch!r} is not one of {', '.join(names.IMAGE_ARCHES)}"
            )
        boundary = self.permissions_boundary
        if boundary is not None and not _POLICY_ARN_RE.match(boundary):
            raise SettingsError(
                f"permissions_boundary: {boundary!r} is not the ARN of an IAM managed policy "
                "(arn:aws:iam::ACCOUNT:policy/NAME)"
            )
        if not _SEMVER_RE.match(self.image_version):
            raise SettingsError(
                f"image_version: {self.image_version!r} is not a version like 1.0.1 "
                "(Image Builder's major.minor.patch)"
            )
        self._check_ci()
        self._check_guardrail()

    def _check_guardrail(self) -> None:
        for name in ("max_instances", "max_vcpus", "heartbeat_minutes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise SettingsError(f"{name}: {value!r} is not an integer")
            if value is not None and value < 0:
                raise SettingsError(f"{name}: {value} must not be negative")
        for name in ("max_instance_hours", "max_dollars"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or value != value
            ):
                raise SettingsError(f"{name}: {value!r} is not a number")
            if value is not None and not 0 <= value < 1e9:
                raise SettingsError(f"{name}: {value} must be a number from 0")
        if self.heartbeat_minutes is not None and self.heartbeat_minutes < 10:
            # The function runs every five minutes, the cron job refreshes every five: a
            # shorter limit would end annexes whose access point is alive.
            raise SettingsError(
                f"heartbeat_minutes: {self.heartbeat_minutes} is shorter than two heartbeat "
                "periods; use 10 or more"
            )
        if self.budget_email is not None:
            if not _EMAIL_RE.match(self.budget_email):
                raise SettingsError(f"budget_email: {self.budget_email!r} is not an e-mail address")
            if self.max_dollars is None:
                raise SettingsError(
                    "budget_email: the budget is a month of --max-dollars; give --max-dollars too"
                )

    @property
    def guardrail(self) -> bool:
        """Whether HTCondorAnnex-Guardrail is part of the setup."""
        return any(
            getattr(self, name) is not None
            for name in (*names.GUARDRAIL_CAP_FIELDS, "heartbeat_minutes", "budget_email")
        )

    def _check_ci(self) -> None:
        if self.ci_repository is not None and not _REPOSITORY_RE.match(self.ci_repository):
            raise SettingsError(f"ci_repository: {self.ci_repository!r} is not OWNER/NAME")
        if self.ci_environment is not None and not _ENVIRONMENT_RE.match(self.ci_environment):
            raise SettingsError(
                f"ci_environment: {self.ci_environment!r} is not a GitHub environment name"
            )
        provider = self.ci_oidc_provider_arn
        if provider is not None and not _OIDC_PROVIDER_RE.match(provider):
            raise SettingsError(
                f"ci_oidc_provider_arn: {provider!r} is not the ARN of an IAM OIDC provider "
                f"for {names.GITHUB_OIDC_HOST}"
            )
        if self.ci_roles and self.ci_repository is None:
            raise SettingsError(
                "ci_repository: --ci-roles needs the GitHub repository (--ci-repository "
                "OWNER/NAME) whose workflow may assume the roles"
            )

    @property
    def ci_environment_name(self) -> str:
        """The protected environment the deploy role trusts."""
        return self.ci_environment or names.CI_DEFAULT_ENVIRONMENT

    @property
    def world_open(self) -> bool:
        """True when the allowed CIDRs together cover all of IPv4 or all of IPv6: 0.0.0.0/0,
        or a set such as 0.0.0.0/1 + 128.0.0.0/1 that is the same thing."""
        return covers_everything(self.allowed_cidrs)

    @property
    def bucket_expression(self) -> str:
        """The bucket's name as Fn::Sub text: the kept name, or the deterministic pattern."""
        return self.bucket_name or names.BUCKET_NAME_PATTERN

    def with_(self, **changes: Any) -> AnnexSettings:
        return replace(self, **changes)

    @classmethod
    def from_context(cls, ctx: Mapping[str, Any], **overrides: Any) -> AnnexSettings:
        """Build from CDK context values (cdk.json, `cdk -c key=value`); overrides win."""
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            value = ctx.get(setting.context_key)
            if value is None or (setting.sparse and setting.kind is str and value == ""):
                continue
            values[setting.field] = setting.read(value)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_context(self) -> dict[str, Any]:
        """The inverse of from_context: what `cdk -c` / cdk.json would need to say."""
        ctx: dict[str, Any] = {}
        for setting in SETTINGS:
            value = getattr(self, setting.field)
            # Settings without it read as they always did; a cap of 0 is a cap.
            if setting.sparse and (value is None or value is False or value == ""):
                continue
            ctx[setting.context_key] = setting.write(value)
        return ctx


def covers_everything(cidrs: Sequence[str]) -> bool:
    """True when the networks in ``cidrs`` add up to all of IPv4 or all of IPv6."""
    networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    collapsed = (*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6))
    return any(str(n) in _WORLD for n in collapsed)


def host_bits_warnings(cidrs: Sequence[str]) -> list[str]:
    """One line per CIDR whose host bits are set: it is widened to its network, say so."""
    out = []
    for raw in cidrs:
        text = str(raw).strip()
        try:
            ipaddress.ip_network(text, strict=True)
        except ValueError:
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                continue  # not a CIDR at all: the setting's own check names it
            out.append(
                f"--allow-from {text} has host bits set: it allows the whole network {net} "
                f"({net.num_addresses} addresses); pass {net} to say so, or a longer prefix"
            )
    return out


def _normalise_cidrs(cidrs: Any) -> tuple[str, ...]:
    if isinstance(cidrs, str):
        raise SettingsError("allowed_cidrs: expected a list of CIDRs, got a single string")
    out: list[str] = []
    for raw in cidrs:
        try:
            net = ipaddress.ip_network(str(raw).strip(), strict=False)
        except ValueError:
            raise SettingsError(
                f"allowed_cidrs: {raw!r} is not a CIDR (e.g. 198.51.100.7/32)"
            ) from None
        text = str(net)
        if text not in out:
            out.append(text)
    return tuple(out)


def _validate_tags(tags: Mapping[str, str]) -> Mapping[str, str]:
    if not isinstance(tags, Mapping):
        raise SettingsError("extra_tags: expected a mapping of tag key to value")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= TAG_KEY_MAX:
            raise SettingsError(f"extra_tags: {key!r} is not a valid tag key (1-128 characters)")
        if bad := _tag_misfit(key):
            raise SettingsError(
                f"extra_tags: tag key {key!r} holds {bad}, which AWS refuses in tags"
            )
        if key.lower().startswith("aws:"):
            raise SettingsError(f"extra_tags: {key!r} uses the reserved prefix 'aws:'")
        if key == names.TAG_SETUP:
            raise SettingsError(f"extra_tags: {key!r} is set by annex-cdk itself")
        if not isinstance(value, str) or len(value) > TAG_VALUE_MAX:
            raise SettingsError(
                f"extra_tags: value of {key!r} is not a valid tag value (0-256 characters)"
            )
        if bad := _tag_misfit(value):
            raise SettingsError(
                f"extra_tags: the value of {key!r} holds {bad}, which AWS refuses in tags"
            )
    return tags


def _tag_misfit(text: str) -> str | None:
    """The first character of ``text`` AWS refuses in a tag, described, or None."""
    for char in text:
        if char not in _TAG_PUNCTUATION and unicodedata.category(char)[0] not in "LNZ":
            return f"{char!r} (U+{ord(char):04X}, {unicodedata.name(char, 'a control character')})"
    return None


def _as_list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise SettingsError(f"{key}: {value!r} is not a JSON list") from None
        else:
            return [part for part in (p.strip() for p in text.split(",")) if part]
    if not isinstance(value, list):
        raise SettingsError(f"{key}: expected a list, got {value!r}")
    return [str(v) for v in value]


def _as_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise SettingsError(f"{key}: expected true or false, got {value!r}")


def _as_int(value: Any, key: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{key}: expected an integer, got {value!r}") from None


def _as_float(value: Any, key: str) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{key}: expected a number, got {value!r}") from None


def _as_dict(value: Any, key: str) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise SettingsError(f"{key}: {value!r} is not a JSON object") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{key}: expected an object of tag key to value")
    return {str(k): v for k, v in value.items()}


def _as_str(value: Any, key: str) -> str:
    return str(value)


_READERS: dict[type, Any] = {
    str: _as_str,
    bool: _as_bool,
    int: _as_int,
    float: _as_float,
    list: _as_list,
    dict: _as_dict,
}


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One setting, declared once: everything else (context, flags, records) derives from it."""

    #: The AnnexSettings field.
    field: str
    #: The CDK context key (cdk.json, `cdk -c`), from names.py.
    context_key: str
    #: How a context value reads, strings included (`cdk -c` hands the app strings):
    #: str, bool ("true"/"false"), int, list (JSON or comma-separated), dict (JSON).
    kind: type
    #: In the context only when set: "" reads as unset, and to_context leaves a false value out.
    sparse: bool = False
    #: The stack whose template Metadata records the setting, so that a later run without the
    #: flag keeps what is deployed (None: not recorded).
    recorded_by: str | None = None
    #: The flag of `setup`, `diff` and `synth` (None: none). A bool flag is either "--x/--no-x"
    #: (unset when absent) or a switch that sets `switch_to`; list and dict flags repeat (dict
    #: values are KEY=VALUE).
    flag: str | None = None
    switch_to: bool | None = None
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _READERS:
            raise TypeError(
                f"{self.field}: kind must be one of {sorted(k.__name__ for k in _READERS)}"
            )
        if self.flag is not None:
            if not self.flag.startswith("--"):
                raise TypeError(f"{self.field}: flag {self.flag!r} must start with --")
            on_off = "/" in self.flag
            if self.kind is bool and on_off == (self.switch_to is not None):
                raise TypeError(f"{self.field}: a bool flag is either --x/--no-x or has switch_to")
            if self.kind is not bool and (on_off or self.switch_to is not None):
                raise TypeError(f"{self.field}: only bool flags have an off form or switch_to")

    @property
    def flag_name(self) -> str:
        """The flag's name as a Python identifier: "--allow-from" -> "allow_from"."""
        if self.flag is None:
            raise AttributeError(f"{self.field} has no flag")
        return self.flag.split("/")[0].removeprefix("--").replace("-", "_")

    def read(self, value: Any) -> Any:
        """The field value a context value stands for."""
        return _READERS[self.kind](value, self.context_key)

    def write(self, value: Any) -> Any:
        """The context value (JSON) for a field value."""
        if self.kind is list:
            return list(value)
        if self.kind is dict:
            return dict(value)
        return value

    def from_flag(self, value: Any) -> Any:
        """The field value a flag's parsed value gives; _UNSET when the flag was not passed."""
        if self.switch_to is not None:
            return self.switch_to if value else _UNSET
        if self.kind is list:
            return tuple(value) if value else _UNSET
        if value is None:
            return _UNSET
        return dict(value) if self.kind is dict else value


_UNSET: Any = object()


#: Every setting the context, the CLI flags and the stacks' records carry. Adding one: a field
#: on AnnexSettings, its CTX_* key in names.py, and an entry here.
SETTINGS: tuple[Setting, ...] = (
    Setting(field="region", context_key=names.CTX_REGION, kind=str, sparse=True),
    Setting(field="account", context_key=names.CTX_ACCOUNT, kind=str, sparse=True),
    Setting(
        field="allowed_cidrs",
        context_key=names.CTX_ALLOWED_CIDRS,
        kind=list,
        recorded_by=names.SECURITY_GROUP_STACK,
        flag="--allow-from",
        help="CIDR that may reach annex instances (repeatable).",
    ),
    Setting(
        field="cidrs_from_collector",
        context_key=names.CTX_CIDRS_FROM_COLLECTOR,
        kind=str,
        sparse=True,
        recorded_by=names.SECURITY_GROUP_STACK,
    ),
    Setting(
        field="ssh",
        context_key=names.CTX_SSH,
        kind=bool,
        recorded_by=names.SECURITY_GROUP_STACK,
        flag="--ssh/--no-ssh",
        help="Open port 22 as well.",
    ),
    Setting(
        field="collector_port",
        context_key=names.CTX_COLLECTOR_PORT,
        kind=int,
        recorded_by=names.SECURITY_GROUP_STACK,
        flag="--collector-port",
        help=(
            "Your collector's port (COLLECTOR_HOST), for the submit host's own firewall only; "
            "annex instances always accept HTCondor on their shared port, 9618."
        ),
    ),
    Setting(
        field="key_pair_name",
        context_key=names.CTX_KEY_PAIR_NAME,
        kind=str,
        recorded_by=names.BUCKET_STACK,
        flag="--key-name",
        help="EC2 key pair name.",
    ),
    Setting(
        field="create_key_pair",
        context_key=names.CTX_CREATE_KEY_PAIR,
        kind=bool,
        recorded_by=names.BUCKET_STACK,
        flag="--reuse-key-pair",
        switch_to=False,
        help="Use an existing key pair instead of creating one.",
    ),
    Setting(
        field="extra_tags",
        context_key=names.CTX_EXTRA_TAGS,
        kind=dict,
        recorded_by=names.BUCKET_STACK,
        flag="--tag",
        help="KEY=VALUE tag on every resource (repeatable).",
    ),
    Setting(
        field="retain_bucket",
        context_key=names.CTX_RETAIN_BUCKET,
        kind=bool,
        recorded_by=names.BUCKET_STACK,
        flag="--retain-bucket/--no-retain-bucket",
        help="Keep the bucket on destroy.",
    ),
    Setting(
        field="bucket_name",
        context_key=names.CTX_BUCKET_NAME,
        kind=str,
        sparse=True,
        recorded_by=names.BUCKET_STACK,
    ),
    Setting(
        field="cidr_parameters",
        context_key=names.CTX_CIDR_PARAMETERS,
        kind=bool,
        sparse=True,  # off: setup's templates are as before
    ),
    Setting(
        field="group_description",
        context_key=names.CTX_GROUP_DESCRIPTION,
        kind=str,
        sparse=True,
        recorded_by=names.SECURITY_GROUP_STACK,
    ),
    Setting(
        field="submit_host_role",
        context_key=names.CTX_SUBMIT_HOST_ROLE,
        kind=bool,
        sparse=True,  # off by default; once deployed, the stack records it
        recorded_by=names.SUBMIT_HOST_STACK,
        flag="--submit-host-role",
        switch_to=True,
        help="Also make an instance profile with `annex-cdk policy` for a submit host on EC2.",
    ),
    Setting(
        field="condor_user",
        context_key=names.CTX_CONDOR_USER,
        kind=bool,
        sparse=True,  # off by default; once deployed, the stack records it
        recorded_by=names.CONDOR_USER_STACK,
        flag="--condor-user",
        switch_to=True,
        help="Also make condor_annex an IAM user of its own holding only what it calls at run "
        "time (`annex-cdk policy --runtime`), and write its key files.",
    ),
    Setting(
        field="ci_roles",
        context_key=names.CTX_CI_ROLES,
        kind=bool,
        sparse=True,  # off by default; once deployed, the stack records it
        recorded_by=names.CI_ROLES_STACK,
        flag="--ci-roles",
        switch_to=True,
        help="Also make GitHub OIDC plan and deploy roles for the annex-cdk workflow.",
    ),
    Setting(
        field="ci_repository",
        context_key=names.CTX_CI_REPOSITORY,
        kind=str,
        sparse=True,
        recorded_by=names.CI_ROLES_STACK,
        flag="--ci-repository",
        help="OWNER/NAME of the GitHub repository whose workflow the CI roles trust.",
    ),
    Setting(
        field="ci_environment",
        context_key=names.CTX_CI_ENVIRONMENT,
        kind=str,
        sparse=True,
        recorded_by=names.CI_ROLES_STACK,
        flag="--ci-environment",
        help=f"Protected environment the deploy role trusts (default {names.CI_DEFAULT_ENVIRONMENT}).",
    ),
    Setting(
        field="ci_oidc_provider_arn",
        context_key=names.CTX_CI_OIDC_PROVIDER,
        kind=str,
        sparse=True,
        recorded_by=names.CI_ROLES_STACK,
        flag="--ci-oidc-provider-arn",
        help="Reuse this account's GitHub OIDC provider instead of creating one.",
    ),
    Setting(
        field="build_image",
        context_key=names.CTX_BUILD_IMAGE,
        kind=bool,
        sparse=True,  # off by default; once deployed, the stack records it
        recorded_by=names.IMAGE_STACK,
        flag="--build-image",
        switch_to=True,
        help="Also build the annex instances' AMI with EC2 Image Builder "
        f"(sets {names.KEY_ODI_IMAGE_ID}).",
    ),
    Setting(
        field="image_htcondor",
        context_key=names.CTX_IMAGE_HTCONDOR,
        kind=str,
        recorded_by=names.IMAGE_STACK,
        flag="--image-htcondor",
        help=f"HTCondor series of the built image: {' or '.join(names.IMAGE_HTCONDOR_SERIES)}.",
    ),
    Setting(
        field="image_arch",
        context_key=names.CTX_IMAGE_ARCH,
        kind=str,
        recorded_by=names.IMAGE_STACK,
        flag="--image-arch",
        help=f"CPU architecture of the built image: {' or '.join(names.IMAGE_ARCHES)}.",
    ),
    Setting(
        field="image_version",
        context_key=names.CTX_IMAGE_VERSION,
        kind=str,
        recorded_by=names.IMAGE_STACK,
        flag="--image-version",
        help="Version of the image recipe; a new one rebuilds the image with the series' "
        "newest HTCondor.",
    ),
    Setting(
        field="permissions_boundary",
        context_key=names.CTX_PERMISSIONS_BOUNDARY,
        kind=str,
        sparse=True,
        recorded_by=names.BUCKET_STACK,
        flag="--permissions-boundary",
        help="ARN of the managed policy every role of every stack carries as its permissions "
        "boundary (an organization's SCP may require one).",
    ),
    Setting(
        field="max_instances",
        context_key=names.CTX_MAX_INSTANCES,
        kind=int,
        sparse=True,
        recorded_by=names.GUARDRAIL_STACK,
        flag="--max-instances",
        help="Spend guardrail: at most this many annex instances in the region at a time.",
    ),
    Setting(
        field="max_vcpus",
        context_key=names.CTX_MAX_VCPUS,
        kind=int,
        sparse=True,
        recorded_by=names.GUARDRAIL_STACK,
        flag="--max-vcpus",
        help="Spend guardrail: at most this many annex vCPUs in the region at a time.",
    ),
    Setting(
        field="max_instance_hours",
        context_key=names.CTX_MAX_INSTANCE_HOURS,
        kind=float,
        sparse=True,
        recorded_by=names.GUARDRAIL_STACK,
        flag="--max-instance-hours",
        help="Spend guardrail: annex instance-hours per UTC day.",
    ),
    Setting(
        field="max_dollars",
        context_key=names.CTX_MAX_DOLLARS,
        kind=float,
        sparse=True,
        recorded_by=names.GUARDRAIL_STACK,
        flag="--max-dollars",
        help="Spend guardrail: estimated on-demand USD per UTC day (AWS Price List).",
    ),
    Setting(
        field="heartbeat_minutes",
        context_key=names.CTX_HEARTBEAT_MINUTES,
        kind=int,
        sparse=True,
        recorded_by=names.GUARDRAIL_STACK,
        flag="--heartbeat-minutes",
        help="Dead-man switch: end every annex when the access point's heartbeat is older.",
    ),
    Setting(
        field="budget_email",
        context_key=names.CTX_BUDGET_EMAIL,
        kind=str,
        sparse=True,
        recorded_by=names.GUARDRAIL_STACK,
        flag="--budget-email",
        help="A monthly AWS Budget on annex spend notifies this address (lags by hours).",
    ),
)


def context_keys(settings: Sequence[Setting] | None = None) -> tuple[str, ...]:
    """Every context key the app reads (`cdk -c`, cdk.json)."""
    return tuple(s.context_key for s in (SETTINGS if settings is None else settings))


def recorded_by_stack(settings: Sequence[Setting] | None = None) -> dict[str, tuple[str, ...]]:
    """Which context keys each stack records in its template Metadata."""
    recorded: dict[str, tuple[str, ...]] = {}
    for s in SETTINGS if settings is None else settings:
        if s.recorded_by is not None:
            recorded[s.recorded_by] = (*recorded.get(s.recorded_by, ()), s.context_key)
    return recorded


def flag_settings(settings: Sequence[Setting] | None = None) -> tuple[Setting, ...]:
    """The settings that have a CLI flag, in the order of the flags in --help."""
    return tuple(s for s in (SETTINGS if settings is None else settings) if s.flag is not None)


def overrides_from_flags(
    flags: Mapping[str, Any], settings: Sequence[Setting] | None = None
) -> dict[str, Any]:
    """Field values from flag values by flag name ("allow_from"); flags not passed are left out."""
    by_name = {s.flag_name: s for s in flag_settings(settings)}
    if unknown := sorted(set(flags) - set(by_name)):
        raise TypeError(f"unknown settings flag(s): {', '.join(unknown)}")
    overrides = {}
    for name, value in flags.items():
        setting = by_name[name]
        if (field_value := setting.from_flag(value)) is not _UNSET:
            overrides[setting.field] = field_value
    return overrides


@dataclass(frozen=True, init=False)
class SettingsFlags:
    """What the user passed. `given` holds the settings by field; one left out means "keep what
    is deployed, else the default". --collector-host is not a setting: it is where the default
    CIDR and port come from.
    """

    given: Mapping[str, Any]
    collector_host: str | None

    def __init__(
        self,
        *,
        collector_host: str | None = None,
        declared: Sequence[Setting] | None = None,
        **flags: Any,
    ) -> None:
        """Flags by their names (`allow_from=(...)`, `reuse_key_pair=True`), as `declared`
        (default: settings.SETTINGS) declares them; None, False for a switch and () for a
        repeatable flag mean not passed."""
        object.__setattr__(self, "given", overrides_from_flags(flags, declared))
        object.__setattr__(self, "collector_host", collector_host)
