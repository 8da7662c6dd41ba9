"""--permissions-boundary: every IAM role of every stack carries it (an organization's SCP may
deny iam:CreateRole without it), and only the roles: no other resource changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annex_stacks import AnnexSettings, synth
from annex_stacks.names import CTX_PERMISSIONS_BOUNDARY
from annex_stacks.settings import SettingsError
from tests.infra.conftest import resources

BOUNDARY = "arn:aws:iam::123456789012:policy/OrgPermissionsBoundary"
#: Every stack, the optional ones too: each role-bearing stack must carry the boundary.
EVERYTHING = {
    "allowed_cidrs": ("203.0.113.5/32",),
    "submit_host_role": True,
    "ci_roles": True,
    "ci_repository": "physics-lab/annex",
    "build_image": True,
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict]]:
    out = {}
    for name, boundary in (("plain", None), ("bounded", BOUNDARY)):
        settings = AnnexSettings(**EVERYTHING, permissions_boundary=boundary)
        result = synth(settings, outdir=tmp_path_factory.mktemp(f"boundary-{name}"))
        out[name] = dict(result.templates)
    return out


def test_every_role_of_every_stack_carries_the_boundary(templates):
    bounded = templates["bounded"]
    roles = {
        (stack, lid): role
        for stack, template in bounded.items()
        for lid, role in resources(template, "AWS::IAM::Role").items()
    }
    stacks_with_roles = {stack for stack, _ in roles}
    # The lease and check functions, the instance role, the submit host, CI and image roles.
    assert len(stacks_with_roles) >= 5, stacks_with_roles
    assert {
        key: role["Properties"].get("PermissionsBoundary") for key, role in roles.items()
    } == dict.fromkeys(roles, BOUNDARY)
    users = [r for t in bounded.values() for r in resources(t, "AWS::IAM::User").values()]
    assert all(u["Properties"].get("PermissionsBoundary") == BOUNDARY for u in users)


def test_the_boundary_changes_nothing_but_the_roles(templates):
    plain, bounded = templates["plain"], templates["bounded"]
    assert plain.keys() == bounded.keys()
    for stack, template in plain.items():
        for lid, resource in template["Resources"].items():
            other = bounded[stack]["Resources"][lid]
            if resource["Type"] == "AWS::IAM::Role":
                assert "PermissionsBoundary" not in resource["Properties"]
                other = {**other, "Properties": dict(other["Properties"])}
                del other["Properties"]["PermissionsBoundary"]
            if lid != "CDKMetadata":
                assert other == resource, f"{stack}/{lid} changed"


def test_the_setting_reads_from_the_context_as_plain_cdk_gives_it(tmp_path: Path):
    """`cdk deploy -c annex:permissionsBoundary=ARN` and cdk.json hand the app this string."""
    settings = AnnexSettings.from_context({CTX_PERMISSIONS_BOUNDARY: BOUNDARY})
    assert settings.permissions_boundary == BOUNDARY
    assert settings.to_context()[CTX_PERMISSIONS_BOUNDARY] == BOUNDARY
    assert CTX_PERMISSIONS_BOUNDARY not in AnnexSettings().to_context()  # sparse
    json.dumps(settings.to_context())


@pytest.mark.parametrize(
    "arn",
    [
        "OrgPermissionsBoundary",
        "arn:aws:iam::123456789012:role/OrgPermissionsBoundary",
        "arn:aws:iam::12345:policy/x",
        "arn:aws:s3:::bucket",
    ],
)
def test_a_boundary_that_is_not_a_managed_policy_arn_is_refused(arn: str):
    with pytest.raises(SettingsError, match=r"permissions_boundary: .* not the ARN of an IAM"):
        AnnexSettings(permissions_boundary=arn)
