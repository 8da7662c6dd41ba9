"""CloudFormation's own calls, authorized with the caller's rights.

Without a service role, CloudFormation creates and deletes a stack's resources with the
permissions of whoever called CreateStack, UpdateStack, ExecuteChangeSet or DeleteStack: an SCP
that denies iam:CreateRole without the organization's permissions boundary fails the stack's
role, mid-deploy. moto creates resources straight in its backends, so nothing was asked. Here,
while IAM is enforced, the resource types annex-cdk's templates use are taught the calls their
handlers make (action, resource ARN, condition context), and each creation and deletion is
evaluated for the caller (annex_emulator.iam_principals) before it happens. A type not taught
is asked as `<service>:Create<Type>` on `*`, so that it is refused rather than let through
wherever a policy is scoped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Final

from annex_emulator.iam_evaluation import ALLOWED, Request, denial_message, evaluate
from annex_emulator.iam_principals import Principal
from annex_emulator.resource_properties import EmulatorResourceError

#: The calls whose handling creates, updates or deletes stack resources.
STACK_CHANGES: Final = frozenset(
    {
        "cloudformation:CreateStack",
        "cloudformation:UpdateStack",
        "cloudformation:DeleteStack",
        "cloudformation:ExecuteChangeSet",
    }
)

#: The caller (and region) of the stack operation in progress; None when IAM is not enforced.
acting: ContextVar[tuple[Principal, str] | None] = ContextVar("annex_acting", default=None)


class Names:
    """ARNs of one resource being created: account, region and its physical name."""

    def __init__(self, account: str, region: str, name: str) -> None:
        self.account, self.region, self.name = account, region, name

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:aws:{service}:{where}:{self.account}:{resource}"

    def iam(self, kind: str, path: str | None = None) -> str:
        return self.arn("iam", f"{kind}{path or '/'}{self.name}", region=False)


Props = Mapping[str, Any]
Teach = Callable[[Props, Names], list[Request]]


def _tags(props: Props) -> dict[str, list[str]]:
    tags = {t["Key"]: str(t["Value"]) for t in props.get("Tags") or [] if "Key" in t}
    context: dict[str, list[str]] = {f"aws:RequestTag/{k}": [v] for k, v in tags.items()}
    if tags:
        context["aws:TagKeys"] = list(tags)
    return context


def _role(props: Props, n: Names) -> list[Request]:
    arn = n.iam("role", props.get("Path"))
    boundary = props.get("PermissionsBoundary")
    bounded = {"iam:PermissionsBoundary": [boundary]} if boundary else {}
    requests = [Request("iam:CreateRole", (arn,), {**bounded, **_tags(props)})]
    requests += [Request("iam:PutRolePolicy", (arn,), bounded) for _ in props.get("Policies") or []]
    requests += [
        Request("iam:AttachRolePolicy", (arn,), {**bounded, "iam:PolicyARN": [policy]})
        for policy in props.get("ManagedPolicyArns") or []
    ]
    return requests


def _user(props: Props, n: Names) -> list[Request]:
    arn = n.iam("user", props.get("Path"))
    requests = [Request("iam:CreateUser", (arn,), _tags(props))]
    requests += [Request("iam:PutUserPolicy", (arn,)) for _ in props.get("Policies") or []]
    requests += [
        Request("iam:AttachUserPolicy", (arn,), {"iam:PolicyARN": [policy]})
        for policy in props.get("ManagedPolicyArns") or []
    ]
    return requests


def _existing_role_boundary(account: str, name: str) -> dict[str, list[str]]:
    """`iam:PermissionsBoundary` of a call on an existing role is that role's boundary."""
    from moto.iam.models import iam_backends

    try:
        found = iam_backends[account]["aws"].get_role(name)
    except Exception:
        return {}
    arn = found.permissions_boundary_arn
    return {"iam:PermissionsBoundary": [arn]} if arn else {}


def _role_policy(props: Props, n: Names) -> list[Request]:
    return [
        Request(
            "iam:PutRolePolicy",
            (n.arn("iam", f"role/{name}", region=False),),
            _existing_role_boundary(n.account, name),
        )
        for name in props.get("Roles") or []
    ]


def _instance_profile(props: Props, n: Names) -> list[Request]:
    arn = n.iam("instance-profile", props.get("Path"))
    requests = [Request("iam:CreateInstanceProfile", (arn,))]
    requests += [Request("iam:AddRoleToInstanceProfile", (arn,)) for _ in props.get("Roles") or []]
    for name in props.get("Roles") or []:
        requests.append(
            Request(
                "iam:PassRole",
                (n.arn("iam", f"role/{name}", region=False),),
                {"iam:PassedToService": ["ec2.amazonaws.com"]},
            )
        )
    return requests


def _lambda(props: Props, n: Names) -> list[Request]:
    requests = [
        Request("lambda:CreateFunction", (n.arn("lambda", f"function:{n.name}"),), _tags(props))
    ]
    if role := props.get("Role"):
        requests.append(
            Request("iam:PassRole", (role,), {"iam:PassedToService": ["lambda.amazonaws.com"]})
        )
    return requests


def _versioned(props: Props, n: Names) -> str:
    """Image Builder's name/version part of an ARN (names are lower-cased in ARNs)."""
    return f"{str(props.get('Name') or n.name).lower()}/{props.get('Version', '1.0.0')}"


def _simple(action: str, resource: Callable[[Props, Names], str]) -> Teach:
    def teach(props: Props, n: Names) -> list[Request]:
        return [Request(action, (resource(props, n),), _tags(props))]

    return teach


#: Resource type -> the calls its create handler makes, and the name property it is named by.
CREATE: Final[dict[str, Teach]] = {
    "AWS::IAM::Role": _role,
    "AWS::IAM::Policy": _role_policy,
    "AWS::IAM::InstanceProfile": _instance_profile,
    "AWS::IAM::User": _user,
    "AWS::IAM::ManagedPolicy": _simple(
        "iam:CreatePolicy", lambda p, n: n.iam("policy", p.get("Path"))
    ),
    "AWS::IAM::OIDCProvider": _simple(
        "iam:CreateOpenIDConnectProvider",
        lambda p, n: n.arn(
            "iam", "oidc-provider/" + str(p.get("Url", "")).split("//")[-1], region=False
        ),
    ),
    "AWS::Lambda::Function": _lambda,
    "AWS::Lambda::Permission": _simple(
        "lambda:AddPermission",
        lambda p, n: (
            str(p.get("FunctionName", ""))
            if str(p.get("FunctionName", "")).startswith("arn:")
            else n.arn("lambda", f"function:{p.get('FunctionName')}")
        ),
    ),
    "AWS::Logs::LogGroup": _simple(
        "logs:CreateLogGroup", lambda p, n: n.arn("logs", f"log-group:{n.name}")
    ),
    "AWS::EC2::SecurityGroup": _simple(
        "ec2:CreateSecurityGroup", lambda p, n: n.arn("ec2", "security-group/*")
    ),
    "AWS::EC2::SecurityGroupIngress": _simple(
        "ec2:AuthorizeSecurityGroupIngress",
        lambda p, n: n.arn("ec2", f"security-group/{p.get('GroupId', '*')}"),
    ),
    "AWS::EC2::SecurityGroupEgress": _simple(
        "ec2:AuthorizeSecurityGroupEgress",
        lambda p, n: n.arn("ec2", f"security-group/{p.get('GroupId', '*')}"),
    ),
    "AWS::EC2::KeyPair": _simple(
        "ec2:CreateKeyPair", lambda p, n: n.arn("ec2", f"key-pair/{n.name}")
    ),
    "AWS::S3::Bucket": _simple("s3:CreateBucket", lambda p, n: f"arn:aws:s3:::{n.name}"),
    "AWS::S3::BucketPolicy": _simple(
        "s3:PutBucketPolicy", lambda p, n: f"arn:aws:s3:::{p.get('Bucket', '')}"
    ),
    "AWS::SSM::Parameter": _simple(
        "ssm:PutParameter", lambda p, n: n.arn("ssm", "parameter/" + n.name.lstrip("/"))
    ),
    "AWS::Events::Rule": _simple("events:PutRule", lambda p, n: n.arn("events", f"rule/{n.name}")),
    "AWS::ImageBuilder::Component": _simple(
        "imagebuilder:CreateComponent",
        lambda p, n: n.arn("imagebuilder", f"component/{_versioned(p, n)}/1"),
    ),
    "AWS::ImageBuilder::ImageRecipe": _simple(
        "imagebuilder:CreateImageRecipe",
        lambda p, n: n.arn("imagebuilder", f"image-recipe/{_versioned(p, n)}"),
    ),
    "AWS::ImageBuilder::InfrastructureConfiguration": _simple(
        "imagebuilder:CreateInfrastructureConfiguration",
        lambda p, n: n.arn("imagebuilder", "infrastructure-configuration/*"),
    ),
    "AWS::ImageBuilder::DistributionConfiguration": _simple(
        "imagebuilder:CreateDistributionConfiguration",
        lambda p, n: n.arn("imagebuilder", "distribution-configuration/*"),
    ),
    "AWS::ImageBuilder::Image": _simple(
        "imagebuilder:CreateImage",
        lambda p, n: n.arn("imagebuilder", f"image/{n.name.lower()}/1.0.0/1"),
    ),
}

#: Resource type -> its delete handler's call (the resource's own ARN, from its physical id).
DELETE: Final[dict[str, tuple[str, Callable[[Names], str]]]] = {
    "AWS::IAM::Role": ("iam:DeleteRole", lambda n: n.iam("role")),
    "AWS::IAM::InstanceProfile": ("iam:DeleteInstanceProfile", lambda n: n.iam("instance-profile")),
    "AWS::IAM::User": ("iam:DeleteUser", lambda n: n.iam("user")),
    "AWS::Lambda::Function": (
        "lambda:DeleteFunction",
        lambda n: n.arn("lambda", f"function:{n.name}"),
    ),
    "AWS::Logs::LogGroup": ("logs:DeleteLogGroup", lambda n: n.arn("logs", f"log-group:{n.name}")),
    "AWS::EC2::SecurityGroup": (
        "ec2:DeleteSecurityGroup",
        lambda n: n.arn("ec2", f"security-group/{n.name}"),
    ),
    "AWS::EC2::KeyPair": ("ec2:DeleteKeyPair", lambda n: n.arn("ec2", f"key-pair/{n.name}")),
    "AWS::S3::Bucket": ("s3:DeleteBucket", lambda n: f"arn:aws:s3:::{n.name}"),
}


def _guess(resource_type: str) -> list[Request]:
    _, service, kind = [*resource_type.split("::"), "", ""][:3]
    return [Request(f"{service.lower()}:Create{kind}", ("*",))]


def _check(requests: list[Request]) -> None:
    current = acting.get()
    if current is None:
        return
    principal, region = current
    for request in requests:
        result = evaluate(principal.policies, principal.request(request, region))
        if result.decision != ALLOWED:
            raise EmulatorResourceError("AccessDenied", denial_message(principal.arn, result))


def authorize_create(
    resource_type: str, properties: Props, name: str, account: str, region: str
) -> None:
    """Refuse (EmulatorResourceError AccessDenied, AWS's message) a creation the caller of
    the stack operation may not make; nothing to do while IAM is not enforced."""
    if acting.get() is None or resource_type.startswith("Custom::"):
        return  # custom resources are invoked by CloudFormation itself
    names = Names(account, region, name)
    teach = CREATE.get(resource_type)
    _check(teach(properties, names) if teach else _guess(resource_type))


def authorize_delete(resource_type: str, physical_id: str, account: str, region: str) -> None:
    if acting.get() is None or resource_type not in DELETE:
        return
    action, arn = DELETE[resource_type]
    _check([Request(action, (arn(Names(account, region, physical_id)),))])
