"""The `annex-cdk` command line: the Typer app, its commands, and main() with the error mapping.

The commands live by group in deploy.py (setup, diff, synth), checks.py (check-setup,
write-config), destroy.py, tools.py (policy, emulator, rehearse) and condor.py; options.py
defines the options they share. Nothing here imports aws_cdk at module level: `--help`,
`check-setup` and `write-config` must not start jsii.
"""

from __future__ import annotations

import io
import itertools
import os
import signal
import sys
from types import FrameType
from typing import Annotated, Any

import typer

from annex_cdk import console
from annex_cdk.commands import (
    checks,
    condor,
    deferred_coercion,
    deploy,
    destroy,
    failure,
    guardrail,
    lazy_group,
    org,
    tools,
    unlock,
)
from annex_cdk.commands.leave import leave
from annex_cdk.errors import EXIT_INTERRUPTED, EXIT_USAGE, AnnexError, UsageError
from annex_cdk.text import printable_lines

deferred_coercion.install()  # --help and completion must not import pydantic

#: Every command and command group: Click builds one when it runs, is completed or shows its help.
commands = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False)

app = typer.Typer(
    cls=lazy_group.lazy_group(commands),
    name="annex-cdk",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: rich help rendering costs --help ~110 ms of imports
    # main() turns errors into one line; --debug re-raises them as plain tracebacks. Typer's
    # rich tracebacks would cost every start-up an import, and their locals can hold secrets.
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Prepare an AWS account and the local HTCondor for condor_annex, as infrastructure-as-code.",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.result(f"annex-cdk {version('annex-cdk')}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="ANNEX_CDK_DEBUG", help="Show tracebacks on errors.")
    ] = False,
) -> None:
    failure.error_policy(ctx).debug = debug


# In the order --help lists them.
commands.command()(deploy.setup)
commands.command()(deploy.diff)
commands.command("check-setup")(checks.check_setup)
commands.command("write-config")(checks.write_config)
commands.command()(deploy.synth)
commands.command()(destroy.destroy)
commands.command()(unlock.unlock)
commands.command()(guardrail.spend)
commands.command()(guardrail.heartbeat)
commands.command()(tools.policy)
commands.command()(tools.emulator)
commands.command()(tools.rehearse)
condor.register(commands)
org.register(commands)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _option_taken_as_value(args: list[str]) -> None:
    """`--key-name --json`: Click would take `--json` as the key's name. An option that
    needs a value followed by one of annex-cdk's own options is a usage error instead."""
    pairs = [(a, b) for a, b in itertools.pairwise(args) if a.startswith("-") and b.startswith("-")]
    if not pairs:
        return  # no option followed by an option: no need to build Click's command tree
    known: set[str] = set()
    takes_value: set[str] = set()
    commands: list[Any] = [typer.main.get_command(app)]
    while commands:
        command = commands.pop()
        commands.extend(getattr(command, "commands", {}).values())
        for param in command.params:
            if param.param_type_name == "option":
                known.update(param.opts, param.secondary_opts)
                if not param.is_flag and not param.count:
                    takes_value.update(param.opts)
    for option, value in itertools.pairwise(args):
        if option == "--":
            return
        if option in takes_value and value in known:
            raise UsageError(
                f"{option} needs a value, but is followed by the option {value}",
                hint=f"give {option} a value: {option} VALUE",
            )


def _stdout_closed() -> bool:
    """Started with stdout closed (`>&-`): Python then has no sys.stdout at all. Results
    cannot be delivered, so the run stops before it changes anything."""
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process
    return sys.stdout is None


def run() -> None:
    """The `annex-cdk` command (and `python -m annex_cdk`): `main`, then the process leaves
    without the interpreter's teardown (`leave`)."""
    try:
        main()
    except SystemExit as stop:
        leave(stop.code)


def main() -> None:
    """Expected failures become one line on stderr and an exit code (SystemExit, always)."""
    if _stdout_closed():
        sys.stderr.write("annex-cdk: standard output is closed; nothing was done\n")
        sys.exit(EXIT_USAGE)
    args = failure.argv()
    # --json read from argv as well as by its option's callback: a usage error stops Click
    # before any callback runs, and that error too must be the JSON document asked for.
    policy = failure.ErrorPolicy(
        json="--json" in args[: args.index("--")] if "--" in args else "--json" in args
    )
    command = failure.command_name(args)
    # CI cancellation and `timeout` send TERM, a closed terminal HUP: both must unwind like
    # Ctrl-C, so that the SSM lock is released and files are left whole.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        _option_taken_as_value(args)
        code = app(standalone_mode=False, obj=policy)
    except AnnexError as err:
        if policy.debug:
            failure.show_traceback(err)
        failure.report(
            message=str(err),
            exit_code=policy.exit_code(err.exit_code),
            hint=err.hint,
            kind=type(err).__name__,
            json=policy.json,
        )
        sys.exit(policy.exit_code(err.exit_code))
    except typer.TyperException as err:  # usage errors: Typer's own message, exit 2
        if policy.json:
            failure.report(
                message=err.format_message(),
                exit_code=policy.exit_code(err.exit_code),
                hint=f"annex-cdk {command} --help",
                kind="usage",
                json=True,
            )
            sys.exit(policy.exit_code(err.exit_code))
        show = getattr(err, "show", None)  # usage errors (click's) show themselves
        if show is not None:
            shown = io.StringIO()  # through the same filter as every line (a URL's password)
            show(file=shown)
            sys.stderr.write(printable_lines(shown.getvalue()))
        else:
            console.err_console().print(f"Error: {console.escape(err.format_message())}")
        sys.exit(policy.exit_code(err.exit_code))
    except (KeyboardInterrupt, typer.Abort):
        failure.report(
            message="interrupted",
            exit_code=EXIT_INTERRUPTED,
            hint=None,
            kind="Interrupted",
            json=policy.json,
        )
        sys.exit(EXIT_INTERRUPTED)
    except Exception as err:  # the unexpected: one line (and the traceback with --debug)
        if policy.debug:
            failure.show_traceback(err)
        log = failure.log_traceback(command, err)
        failure.report(
            message=failure.unexpected_line(command, err, _one_line(err)),
            exit_code=policy.exit_code(1),
            hint=f"the traceback is in {log}" if log else "re-run with --debug for the traceback",
            kind="unexpected",
            json=policy.json,
            log=log,
        )
        sys.exit(policy.exit_code(1))
    if code == EXIT_INTERRUPTED:  # Typer turned a Ctrl-C outside the engine into Exit(130)
        failure.report(
            message="interrupted; re-run the same command to continue",
            exit_code=EXIT_INTERRUPTED,
            hint=None,
            kind="Interrupted",
            json=policy.json,
        )
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(err: BaseException) -> str:
    from botocore.exceptions import ClientError  # only on this path: botocore is heavy

    if isinstance(err, ClientError):
        e = err.response.get("Error", {})
        return f"AWS {err.operation_name}: {e.get('Code')}: {e.get('Message')}"
    text = str(err).strip().splitlines()
    return f"{err.__class__.__name__}: {text[0] if text else ''}"


if __name__ == "__main__":
    run()
