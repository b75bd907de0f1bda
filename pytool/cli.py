"""The `pytool` command line: parses, prints, calls. Commands live in pytool/commands/, one module per group.

Global options (`--port/-p`, `--json`, `--debug`) are accepted anywhere before a `--`, so
`pytool --port P --json sync .` and `pytool sync . --port P --json` mean the same. They are parsed into one
`CommandLine` that travels to the commands as typer's `ctx.obj` (the port is resolved there, with the
environment and pytool.toml, by `pytool.ports.resolve_target`); `--json`/`--debug` also set the output mode of
`pytool.console`. Every error ends in one red line and exit code 1 (failure) or 2 (usage); `--debug` shows the
traceback.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import typer

from pytool.console import escape

try:  # typer >= 0.22 vendors click; older typer uses the click package
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click

from pytool import __version__, port_lock
from pytool.chain import SESSION_COMMANDS, SessionPool
from pytool.chain import split as split_chain
from pytool.commands import board, chip, demo, devices, files, firmware, flash, sim, sync, test, watch
from pytool.console import err, flush_collected, options
from pytool.errors import Interrupted, PytoolError
from pytool.farm import command_scope as farm_command_scope


@dataclass(frozen=True)
class CommandLine:
    """The global options of one run, as given (the port is resolved later, by the command that needs it)."""

    port: str | None = None
    ports: tuple[str, ...] = ()  # every --port given, in order (several only for `deploy --all` / `test --all`)
    json: bool = False
    debug: bool = False
    sessions: SessionPool | None = None  # the board session a `+` chain shares (pytool/chain.py)


app = typer.Typer(
    name="pytool",
    help="Flash, sync and over-the-air test Pycom and ESP32 MicroPython boards (real or simulated). "
    "Commands chain on one connection with +: `pytool ls + exec 'print(1)' + reset`.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pytool {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    port: str = typer.Option(
        None,
        "--port",
        "-p",
        metavar="PORT",
        help="Device path, pyserial URL (rfc2217://, socket://), sim:NAME or labgrid:PLACE. "
        "Env: PYTOOL_PORT. Default: the single attached board.",
    ),
    lg_coordinator: str = typer.Option(
        None, "--lg-coordinator", metavar="HOST:PORT", help="labgrid coordinator (labgrid:PLACE). Env: LG_COORDINATOR."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print machine-readable JSON on stdout."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and protocol detail."),
    wait: float = typer.Option(
        None, "--wait", metavar="SECONDS", help="Wait this long for a port another pytool holds (default: refuse)."
    ),
    user: str = typer.Option(None, "--user", help="telnet:// login (default micro). Env: PYTOOL_USER."),
    password: str = typer.Option(
        None, "--password", help="telnet:// password (default python; never printed). Env: PYTOOL_PASSWORD."
    ),
) -> None:
    """Global options; accepted before or after the command (they are taken out of argv by `main`)."""


for _module in (devices, flash, chip, firmware, sync, watch, board, files, test, sim, demo):
    _module.register(app)

_VALUE_OPTIONS = {"--port", "-p"}
#: Global options that act through an environment variable for this run and the processes it starts (the pytest
#: run of `pytool test` included): option -> (variable, check of the value, what the value is).
_ENV_OPTIONS: dict[str, tuple[str, Callable[[str], str], str]] = {
    "--wait": (port_lock.WAIT_ENV, lambda v: str(max(0.0, float(v))), "a number of seconds"),
    "--user": ("PYTOOL_USER", str, "the telnet:// login"),  # pytool/transports
    "--password": ("PYTOOL_PASSWORD", str, "the telnet:// password"),
    "--lg-coordinator": ("LG_COORDINATOR", str, "HOST:PORT of the labgrid coordinator"),  # pytool/farm
}
_FLAG_OPTIONS = {"--json": "json", "--debug": "debug"}


def split_global_options(argv: list[str]) -> tuple[CommandLine, list[str]]:
    """Take the global options out of `argv` (anywhere before `--`): (the options, the remaining argv)."""
    rest: list[str] = []
    found: dict[str, object] = {}
    ports: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in _FLAG_OPTIONS:
            found[_FLAG_OPTIONS[arg]] = True
        elif arg in _VALUE_OPTIONS:
            if i + 1 >= len(argv):
                raise click.exceptions.UsageError(f"option {arg} needs a value (a device path, URL or sim:NAME)")
            ports.append(argv[i + 1])
            i += 1
        elif arg.split("=", 1)[0] in _ENV_OPTIONS:
            name = arg.split("=", 1)[0]
            variable, check, what = _ENV_OPTIONS[name]
            if "=" not in arg and i + 1 >= len(argv):
                raise click.exceptions.UsageError(f"option {name} needs a value ({what})")
            value = arg.split("=", 1)[1] if "=" in arg else argv[i + 1]
            i += 0 if "=" in arg else 1
            try:
                os.environ[variable] = check(value)
            except ValueError:
                raise click.exceptions.UsageError(f"{name} needs {what}, not {value!r}") from None
        elif arg.startswith("--port="):
            ports.append(arg.split("=", 1)[1])
        elif arg.startswith("-p") and len(arg) > 2 and not arg.startswith("--"):
            ports.append(arg[2:])
        else:
            rest.append(arg)
        i += 1
    if ports:
        found["port"], found["ports"] = ports[-1], tuple(dict.fromkeys(ports))
    return CommandLine(**found), rest  # type: ignore[arg-type]


def _app_for(args: list[str]) -> typer.Typer:
    """The app to parse `args` with: when they name a plain top-level command, the app with that command alone
    (typer turns every registered function into a click command first: ~40 of them, a tenth of a no-change
    sync's CPU); otherwise (help, a group, a typo, a chain) the whole app."""
    name = args[0] if args else None
    found = [
        info
        for info in app.registered_commands
        if (info.name or typer.main.get_command_name(info.callback.__name__)) == name  # type: ignore[union-attr]
    ]
    if len(found) != 1:
        return app
    single = copy.copy(app)  # the same settings and root callback (global options), one command
    single.registered_commands, single.registered_groups = found, []
    return single


def _fail(message: str, code: int, details: tuple[str, ...] = ()) -> int:
    for line in details:
        err.print(escape(line), markup=True, highlight=False, soft_wrap=True)
    err.print(f"[bold red]Error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    if options.json:
        doc = {"ok": False, "error": message, "exit_code": code} | ({"details": list(details)} if details else {})
        if options.collected is not None:  # a failed `+` chain: one list, ending with the failure
            flush_collected(doc)
        else:
            sys.stdout.write(json.dumps(doc) + "\n")
    return code


def run(argv: list[str]) -> int:
    """Run the CLI on `argv` and return the exit code (never raises, never prints a traceback unless --debug)."""
    before = {variable: os.environ.get(variable) for variable, _, _ in _ENV_OPTIONS.values()}
    try:
        return _run(argv)
    finally:  # these options are for this run (and its children) only, also when the CLI runs in-process
        for variable, value in before.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


def _run(argv: list[str]) -> int:
    try:
        line, rest = split_global_options(argv)
        options.json, options.debug, options.collected = line.json, line.debug, None
        chain = split_chain(rest)
        command = typer.main.get_command(_app_for(chain[0] if len(chain) == 1 else []))
        with farm_command_scope():  # labgrid places acquired by the command are released at its end
            if len(chain) == 1:
                result = command.main(args=rest, prog_name="pytool", standalone_mode=False, obj=line)
                return result if isinstance(result, int) else 0
            return _run_chain(command, chain, line)
    except Interrupted as exc:
        err.print(f"[yellow]Interrupted:[/] {escape(str(exc))}", soft_wrap=True)
        if options.json:
            doc = {"ok": False, "interrupted": True, "error": str(exc), "exit_code": exc.exit_code}
            if options.collected is not None:
                flush_collected(doc)
            else:
                sys.stdout.write(json.dumps(doc) + "\n")
        return exc.exit_code
    except PytoolError as exc:
        if options.debug:
            traceback.print_exc()
        return _fail(str(exc), exc.exit_code, exc.details)
    except click.exceptions.NoArgsIsHelpError:
        return 2  # `pytool` or `pytool GROUP` alone: the help text has been printed
    except click.exceptions.UsageError as exc:
        where = (
            f"pytool {exc.ctx.command_path.split(' ', 1)[1]} --help"
            if exc.ctx and " " in exc.ctx.command_path
            else "pytool --help"
        )
        return _fail(f"{exc.format_message()} (see `{where}`)", 2)
    except click.exceptions.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err.print("[yellow]Interrupted.[/]")
        return 130
    except Exception as exc:  # a bug: still one line, unless --debug
        if options.debug:
            traceback.print_exc()
            return 1
        return _fail(f"unexpected {type(exc).__name__}: {exc} (run again with --debug for the traceback)", 1)


def _run_chain(command: click.Command, chain: list[list[str]], line: CommandLine) -> int:
    """`pytool A + B + C`: each command in turn on one board session; stops at the first that fails."""
    if not all(chain):
        raise click.exceptions.UsageError("a `+` needs a command on each side, e.g. `pytool ls + reset`")
    pool = SessionPool()
    line = dataclasses.replace(line, sessions=pool)
    options.collected = [] if options.json else None  # --json: one list of the commands' results
    code = 0
    try:
        for args in chain:
            if args[0] not in SESSION_COMMANDS:
                pool.release()  # this command opens the port its own way
            result = command.main(args=args, prog_name="pytool", standalone_mode=False, obj=line)
            if isinstance(result, int) and result:
                code = result
                break
    finally:
        pool.release()
    flush_collected()  # (an exception leaves the list to the error handler, which ends it with the failure)
    return code


def main() -> None:
    """Console-script entry point."""
    sys.exit(run(sys.argv[1:]))
