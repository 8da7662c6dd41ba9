"""Reading `python -X importtime`: which modules a process imported, and where the time went."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)\s*$")
#: Importing any of these means jsii (and Node) would start.
FORBIDDEN = ("aws_cdk", "jsii", "constructs", "cdk_nag")


@dataclass
class Import:
    name: str
    level: int
    self_us: int
    cumulative_us: int
    children: list[Import] = field(default_factory=list)


def parse(stderr: str) -> list[Import]:
    """The top-level imports, each with its nested imports (importtime prints children first)."""
    pending: dict[int, list[Import]] = {}
    for line in stderr.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        level = len(m.group(3)) // 2
        node = Import(m.group(4), level, int(m.group(1)), int(m.group(2)))
        node.children = pending.pop(level + 1, [])
        pending.setdefault(level, []).append(node)
    return pending.get(0, [])


def walk(imports: Iterable[Import]) -> Iterable[Import]:
    for node in imports:
        yield node
        yield from walk(node.children)


def modules(stderr: str) -> set[str]:
    return {node.name for node in walk(parse(stderr))}


def forbidden(stderr: str, roots: Sequence[str] = FORBIDDEN) -> list[str]:
    """Imported modules under any of `roots` (aws_cdk, jsii, ...), sorted."""
    return sorted(m for m in modules(stderr) if m.split(".")[0] in roots)


def summary(stderr: str, *, top: int = 6, depth: int = 2) -> list[str]:
    """The heaviest imports by cumulative time, with their heaviest children, as text lines."""
    lines: list[str] = []

    def show(nodes: list[Import], level: int) -> None:
        for node in sorted(nodes, key=lambda n: -n.cumulative_us)[:top]:
            if node.cumulative_us < 2000:  # under 2 ms: not where the time goes
                continue
            lines.append(
                f"{'  ' * level}- `{node.name}`: {node.cumulative_us / 1000:.0f} ms "
                f"(self {node.self_us / 1000:.0f} ms)"
            )
            if level + 1 < depth:
                show(node.children, level + 1)

    show(parse(stderr), 0)
    return lines


def total_ms(stderr: str) -> float:
    return sum(n.cumulative_us for n in parse(stderr)) / 1000
