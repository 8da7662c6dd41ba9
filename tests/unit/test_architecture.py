"""The layers, as the installed packages import each other (read from their source with ast).

commands → ops → {aws, condor, the annex_stacks façade} → templates → names / settings / errors.
A failure names the file, the line and the import that breaks the rule.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGES = ("annex_cdk", "annex_stacks", "annex_lambda_src", "annex_emulator")

#: annex_cdk's rooms, from the top down; a room imports only rooms below it (and itself).
LAYERS = {
    "annex_cdk.commands": 5,
    "annex_cdk.ops": 4,
    "annex_cdk.aws": 3,
    "annex_cdk.condor": 3,
    "annex_stacks.facade": 3,
    "annex_stacks": 3,  # the package's lazy exports lead to the façade
    "annex_cdk.templates": 2,
    "annex_cdk.env": 2,
    "annex_cdk.local_cache": 2,  # the files annex-cdk keeps under the user's cache
    "annex_cdk.errors": 1,
    "annex_cdk.console": 1,
    "annex_stacks.names": 1,
    "annex_stacks.settings": 1,
    "annex_stacks.stack_specs": 1,  # plain data: one declaration per stack
    "annex_stacks.policy": 1,  # plain data: the policy statements and documents
    "annex_cdk.text": 0,  # what every printed line passes through
}
#: Rooms of one layer that must not know each other: the AWS side and the HTCondor side.
APART = {("annex_cdk.aws", "annex_cdk.condor"), ("annex_cdk.condor", "annex_cdk.aws")}
#: What a command module may import at its top, that is at start-up: Typer, the standard
#: library and these. `--help` and shell completion (every Tab) import every command module, so
#: a command imports its use case (ops, and the aws/condor/templates modules it renders with)
#: only when it runs: none of boto3, yaml, the diff engine or the deploy engine load before then.
COMMAND_START_IMPORTS = (
    "annex_cdk.commands",
    "annex_cdk.console",
    "annex_cdk.errors",
    "annex_cdk.env",
    "annex_cdk.text",
    "annex_stacks.names",
    "annex_stacks.settings",
)
#: Who may start the emulator: the `emulator` and `rehearse` commands and the rehearsal.
EMULATOR_STARTERS = ("annex_cdk.commands", "annex_cdk.ops.rehearse")
#: Third-party packages that only one package may import.
OWNED = {
    "moto": ("annex_emulator",),
    "aws_cdk": ("annex_stacks",),
    "constructs": ("annex_stacks",),
    "cdk_nag": ("annex_stacks",),
}
#: What only the AWS room may name: the use cases reach AWS through its per-service wrappers,
#: which answer with dataclasses and raise annex-cdk's errors.
AWS_SDK = re.compile(r"boto3|botocore|ClientError|\.client\(")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (for `from X import y`, X.y when that is a module)
    line: int
    lazy: bool  # inside a function: deferred until called
    path: Path


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations, f"{package} not installed"
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str:
    """The longest first-party module a dotted name falls in (or the name itself)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return name


def _imports() -> Iterator[Import]:
    for module, path in MODULES.items():
        yield from _imports_under(ast.parse(path.read_text(), str(path)), module, path, lazy=False)


def _imports_under(node: ast.AST, module: str, path: Path, *, lazy: bool) -> Iterator[Import]:
    """The imports below `node`, in one pass: `lazy` inside a function; none of what an
    `if TYPE_CHECKING:` holds (the type checker's alone)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue
        if isinstance(child, ast.Import):
            for alias in child.names:
                yield Import(module, _resolve(alias.name), child.lineno, lazy, path)
        elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
            for alias in child.names:
                yield Import(
                    module, _resolve(f"{child.module}.{alias.name}"), child.lineno, lazy, path
                )
        inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        yield from _imports_under(child, module, path, lazy=inner)


IMPORTS = list(_imports())


def _room(module: str) -> str | None:
    best = None
    for room in LAYERS:
        if (module == room or module.startswith(room + ".")) and (
            best is None or len(room) > len(best)
        ):
            best = room
    return best


def _first_party(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def _where(imp: Import) -> str:
    return f"{imp.path}:{imp.line}: {imp.module} imports {imp.target}"


def test_the_graph_is_read():
    assert {"annex_cdk.commands", "annex_cdk.ops", "annex_cdk.aws", "annex_cdk.condor"} <= {
        _room(m) for m in MODULES
    }
    assert any(i.target == "annex_cdk.aws.engine" for i in IMPORTS)
    assert any(i.lazy for i in IMPORTS)  # boto3 and aws_cdk are imported where they are used


def test_every_annex_cdk_module_has_a_room():
    homeless = [m for m in MODULES if m.startswith("annex_cdk.") and _room(m) is None]
    assert homeless == [] or set(homeless) <= {"annex_cdk.__main__"}, homeless


def test_imports_flow_down_the_layers():
    wrong = []
    for imp in IMPORTS:
        if not (imp.module.startswith("annex_cdk") and _first_party(imp.target)):
            continue
        if imp.target.startswith("annex_emulator"):
            continue  # its own test below
        src, dst = _room(imp.module), _room(imp.target)
        if src is None or dst is None or src == dst:
            if dst is None and imp.target.startswith("annex_stacks."):
                wrong.append(f"{_where(imp)} (a stack module: go through the façade)")
            continue
        if LAYERS[dst] >= LAYERS[src] and not (
            src == "annex_cdk.ops" and dst in {"annex_stacks", "annex_stacks.facade"}
        ):
            wrong.append(_where(imp))
        elif (src, dst) in APART:
            wrong.append(f"{_where(imp)} (the AWS and HTCondor sides stay apart)")
    assert wrong == []


def test_no_import_cycles():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        if imp.target in MODULES and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    # Tarjan's strongly connected components.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert cycles == []


def _in(module: str, rooms: tuple[str, ...]) -> bool:
    return any(module == room or module.startswith(room + ".") for room in rooms)


def test_no_lazy_import_of_our_own_modules():
    """Deferring an import of our own code only hides a cycle or a layer break. The one
    exception is the command layer's: a command imports its use case when it runs, so that
    start-up (--help, completion) loads none of them; those imports point down the layers
    (test_imports_flow_down_the_layers) and count in test_no_import_cycles like any other.
    Deferring third-party imports (boto3, aws_cdk, htcondor2) is what keeps start-up fast, and
    the emulator is loaded only when a command starts it."""
    lazy = [
        _where(imp)
        for imp in IMPORTS
        if imp.lazy
        and imp.module.startswith("annex_cdk")
        and _first_party(imp.target)
        and not (
            imp.target.startswith("annex_emulator") and imp.module.startswith(EMULATOR_STARTERS)
        )
        and not (
            _in(imp.module, ("annex_cdk.commands",)) and _room(imp.target) != _room(imp.module)
        )
    ]
    assert lazy == []


def test_command_modules_import_only_the_start_up_set_at_their_top():
    """What `--help` and completion load: the command modules and COMMAND_START_IMPORTS."""
    wrong = [
        _where(imp)
        for imp in IMPORTS
        if _in(imp.module, ("annex_cdk.commands",))
        and not imp.lazy
        and _first_party(imp.target)
        and not _in(imp.target, COMMAND_START_IMPORTS)
    ]
    assert wrong == []


def test_the_product_starts_the_emulator_but_never_builds_on_it():
    wrong = [
        _where(imp)
        for imp in IMPORTS
        if imp.target.startswith("annex_emulator")
        and not imp.module.startswith("annex_emulator")
        and not (imp.module.startswith(EMULATOR_STARTERS) and imp.lazy)
    ]
    assert wrong == []


@pytest.mark.parametrize("package", sorted(OWNED))
def test_third_party_packages_stay_in_their_room(package):
    wrong = [
        _where(imp)
        for imp in IMPORTS
        if imp.target.split(".")[0] == package and not imp.module.startswith(OWNED[package])
    ]
    assert wrong == []


def test_the_emulator_depends_only_on_names_and_template_facts():
    allowed = ("annex_emulator", "annex_stacks.names", "annex_cdk.templates")
    wrong = [
        _where(imp)
        for imp in IMPORTS
        if imp.module.startswith("annex_emulator")
        and _first_party(imp.target)
        and not imp.target.startswith(allowed)
    ]
    assert wrong == []


def _sdk_mentions(room: str) -> list[str]:
    return [
        f"{path}:{number}: {line.strip()}"
        for module, path in sorted(MODULES.items())
        if _room(module) == room
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if AWS_SDK.search(line)
    ]


def test_use_cases_reach_aws_only_through_the_aws_wrappers():
    """Not even in a comment: a use case that names the SDK is one step from calling it."""
    assert _sdk_mentions("annex_cdk.aws")  # the scan finds the SDK where it lives
    assert _sdk_mentions("annex_cdk.ops") == []


def test_every_package_is_listed_for_installation():
    """A package missing from pyproject's list works in the editable checkout and is absent
    from a wheel (`pip install .`)."""
    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for name, folder in config["package-dir"].items():
        for init in (root / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(root / folder).parts
            found.add(".".join((name, *parts)))
    assert found == listed


def test_every_type_ignore_names_its_error_and_says_why():
    """mypy (scripts/typecheck) refuses an ignore without its code; the reason is ours."""
    bare = [
        f"{path}:{number}: {line.strip()}"
        for path in MODULES.values()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "# type: ignore" in line and not re.search(r"# type: ignore\[[a-z, -]+\]  # \S", line)
    ]
    assert bare == []
