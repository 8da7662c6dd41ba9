"""An account as a landing zone leaves it: no default VPC, IMDSv2 required (`Posture`).

Most institutional accounts come out of a landing zone (Control Tower, Landing Zone Accelerator,
an organization's baseline) that deletes the default VPC and makes IMDSv2 the rule. moto creates
a default VPC in every region and knows no instance-metadata defaults, so the emulator would let
a setup through that EC2 refuses. With a `Posture` configured (the server's `--no-default-vpc`,
`--imds-required`), every EC2 backend the emulator creates, in any region and after every reset,
starts as such an account does, and EC2 answers as it does there:

- no default VPC: CreateSecurityGroup without VpcId (so AWS::EC2::SecurityGroup without one) and
  RunInstances without a subnet fail with `VPCIdNotSpecified` ("No default VPC for this user");
  CreateDefaultVpc makes one (a /16 with a default subnet per zone, moto's), and a second call
  fails with `DefaultVpcAlreadyExists`.
- IMDSv2 required: the account's per-region defaults (Get/ModifyInstanceMetadataDefaults, which
  moto lacks) are HttpTokens=required and HttpTokensEnforced=enabled. Whatever the posture, an
  instance gets the effective metadata options in EC2's order of precedence (the launch's
  MetadataOptions, then the account defaults, then the AMI's ImdsSupport v2.0, then EC2's own
  defaults), and with HttpTokensEnforced a launch or a ModifyInstanceMetadataOptions that leaves
  HttpTokens optional fails with `UnsupportedOperation` (EC2 User Guide, "Launching an
  IMDSv1-enabled instance fails").
- An AMI's `ImdsSupport` (RegisterImage, ModifyImageAttribute; moto drops it) is kept and
  reported by DescribeImages and DescribeImageAttribute; as on EC2, v2.0 cannot be undone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from annex_emulator import landing_zone, patches

__all__ = ["Posture", "configure", "current", "install"]

#: EC2's own defaults for an instance's metadata options (RunInstances, MetadataOptions).
_EC2_DEFAULTS = {"HttpTokens": "optional", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"}
#: An AMI registered with ImdsSupport v2.0 launches with these (DescribeImages, ImdsSupport).
_IMDS_V2_AMI = {"HttpTokens": "required", "HttpPutResponseHopLimit": 2}
_NO_PREFERENCE = "no-preference"
#: ModifyInstanceMetadataDefaults' members and the values EC2 accepts for them.
_DEFAULT_VALUES: dict[str, tuple[str, ...]] = {
    "HttpTokens": ("optional", "required", _NO_PREFERENCE),
    "HttpEndpoint": ("enabled", "disabled", _NO_PREFERENCE),
    "InstanceMetadataTags": ("enabled", "disabled", _NO_PREFERENCE),
    "HttpTokensEnforced": ("enabled", "disabled", _NO_PREFERENCE),
}
_ENFORCED_MESSAGE = (
    "You can't launch instances with IMDSv1 because httpTokensEnforced is enabled for this "
    "account. Either launch the instance with httpTokens=required or contact your account "
    "owner to disable httpTokensEnforced using the ModifyInstanceMetadataDefaults API or the "
    "account settings in the EC2 console."
)
#: Set on a backend while moto's __init__ runs, so that it creates no default VPC.
_SKIP_DEFAULT_VPC = "_annex_skip_default_vpc"
#: The account's instance-metadata defaults in that region, on its EC2 backend (reset with it).
_DEFAULTS_ATTRIBUTE = "annex_metadata_defaults"
_IMDS_ATTRIBUTE = "annex_imds_support"


@dataclass(frozen=True)
class Posture:
    """What the emulated account looks like in every region."""

    no_default_vpc: bool = False
    imds_required: bool = False
    #: The organization's permissions boundary exists as a managed policy of the account
    #: (`landing_zone.BOUNDARY_POLICY_NAME`), as a landing zone provisions it.
    boundary_policy: bool = False

    def argv(self) -> list[str]:
        """The emulator server's options for this posture."""
        return [
            flag
            for flag, on in (
                ("--no-default-vpc", self.no_default_vpc),
                ("--imds-required", self.imds_required),
                ("--boundary-policy", self.boundary_policy),
            )
            if on
        ]

    def lines(self) -> list[str]:
        """What the emulator enforces, for `annex-cdk emulator` to print."""
        found = []
        if self.no_default_vpc:
            found.append(
                "no default VPC in any region: security groups without VpcId and launches "
                "without a subnet fail (VPCIdNotSpecified); CreateDefaultVpc makes one"
            )
        if self.imds_required:
            found.append(
                "IMDSv2 required: instance-metadata defaults HttpTokens=required, "
                "HttpTokensEnforced=enabled in every region"
            )
        if self.boundary_policy:
            from moto.core.models import DEFAULT_ACCOUNT_ID  # the server's side only

            found.append(
                "the organization's permissions boundary is the managed policy "
                f"{landing_zone.boundary_arn(DEFAULT_ACCOUNT_ID)}"
            )
        return found


_posture = Posture()


def configure(posture: Posture) -> None:
    """The posture of every EC2 backend created from now on (the server sets it at start)."""
    global _posture
    _posture = posture


def current() -> Posture:
    return _posture


# --- the default VPC ----------------------------------------------------------------------------


def backend_init(self: Any, region_name: str, account_id: str) -> None:
    posture = _posture
    if posture.no_default_vpc:
        setattr(self, _SKIP_DEFAULT_VPC, True)
    try:
        patches.ORIGINALS["EC2Backend.__init__"](self, region_name, account_id)
    finally:
        vars(self).pop(_SKIP_DEFAULT_VPC, None)
    defaults = {"HttpTokens": "required", "HttpTokensEnforced": "enabled"}
    setattr(self, _DEFAULTS_ATTRIBUTE, defaults if posture.imds_required else {})


def create_default_vpc(self: Any) -> Any:
    if getattr(self, _SKIP_DEFAULT_VPC, False):
        return None  # moto's __init__ stores this as the backend's default_vpc
    vpc = patches.ORIGINALS["EC2Backend.create_default_vpc"](self)
    if getattr(self, "default_vpc", None) is None:
        self.default_vpc = vpc  # moto's security groups look it up here
    return vpc


def _no_default_vpc() -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError("VPCIdNotSpecified", "No default VPC for this user")


def create_security_group(
    self: Any, name: str, description: str, vpc_id: str | None = None, **kwargs: Any
) -> Any:
    if not vpc_id and self.get_default_vpc() is None:
        raise _no_default_vpc()
    return patches.ORIGINALS["EC2Backend.create_security_group"](
        self, name, description, vpc_id, **kwargs
    )


def get_default_security_group(self: Any, vpc_id: str | None = None) -> Any:
    if not vpc_id and self.get_default_vpc() is None:
        return None
    return patches.ORIGINALS["EC2Backend.get_default_security_group"](self, vpc_id)


def iam_backend_init(self: Any, region_name: str, account_id: str) -> None:
    patches.ORIGINALS["IAMBackend.__init__"](self, region_name, account_id)
    if _posture.boundary_policy:
        self.create_policy(
            description="The organization's permissions boundary (a landing zone's)",
            path="/",
            policy_document=json.dumps(landing_zone.boundary_document()),
            policy_name=landing_zone.BOUNDARY_POLICY_NAME,
            tags=[],
        )


# --- instance metadata ----------------------------------------------------------------------------


def account_defaults(backend: Any) -> dict[str, Any]:
    found: dict[str, Any] | None = getattr(backend, _DEFAULTS_ATTRIBUTE, None)
    if found is None:  # a backend created before install()
        found = {}
        setattr(backend, _DEFAULTS_ATTRIBUTE, found)
    return found


def image_imds_support(backend: Any, image_id: str | None) -> str | None:
    image = backend.amis.get(image_id) if image_id else None
    return getattr(image, _IMDS_ATTRIBUTE, None)


def effective_metadata_options(
    requested: Mapping[str, Any], defaults: Mapping[str, Any], imds_support: str | None
) -> dict[str, Any]:
    """EC2's order of precedence: the launch, the account's defaults, the AMI, EC2's own."""
    layers = [requested, defaults, _IMDS_V2_AMI if imds_support == "v2.0" else {}, _EC2_DEFAULTS]
    options: dict[str, Any] = dict(requested)
    for key in ("HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "InstanceMetadataTags"):
        for layer in layers:
            if layer.get(key) not in (None, "", _NO_PREFERENCE):
                options[key] = layer[key]
                break
    return options


def _refuse_unless_required(backend: Any, http_tokens: str | None) -> None:
    if account_defaults(backend).get("HttpTokensEnforced") == "enabled" and (
        http_tokens != "required"
    ):
        from moto.ec2.exceptions import EC2ClientError

        raise EC2ClientError("UnsupportedOperation", _ENFORCED_MESSAGE)


def run_instances(
    self: Any, image_id: str, count: int, user_data: Any, security_group_names: Any, **kwargs: Any
) -> Any:
    has_subnet = kwargs.get("subnet_id") or any(
        nic.get("SubnetId") or nic.get("NetworkInterfaceId") for nic in kwargs.get("nics") or []
    )
    if not has_subnet and self.get_default_vpc() is None:
        raise _no_default_vpc()
    options = effective_metadata_options(
        kwargs.get("metadata_options") or {},
        account_defaults(self),
        image_imds_support(self, image_id),
    )
    _refuse_unless_required(self, options.get("HttpTokens"))
    kwargs["metadata_options"] = options
    return patches.ORIGINALS["EC2Backend.run_instances"](
        self, image_id, count, user_data, security_group_names, **kwargs
    )


def modify_instance_metadata_options(self: Any, instance_id: str, **kwargs: Any) -> Any:
    if kwargs.get("http_tokens") == "optional":
        _refuse_unless_required(self, "optional")
    return patches.ORIGINALS["EC2Backend.modify_instance_metadata_options"](
        self, instance_id, **kwargs
    )


def get_instance_metadata_defaults(self: Any) -> Any:
    from moto.core.responses import ActionResult

    self.error_on_dryrun()
    return ActionResult({"AccountLevel": dict(account_defaults(self.ec2_backend))})


def modify_instance_metadata_defaults(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError

    self.error_on_dryrun()
    update: dict[str, Any] = {}
    for key, allowed in _DEFAULT_VALUES.items():
        value = self._get_param(key)
        if value is None:
            continue
        if value not in allowed:
            raise EC2ClientError("InvalidParameterValue", f"Invalid value '{value}' for {key}")
        update[key] = value
    hop_limit = self._get_int_param("HttpPutResponseHopLimit")
    if hop_limit is not None:
        if hop_limit != -1 and not 1 <= hop_limit <= 64:
            raise EC2ClientError(
                "InvalidParameterValue", f"Invalid value '{hop_limit}' for HttpPutResponseHopLimit"
            )
        update["HttpPutResponseHopLimit"] = _NO_PREFERENCE if hop_limit == -1 else hop_limit
    defaults = account_defaults(self.ec2_backend)
    for key, value in update.items():
        if value == _NO_PREFERENCE:
            defaults.pop(key, None)
        else:
            defaults[key] = value
    return ActionResult({"Return": True})


# --- an AMI's ImdsSupport -------------------------------------------------------------------------


def _set_imds_support(self: Any, image_id: str, value: str | None) -> None:
    from moto.ec2.exceptions import EC2ClientError

    if value is None:
        return
    if value != "v2.0":
        raise EC2ClientError("InvalidParameterValue", f"Invalid value '{value}' for ImdsSupport")
    image = self.ec2_backend.amis.get(image_id)
    if image is not None:
        setattr(image, _IMDS_ATTRIBUTE, value)


def register_image(self: Any) -> Any:
    from moto.ec2.exceptions import EC2ClientError

    value = self._get_param("ImdsSupport")
    if value is not None and value != "v2.0":  # before the image exists
        raise EC2ClientError("InvalidParameterValue", f"Invalid value '{value}' for ImdsSupport")
    result = patches.ORIGINALS["EC2Response.register_image"](self)
    _set_imds_support(self, result.result["ImageId"], value)
    return result


def modify_image_attribute(self: Any) -> Any:
    value = self._get_param("ImdsSupport.Value")
    image_id = self._get_param("ImageId")
    if value is not None and self._get_param("LaunchPermission") is None:
        from moto.core.responses import EmptyResult

        self.error_on_dryrun()
        self.ec2_backend.describe_images(ami_ids=[image_id])  # InvalidAMIID.NotFound
        _set_imds_support(self, image_id, value)
        return EmptyResult()
    return patches.ORIGINALS["EC2Response.modify_image_attribute"](self)


def _image_imds_support(self: Any) -> str | None:
    return getattr(self, _IMDS_ATTRIBUTE, None)


def install(patch: Callable[[Any, str, Any], None]) -> None:
    from moto.ec2.models import EC2Backend
    from moto.ec2.models.amis import Ami
    from moto.ec2.responses import EC2Response
    from moto.iam.models import IAMBackend

    patch(EC2Backend, "__init__", backend_init)
    patch(IAMBackend, "__init__", iam_backend_init)
    patch(EC2Backend, "create_default_vpc", create_default_vpc)
    patch(EC2Backend, "create_security_group", create_security_group)
    patch(EC2Backend, "get_default_security_group", get_default_security_group)
    patch(EC2Backend, "run_instances", run_instances)
    patch(EC2Backend, "modify_instance_metadata_options", modify_instance_metadata_options)
    patch(EC2Response, "register_image", register_image)
    patch(EC2Response, "modify_image_attribute", modify_image_attribute)
    # Calls and attributes moto lacks: the serializer reads an AMI's ImdsSupport from
    # `imds_support`, DescribeImageAttribute from `imds`.
    patches.add(EC2Response, "get_instance_metadata_defaults", get_instance_metadata_defaults)
    patches.add(EC2Response, "modify_instance_metadata_defaults", modify_instance_metadata_defaults)
    patches.add(Ami, "imds_support", property(_image_imds_support))
    patches.add(Ami, "imds", property(_image_imds_support))
