"""Typer coerces option values with pydantic, and importing pydantic costs start-up about
100 ms. Typer builds a parameter's coercer (and so imports pydantic) before it looks at the
value, even when there is none to coerce: every option left out (`--help` itself among them)
paid it, so that `annex-cdk setup --help` and every Tab of shell completion were three times
`import typer`. Here a parameter's coercer is built when a value first needs it; a value that is
None still comes out as Typer's own `RuntimeParam.coerce` makes it (None, or () for a
repeatable option), and every given value is coerced by the coercer Typer would have built.
Shell completion parses resiliently (Click's `resilient_parsing`: no validation, errors
dropped): the values typed before the Tab are left as typed, since nothing runs with them.

`install()` swaps the builder that typer.core calls (typer is pinned: requirements.txt);
tests/unit/test_startup.py fails if `--help` or completion import pydantic again.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import typer.core
from typer import _coercion

#: The value types Typer's adapters return unchanged for an option of that very type (bool:
#: _parse_cli_bool, str: _parse_cli_str, then pydantic's own bool and str), given no parser.
_AS_THEY_ARE = (bool, str)


class DeferredRuntimeParam(_coercion.RuntimeParam):
    """Typer's coercer for one parameter, built on its first value that is not None.

    Not a dataclass of its own: making one (its generated methods) costs start-up half a
    millisecond, and the base's fields and None handling are all it needs."""

    def __init__(self, descriptor: _coercion.TypeDescriptor) -> None:
        super().__init__(descriptor.parameter_info, descriptor.annotation)
        self.descriptor = descriptor  # the frozen base refuses only its own fields
        self.parser = descriptor.parameter_info.parser

    @cached_property
    def built(self) -> _coercion.RuntimeParam:
        return _coercion.build_runtime_param(self.descriptor)

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if ctx.resilient_parsing:
            return value
        if not self.parser:
            # A flag as Click parsed it (its default too), text for a text option, texts for
            # a repeatable one: Typer's adapters return them as they are (the texts as a
            # list), and nearly every run has some (--json, --yes, AWS_ENDPOINT_URL,
            # AWS_REGION): no pydantic for them.
            if type(value) in _AS_THEY_ARE and self.annotation is type(value):
                return value
            if (
                self.annotation == list[str]
                and isinstance(value, list | tuple)
                and all(type(v) is str for v in value)
            ):
                return list(value)
        return self.built._coerce_value(value, param=param, ctx=ctx)


def install() -> None:
    typer.core.build_runtime_param = DeferredRuntimeParam  # type: ignore[attr-defined]  # typer.core's own import of the builder
