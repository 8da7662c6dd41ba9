"""Section 1: CLI start-up, `annex-cdk --help` and `check-setup` versus `import typer`."""

from __future__ import annotations

import sys
from collections.abc import Callable

from benchmarks import imports
from benchmarks.measure import Run, annex_cdk, base_env, fmt_seconds, median, rotated, run
from benchmarks.table import Row, Section
from benchmarks.world import World

HELP_TARGET = 1.5
#: A Tab after `annex-cdk setup --al`, as bash's completion script asks for it: the option
#: names of one command, after a command name.
COMPLETION = {
    "_ANNEX_CDK_COMPLETE": "complete_bash",
    "COMP_WORDS": "annex-cdk setup --al",
    "COMP_CWORD": "2",
}


def rich_help() -> bool:
    """Whether the product renders its help with rich (typer's `rich_markup_mode`)."""
    from annex_cdk.commands.app import app

    return app.rich_markup_mode is not None


def completed(tab: Run) -> Run:
    """The completion run, checked: it offered --allow-from."""
    tab.check("annex-cdk completion")
    if "--allow-from" not in tab.stdout.split():
        raise RuntimeError(f"completion offered no --allow-from: {tab.stdout!r}")
    return tab


def measure(world: World, runs: int) -> Section:
    """`world` must hold a completed setup, so that check-setup passes all its checks."""
    env = {**base_env(), "COLUMNS": "200"}
    what_if = rich_help()
    cases: dict[str, Callable[[], Run]] = {
        "typer": lambda: run([sys.executable, "-c", "import typer"], env=env).check("import typer"),
        "help": lambda: run([annex_cdk(), "--help"], env=env).check("annex-cdk --help"),
        "complete": lambda: completed(run([annex_cdk()], env={**env, **COMPLETION})),
        "check": lambda: world.annex("check-setup"),
    }
    if what_if:  # typer's own switch for plain help: what `rich_markup_mode=None` saves
        plain_env = {**env, "TYPER_USE_RICH": "0"}
        cases["plain"] = lambda: run([annex_cdk(), "--help"], env=plain_env).check(
            "TYPER_USE_RICH=0 annex-cdk --help"
        )
    for case in cases.values():  # warm the page cache and __pycache__: not timed
        case()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for rep in range(runs):
        for name in rotated(list(cases), rep):
            samples[name].append(cases[name]().seconds)
    typer_s, help_s, check_s = (median(samples[n]) for n in ("typer", "help", "check"))
    complete_s = median(samples["complete"])

    help_imports = world.python("-X", "importtime", "-m", "annex_cdk", "--help")
    help_imports.check("python -X importtime -m annex_cdk --help")
    check_imports = world.python("-X", "importtime", "-m", "annex_cdk", "check-setup")
    check_imports.check("python -X importtime -m annex_cdk check-setup")
    bad_help = imports.forbidden(help_imports.stderr)
    bad_check = imports.forbidden(check_imports.stderr)

    section = Section("1. CLI start-up")
    help_ratio = help_s / typer_s
    typer_label = '`python -c "import typer"`'
    section.rows.append(
        Row(
            "1a",
            "`annex-cdk --help`",
            fmt_seconds(help_s),
            runs,
            typer_label,
            fmt_seconds(typer_s),
            f"{help_ratio:.2f}x (help ÷ typer)",
            f"≤ {HELP_TARGET}x",
            help_ratio <= HELP_TARGET,
        )
    )
    if what_if:
        plain_s = median(samples["plain"])
        section.rows.append(
            Row(
                "1a*",
                "what-if: `TYPER_USE_RICH=0 annex-cdk --help` (typer's plain help, no rich)",
                fmt_seconds(plain_s),
                runs,
                typer_label,
                fmt_seconds(typer_s),
                f"{plain_s / typer_s:.2f}x (help ÷ typer)",
                f"≤ {HELP_TARGET}x",
                plain_s / typer_s <= HELP_TARGET,
                what_if=True,
            )
        )
    section.rows += [
        Row(
            "1b",
            "`annex-cdk check-setup` (emulator, after setup)",
            fmt_seconds(check_s),
            runs,
            typer_label,
            fmt_seconds(typer_s),
            f"{check_s / typer_s:.2f}x (check-setup ÷ typer)",
        ),
        Row(
            "1c",
            "modules under aws_cdk/jsii/constructs/cdk_nag imported by --help, check-setup",
            f"{len(bad_help)}, {len(bad_check)}",
            1,
            "`python -X importtime`",
            target="none (never imports aws_cdk)",
            passed=not bad_help and not bad_check,
        ),
        Row(
            "1d",
            "a Tab of shell completion (`annex-cdk setup --al<Tab>`, bash)",
            fmt_seconds(complete_s),
            runs,
            typer_label,
            fmt_seconds(typer_s),
            f"{complete_s / typer_s:.2f}x (completion ÷ typer)",
            f"≤ {HELP_TARGET}x",
            complete_s / typer_s <= HELP_TARGET,
        ),
    ]
    section.notes.append(
        f"`--help` prints {'rich' if what_if else 'plain'} help. check-setup includes one "
        "HTCondor subprocess (the config parser) and its AWS calls to the emulator; its main "
        f"process imported {len(imports.modules(check_imports.stderr))} modules "
        f"({imports.total_ms(check_imports.stderr):.0f} ms of imports), --help "
        f"{len(imports.modules(help_imports.stderr))} "
        f"({imports.total_ms(help_imports.stderr):.0f} ms)."
    )
    if bad_help or bad_check:
        section.notes.append(f"Forbidden imports: --help {bad_help}; check-setup {bad_check}.")
    if help_ratio > HELP_TARGET:
        typer_imports = run([sys.executable, "-X", "importtime", "-c", "import typer"], env=env)
        section.notes += [
            f"`--help` missed its target ({help_ratio:.2f}x `import typer`). Where its imports "
            f"go (`python -X importtime -m annex_cdk --help`, one run, "
            f"{imports.total_ms(help_imports.stderr):.0f} ms of imports in all, against "
            f"{imports.total_ms(typer_imports.stderr):.0f} ms for `import typer`):",
            "\n".join(imports.summary(help_imports.stderr, top=5, depth=3)),
        ]
        if what_if:
            section.notes.append(
                "Typer's rich help (`typer.rich_utils`: `rich.markdown`/`markdown_it`, "
                "`rich.traceback`, then rendering panels) is the largest part; row 1a* shows "
                "plain help. Measured while writing these benchmarks (patched copies, 15-20 "
                "interleaved runs): `rich_markup_mode=None`, a rich `Console` made on first use "
                "and lazy `annex_stacks` exports together gave 1.3-1.6x `import typer`."
            )
    return section
