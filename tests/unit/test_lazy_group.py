"""annex-cdk's command tree builds a command when it is used (annex_cdk/commands/lazy_group.py),
yet shows and completes exactly what Typer's own tree, built up front from the same
registrations, shows and completes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from annex_cdk.commands import app as cli


def typers_own_tree() -> Any:
    """The tree Typer builds for annex-cdk without the lazy group: every command up front."""
    eager = copy.copy(cli.app)
    eager.info = copy.copy(cli.app.info)
    eager.info.cls = TyperGroup
    eager.registered_commands = cli.commands.registered_commands
    eager.registered_groups = cli.commands.registered_groups
    return eager


def command_paths() -> list[list[str]]:
    root = typer.main.get_command(typers_own_tree())
    paths: list[list[str]] = [[]]
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        paths.append([name])
        paths += [[name, sub] for sub in getattr(command, "commands", {})]
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "annex-cdk")
def test_every_help_is_typers_own(path: list[str]) -> None:
    runner = CliRunner()
    ours = runner.invoke(cli.app, [*path, "--help"], prog_name="annex-cdk", terminal_width=100)
    typers = runner.invoke(
        typers_own_tree(), [*path, "--help"], prog_name="annex-cdk", terminal_width=100
    )
    assert ours.exit_code == typers.exit_code == 0, ours.output
    assert ours.output == typers.output
    assert "Commands" in ours.output or "--help" in ours.output


@pytest.mark.parametrize("incomplete", ["", "se", "c", "--", "nothing"])
def test_command_name_completion_is_typers_own(incomplete: str) -> None:
    ours = typer.main.get_command(cli.app)
    typers = typer.main.get_command(typers_own_tree())

    def items(root: Any) -> list[tuple[str, str | None]]:
        ctx = root.make_context("annex-cdk", [], resilient_parsing=True)
        return [(i.value, i.help) for i in root.shell_complete(ctx, incomplete)]

    assert items(ours) == items(typers)
    assert ours.commands.built == set()  # type: ignore[attr-defined]  # the listing built none


def test_help_and_a_command_build_only_what_they_use() -> None:
    root = typer.main.get_command(cli.app)
    root.main(["--help"], prog_name="annex-cdk", standalone_mode=False)
    assert root.commands.built == set()  # type: ignore[attr-defined]
    root.main(["setup", "--help"], prog_name="annex-cdk", standalone_mode=False)
    assert root.commands.built == {"setup"}  # type: ignore[attr-defined]
    assert "setup" in root.list_commands(root.make_context("annex-cdk", [], resilient_parsing=True))
