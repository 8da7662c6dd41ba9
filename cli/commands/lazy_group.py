"""The root of Click's command tree, with each command built when it is used.

Typer turns every parameter of every command into a Click option up front (reading each
function's signature and type hints: about 25 ms for annex-cdk's 300 options), though a start-up
uses one command at most: `annex-cdk --help` and a Tab on a command name need only the names and
the first line of each docstring. Here the commands stay Typer registrations (`commands`, a
plain `typer.Typer`) until one is run, completed or asked for its help; Typer itself then builds
it, with the same functions it uses for its own tree, so every command and its help are Typer's.
The listing (root --help, command-name completion) reads the help Typer would give each one.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
import typer.main
from typer._click import Command, Context, HelpFormatter
from typer._click.shell_completion import CompletionItem
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandInfo, TyperInfo


class LazyCommands(MutableMapping[str, Command]):
    """A group's commands by name, in the order Typer lists them (commands, then groups);
    each one built on first lookup."""

    def __init__(self, registry: typer.Typer, *, group: TyperGroup) -> None:
        self._group = group
        self._pretty_exceptions_short = registry.pretty_exceptions_short
        self._infos: dict[str, CommandInfo | TyperInfo] = {}
        for command in registry.registered_commands:
            assert command.callback is not None, "a command needs a callback"
            self._infos[command.name or typer.main.get_command_name(command.callback.__name__)] = (
                command
            )
        for sub_group in registry.registered_groups:
            name = typer.main.solve_typer_info_defaults(sub_group).name
            assert name, "a sub-group of annex-cdk needs a name"
            self._infos[name] = sub_group
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            self._built[name] = self._build(self._infos[name])
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._infos.setdefault(name, CommandInfo(name))
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._infos[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._infos)

    def __len__(self) -> int:
        return len(self._infos)

    @property
    def built(self) -> frozenset[str]:
        """The commands built so far."""
        return frozenset(self._built)

    def _build(self, info: CommandInfo | TyperInfo) -> Command:
        if isinstance(info, TyperInfo):
            return typer.main.get_group_from_info(
                info,
                pretty_exceptions_short=self._pretty_exceptions_short,
                suggest_commands=self._group.suggest_commands,
                rich_markup_mode=self._group.rich_markup_mode,
            )
        return typer.main.get_command_from_info(
            info,
            pretty_exceptions_short=self._pretty_exceptions_short,
            rich_markup_mode=self._group.rich_markup_mode,
        )

    def summary(self, name: str) -> Command:
        """What a listing shows of a command (name, help, hidden, deprecated): the command
        itself once built, else a stand-in with the help Typer would give it."""
        if name in self._built:
            return self._built[name]
        info = self._infos[name]
        if isinstance(info, TyperInfo):
            solved = typer.main.solve_typer_info_defaults(info)
            return TyperCommand(
                name,
                help=solved.help,
                short_help=solved.short_help,
                hidden=solved.hidden,
                deprecated=solved.deprecated,
            )
        given = info.help
        return TyperCommand(
            name,
            help=inspect.getdoc(info.callback) if given is None else inspect.cleandoc(given),
            short_help=info.short_help,
            hidden=info.hidden,
            deprecated=info.deprecated,
        )


def lazy_group(registry: typer.Typer) -> type[TyperGroup]:
    """A group class for `typer.Typer(cls=...)` whose commands are `registry`'s."""

    class LazyGroup(TyperGroup):
        def __init__(self, **attrs: Any) -> None:
            super().__init__(**attrs)
            self.commands = LazyCommands(registry, group=self)

        @property
        def lazy(self) -> LazyCommands:
            assert isinstance(self.commands, LazyCommands)
            return self.commands

        def list_commands(self, ctx: Context) -> list[str]:
            return list(self.commands)  # TyperGroup's lists .items(): that would build them all

        def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
            rows = [
                (name, summary)
                for name in self.list_commands(ctx)
                if not (summary := self.lazy.summary(name)).hidden
            ]
            if rows:
                limit = formatter.width - 6 - max(len(name) for name, _ in rows)
                with formatter.section("Commands"):
                    formatter.write_dl([(name, c.get_short_help_str(limit)) for name, c in rows])

        def shell_complete(self, ctx: Context, incomplete: str) -> list[CompletionItem]:
            items = [
                CompletionItem(name, help=summary.get_short_help_str())
                for name in self.list_commands(ctx)
                if name.startswith(incomplete) and not (summary := self.lazy.summary(name)).hidden
            ]
            # The group's own options, as TyperGroup.shell_complete adds them.
            return items + super(TyperGroup, self).shell_complete(ctx, incomplete)

    return LazyGroup
