"""CloudFormation's reading of `Fn::If [cond, value, {"Ref": "AWS::NoValue"}]` inside a list.

AWS::NoValue removes what it stands for: a property, or an element of a list (a conditional
ingress rule, a conditional managed policy). moto's `clean_json` drops a property that
resolves to nothing but keeps a list element as None, which the registry schema check then
refuses ("None is not of type 'object'") where CloudFormation would have created the resource.
"""

from __future__ import annotations

from typing import Any

from annex_emulator.patches import ORIGINALS


def clean_json(resource_json: Any, resources_map: Any) -> Any:
    cleaned = ORIGINALS["parsing.clean_json"](resource_json, resources_map)
    if isinstance(resource_json, list) and isinstance(cleaned, list):
        return [value for value in cleaned if value is not None]
    return cleaned
