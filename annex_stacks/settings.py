"""The one typed, validated settings object every entry point builds the app from."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from annex_stacks import names

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
# EC2 key names: ASCII, up to 255 characters.
_KEY_NAME_RE = re.compile(r"^[\x20-\x7e]{1,255}$")
# What every AWS service that we tag accepts in tag keys and values.
_TAG_RE = re.compile(r"^[\w\s.:/=+\-@]*$", re.UNICODE)
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_WORLD = frozenset({"0.0.0.0/0", "::/0"})


class SettingsError(ValueError):
    """A setting is invalid; the message names the setting and how to fix it."""


@dataclass(frozen=True, kw_only=True)
class AnnexSettings:
    """What the stacks are built from. Precedence when built: flag > env > cdk.json > default."""

    region: str | None = None
    account: str | None = None
    allowed_cidrs: tuple[str, ...] = ()
    ssh: bool = True
    collector_port: int = names.DEFAULT_COLLECTOR_PORT
    key_pair_name: str = names.KEY_PAIR_NAME
    create_key_pair: bool = True
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    retain_bucket: bool = False
    #: Keep this existing bucket (one condor_annex -setup made, with a generated name) instead
    #: of the deterministic name: renaming a bucket would replace it and lose its contents.
    bucket_name: str | None = None
    #: Also deploy HTCondorAnnex-SubmitHostRole: an instance profile with the least-privilege
    #: policy, for a submit host on EC2 that uses its instance credentials.
    submit_host_role: bool = False

    def __post_init__(self) -> None:
        if self.region is not None and not _REGION_RE.match(self.region):
            raise SettingsError(
                f"region: {self.region!r} is not an AWS region name (e.g. us-east-1)"
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
        if not _KEY_NAME_RE.match(self.key_pair_name):
            raise SettingsError(
                f"key_pair_name: {self.key_pair_name!r} must be 1-255 printable ASCII characters"
            )
        object.__setattr__(self, "extra_tags", dict(_validate_tags(self.extra_tags)))
        if self.bucket_name is not None and not _BUCKET_RE.match(self.bucket_name):
            raise SettingsError(f"bucket_name: {self.bucket_name!r} is not an S3 bucket name")

    @property
    def world_open(self) -> bool:
        """True when the settings explicitly open the security group to the whole Internet."""
        return any(c in _WORLD for c in self.allowed_cidrs)

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
        if (v := ctx.get(names.CTX_REGION)) not in (None, ""):
            values["region"] = str(v)
        if (v := ctx.get(names.CTX_ACCOUNT)) not in (None, ""):
            values["account"] = str(v)
        if (v := ctx.get(names.CTX_ALLOWED_CIDRS)) is not None:
            values["allowed_cidrs"] = _as_list(v, names.CTX_ALLOWED_CIDRS)
        if (v := ctx.get(names.CTX_SSH)) is not None:
            values["ssh"] = _as_bool(v, names.CTX_SSH)
        if (v := ctx.get(names.CTX_COLLECTOR_PORT)) is not None:
            values["collector_port"] = _as_int(v, names.CTX_COLLECTOR_PORT)
        if (v := ctx.get(names.CTX_KEY_PAIR_NAME)) is not None:
            values["key_pair_name"] = str(v)
        if (v := ctx.get(names.CTX_CREATE_KEY_PAIR)) is not None:
            values["create_key_pair"] = _as_bool(v, names.CTX_CREATE_KEY_PAIR)
        if (v := ctx.get(names.CTX_EXTRA_TAGS)) is not None:
            values["extra_tags"] = _as_dict(v, names.CTX_EXTRA_TAGS)
        if (v := ctx.get(names.CTX_RETAIN_BUCKET)) is not None:
            values["retain_bucket"] = _as_bool(v, names.CTX_RETAIN_BUCKET)
        if (v := ctx.get(names.CTX_BUCKET_NAME)) not in (None, ""):
            values["bucket_name"] = str(v)
        if (v := ctx.get(names.CTX_SUBMIT_HOST_ROLE)) is not None:
            values["submit_host_role"] = _as_bool(v, names.CTX_SUBMIT_HOST_ROLE)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_context(self) -> dict[str, Any]:
        """The inverse of from_context: what `cdk -c` / cdk.json would need to say."""
        ctx: dict[str, Any] = {
            names.CTX_ALLOWED_CIDRS: list(self.allowed_cidrs),
            names.CTX_SSH: self.ssh,
            names.CTX_COLLECTOR_PORT: self.collector_port,
            names.CTX_KEY_PAIR_NAME: self.key_pair_name,
            names.CTX_CREATE_KEY_PAIR: self.create_key_pair,
            names.CTX_EXTRA_TAGS: dict(self.extra_tags),
            names.CTX_RETAIN_BUCKET: self.retain_bucket,
        }
        if self.bucket_name:
            ctx[names.CTX_BUCKET_NAME] = self.bucket_name
        if self.submit_host_role:  # only when on: settings without it read as they always did
            ctx[names.CTX_SUBMIT_HOST_ROLE] = True
        if self.region:
            ctx[names.CTX_REGION] = self.region
        if self.account:
            ctx[names.CTX_ACCOUNT] = self.account
        return ctx


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
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or not _TAG_RE.match(key):
            raise SettingsError(f"extra_tags: {key!r} is not a valid tag key (1-128 characters)")
        if key.lower().startswith("aws:"):
            raise SettingsError(f"extra_tags: {key!r} uses the reserved prefix 'aws:'")
        if key == names.TAG_SETUP:
            raise SettingsError(f"extra_tags: {key!r} is set by annex-cdk itself")
        if not isinstance(value, str) or len(value) > 256 or not _TAG_RE.match(value):
            raise SettingsError(
                f"extra_tags: value of {key!r} is not a valid tag value (0-256 characters)"
            )
    return tags


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


def _as_dict(value: Any, key: str) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise SettingsError(f"{key}: {value!r} is not a JSON object") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{key}: expected an object of tag key to value")
    return {str(k): v for k, v in value.items()}
