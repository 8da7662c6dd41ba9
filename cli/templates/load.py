"""Templates on the wire: the body sent, and reading one back whatever its formatting.

CloudFormation hands back a template in the format it was given: JSON from annex-cdk, YAML
from the CDK CLI (which uploads YAML), with the short-form tags (`!Ref`, `!GetAtt`, `!Sub`...)
that a hand-written template may use. Both read as the same dict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache, partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml


def body(template: Mapping[str, Any]) -> str:
    """The TemplateBody to send: the template as synthesized, its keys in the cloud assembly's
    order. The CDK CLI skips deploying a stack only when `JSON.stringify` of the template it
    synthesized equals that of the deployed one, so key order counts: a body with sorted keys
    made every plain `cdk deploy` after `annex-cdk setup` redeploy every stack."""
    return json.dumps(template, separators=(",", ":"))


#: CloudFormation's short-form intrinsic functions, tag → long form.
_SHORT_FORMS = (
    "And",
    "Base64",
    "Cidr",
    "Condition",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "GetAtt",
    "Ref",
)


def _construct(tag: str, loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    import yaml  # loaded by then: only parse() makes a loader

    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]  # PyYAML's stubs type construct_mapping for MappingNode; the branch above leaves only that
    if tag == "Ref" or tag == "Condition":
        return {tag: value}
    if tag == "GetAtt" and isinstance(value, str):
        # `!GetAtt Resource.Attribute` is `Fn::GetAtt: [Resource, Attribute]`.
        value = value.split(".", 1)
    return {f"Fn::{tag}": value}


@cache
def _cfn_loader() -> type[yaml.SafeLoader]:
    """A safe YAML loader that knows CloudFormation's tags and keeps timestamps as strings."""
    import yaml

    class CfnLoader(yaml.SafeLoader):
        pass

    for tag in _SHORT_FORMS:
        CfnLoader.add_constructor(f"!{tag}", partial(_construct, tag))
    # CloudFormation reads `2012-10-17` as the string it is, not a date.
    CfnLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return CfnLoader


def parse(body: str) -> Any:
    """A template body as CloudFormation reads it: JSON, else YAML with short-form tags."""
    try:
        return json.loads(body)
    except ValueError:
        pass
    # PyYAML only for a body that is not JSON (the CDK CLI's): its import is a twentieth of a
    # second on every run that reads no YAML at all.
    import yaml

    try:
        return yaml.load(body, Loader=_cfn_loader())
    except yaml.YAMLError as err:
        raise TemplateFormatError(f"the template is neither JSON nor YAML: {err}") from None


class TemplateFormatError(ValueError):
    """A template body that is neither JSON nor YAML."""


def normalise(template: Any) -> Any:
    """Templates compare equal when they mean the same JSON, whatever the formatting."""
    if isinstance(template, str):
        template = parse(template)
    return json.loads(json.dumps(template, sort_keys=True))
