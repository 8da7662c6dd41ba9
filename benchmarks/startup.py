"""Section 1: CLI start-up, `annex-cdk --help` and `check-setup` versus `import typer`."""

from __future__ import annotations

import sys

from benchmarks import imports
from benchmarks.measure import annex_cdk, base_env, fmt_seconds, median, rotated, run
from benchmarks.table import Row, Section
from benchmarks.world import World

HELP_TARGET = 1.5


def measure(world: World, runs: int) -> Section:
    """`world` must hold a completed setup, so that check-setup passes all its checks."""
    env = {**base_env(), "COLUMNS": "200"}
    cases = {
        "typer": lambda: run([sys.executable, "-c", "import typer"], env=env).check("import typer"),
        "help": lambda: run([annex_cdk(), "--help"], env=env).check("annex-cdk --help"),
        "check": lambda: world.annex("check-setup"),
        "plain": lambda: run([annex_cdk(), "--help"], env={**env, "TYPER_USE_RICH": "0"}).check(
            "TYPER_USE_RICH=0 annex-cdk --help"
        ),
    }
    for case in cases.values():  # warm the page cache and __pycache__: not timed
        case()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for rep in range(runs):
        for name in rotated(list(cases), rep):
            samples[name].append(cases[name]().seconds)
    typer_s, help_s, check_s, plain_s = (
        median(samples[n]) for n in ("typer", "help", "check", "plain")
    )

    help_imports = world.python("-X", "importtime", "-m", "annex_cdk", "--help")
    help_imports.check("python -X importtime -m annex_cdk --help")
    check_imports = world.python("-X", "importtime", "-m", "annex_cdk", "check-setup")
    check_imports.check("python -X importtime -m annex_cdk check-setup")
    bad_help = imports.forbidden(help_imports.stderr)
    bad_check = imports.forbidden(check_imports.stderr)

    section = Section("1. CLI start-up")
    help_ratio = help_s / typer_s
    section.rows += [
        Row(
            "1a",
            "`annex-cdk --help`",
            fmt_seconds(help_s),
            runs,
            '`python -c "import typer"`',
            fmt_seconds(typer_s),
            f"{help_ratio:.2f}x (help ÷ typer)",
            f"≤ {HELP_TARGET}x",
            help_ratio <= HELP_TARGET,
        ),
        Row(
            "1a*",
            "what-if: `TYPER_USE_RICH=0 annex-cdk --help` (typer's plain help, no rich)",
            fmt_seconds(plain_s),
            runs,
            '`python -c "import typer"`',
            fmt_seconds(typer_s),
            f"{plain_s / typer_s:.2f}x (help ÷ typer)",
            f"≤ {HELP_TARGET}x",
            plain_s / typer_s <= HELP_TARGET,
            what_if=True,
        ),
        Row(
            "1b",
            "`annex-cdk check-setup` (emulator, after setup)",
            fmt_seconds(check_s),
            runs,
            '`python -c "import typer"`',
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
    ]
    section.notes.append(
        f"check-setup includes one HTCondor subprocess (the config parser) and the AWS calls to "
        f"the emulator; its main process imported {len(imports.modules(check_imports.stderr))} "
        f"modules ({imports.total_ms(check_imports.stderr):.0f} ms of imports), --help "
        f"{len(imports.modules(help_imports.stderr))} ({imports.total_ms(help_imports.stderr):.0f} ms)."
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
            "So about half of the excess is typer's rich help (`typer.rich_utils`, which imports "
            "`rich.markdown`/`markdown_it`, `rich.traceback`, and then renders panels), and most "
            "of the rest is `annex_cdk.console` creating its rich `Console` at import and "
            "`annex_cdk.commands_condor` importing `annex_stacks` (whose `__init__` imports the "
            "façade and settings) just to read `names`. Row 1a* (typer's own switch for plain "
            "help) shows the first part alone. Making all three lazy or plain (typer "
            "`rich_markup_mode=None`, a `Console` made on first use, PEP 562 lazy exports in "
            "`annex_stacks/__init__.py`) measured 1.3-1.6x `import typer` in interleaved runs "
            "while writing these benchmarks (patched copies of cli/ and annex_stacks/, 15 runs "
            "each, load average 3-4), against 2.7-3.1x as it is.",
        ]
    return section
