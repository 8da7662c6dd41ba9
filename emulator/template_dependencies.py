"""Which resources of a template depend on which (Ref, Fn::GetAtt, Fn::Sub, DependsOn), and
the order CloudFormation creates and updates them in."""

from __future__ import annotations

from typing import Any

from annex_cdk.templates.cfn import SUB_VARIABLE


def references(node: Any) -> set[str]:
    """Logical ids a template fragment refers to (Ref, Fn::GetAtt, Fn::Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found.update(m.split(".")[0] for m in SUB_VARIABLE.findall(str(text)))
                if isinstance(value, list) and len(value) > 1:
                    found |= references(value[1])
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def dependencies(resources: dict[str, Any]) -> dict[str, set[str]]:
    deps: dict[str, set[str]] = {}
    for logical_id, resource_json in resources.items():
        depends_on = resource_json.get("DependsOn") or []
        if isinstance(depends_on, str):
            depends_on = [depends_on]
        refs = references(resource_json.get("Properties") or {}) | set(depends_on)
        deps[logical_id] = (refs & set(resources)) - {logical_id}
    return deps


def dependency_order(resources: dict[str, Any], deps: dict[str, set[str]]) -> list[str]:
    """Dependencies first, otherwise template order (a cycle is cut where it is met)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in order or logical_id in visiting:
            return
        visiting.add(logical_id)
        for dep in sorted(deps.get(logical_id, ()), key=list(resources).index):
            visit(dep)
        visiting.discard(logical_id)
        order.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return order
