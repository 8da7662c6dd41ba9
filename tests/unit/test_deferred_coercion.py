"""Option values are coerced exactly as Typer's own coercer does it, only later: a left-out
option (None) builds no coercer (annex_cdk/commands/deferred_coercion.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer import _coercion
from typer._click.exceptions import BadParameter
from typer.core import TyperCommand
from typer.testing import CliRunner

from annex_cdk.commands import app as cli  # installs the deferred coercion, as start-up does
from annex_cdk.commands.deferred_coercion import DeferredRuntimeParam

seen: dict[str, Any] = {}


def show(
    port: Annotated[int | None, typer.Option(min=1, max=65535)] = None,
    tag: Annotated[list[str] | None, typer.Option()] = None,
    path: Annotated[Path | None, typer.Option()] = None,
    ratio: Annotated[float, typer.Option()] = 0.5,
) -> None:
    seen.update(port=port, tag=tag, path=path, ratio=ratio)


def run(*args: str) -> Any:
    app = typer.Typer(rich_markup_mode=None)
    app.command()(show)
    seen.clear()
    return CliRunner().invoke(app, list(args))


def test_the_cli_uses_it() -> None:
    assert cli.app is not None
    assert typer.core.build_runtime_param is DeferredRuntimeParam  # type: ignore[attr-defined]


def test_given_values_are_coerced_and_checked() -> None:
    result = run("--port", "22", "--tag", "a", "--tag", "b", "--path", "x/y", "--ratio", "2")
    assert result.exit_code == 0, result.output
    assert seen == {"port": 22, "tag": ["a", "b"], "path": Path("x/y"), "ratio": 2.0}
    for args in (("--port", "http"), ("--port", "70000"), ("--ratio", "much")):
        bad = run(*args)
        assert bad.exit_code == 2 and "Invalid value for" in bad.output, args


def test_left_out_options_get_their_defaults() -> None:
    assert run().exit_code == 0
    assert seen == {"port": None, "tag": None, "path": None, "ratio": 0.5}


def context(*, multiple: bool) -> tuple[typer.Context, Any]:
    """A context and a parameter stand-in, as Typer hands them to a coercer."""
    param = type("Param", (), {"multiple": multiple, "nargs": 1, "name": "x"})()
    return typer.Context(TyperCommand("x")), param


@pytest.mark.parametrize(
    ("annotation", "value", "builds"),
    [
        (int, "7", True),
        (list[str], ("a", "b"), False),  # texts for a repeatable text option: as they are
        (list[int], ("1", "2"), True),
        (Path, "p", True),
        (float, "1e3", True),
        (bool, "yes", True),
        (bool, True, False),  # a flag as Click parsed it
        (bool, False, False),
        (str, "text", False),
        (str, "", False),
        (int, None, False),  # left out
    ],
)
def test_the_same_as_typers_coercer(annotation: Any, value: Any, builds: bool) -> None:
    descriptor = _coercion.resolve_type_descriptor(annotation, typer.models.OptionInfo())
    ctx, param = context(multiple=annotation in (list[str], list[int]))
    deferred = DeferredRuntimeParam(descriptor)
    typers = _coercion.build_runtime_param(descriptor)
    got, want = (
        deferred.coerce(value, param=param, ctx=ctx),
        typers.coerce(value, param=param, ctx=ctx),
    )
    assert got == want and type(got) is type(want)
    assert ("built" in vars(deferred)) == builds  # pydantic only where it has work to do


def test_a_bad_value_fails_as_with_typers_coercer() -> None:
    descriptor = _coercion.resolve_type_descriptor(int, typer.models.OptionInfo())
    ctx, param = context(multiple=False)
    with pytest.raises(BadParameter):
        DeferredRuntimeParam(descriptor).coerce("seven", param=param, ctx=ctx)


def test_an_option_with_a_parser_is_parsed_even_when_its_text_is_text() -> None:
    info = typer.models.OptionInfo(parser=str.upper)
    descriptor = _coercion.resolve_type_descriptor(str, info)
    ctx, param = context(multiple=False)
    assert DeferredRuntimeParam(descriptor).coerce("abc", param=param, ctx=ctx) == "ABC"
