"""`pytool deploy` and `pytool test` (issue #9): thin wrappers over pytool.deploy; with `--all`, over
pytool.fleet (every board at once, shown by commands/fleet_view.py)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pytool import fleet
from pytool.commands.common import port_options, target
from pytool.console import emit, err, escape, options, status
from pytool.errors import PytoolError, UsageError

if TYPE_CHECKING:  # pytool.deploy (asyncio, the simulator) is loaded by the commands that need it
    from pytool.config import ProjectConfig
    from pytool.deploy import DeployOptions, DeployResult, Step
    from pytool.ports import Target

_MARK = {"ok": "[green]✓[/]", "done": "[green]✓[/]", "warning": "[yellow]![/]", "skipped": "[dim]-[/]"}


def _print_step(step: Step) -> None:
    fleet.report("step", name=step.name, status=step.status, detail=step.detail, seconds=step.seconds)
    detail = escape(step.detail)  # "no [ble] name": text, not markup
    status(f"  {_MARK.get(step.status, '?')} {step.name:<10} {detail}  [dim]{step.seconds:.1f} s[/]")


def _deploy(directory: Path, board: Target, deploy_options: DeployOptions) -> DeployResult:
    from pytool import deploy as deploy_mod

    status(f"[bold]Deploying[/] {directory.resolve()} to {board.spec}")
    fleet.report("phase", name=fleet.DEPLOY_STEPS[0])
    result = deploy_mod.deploy(directory, board, options=deploy_options, on_step=_print_step)
    fleet.report("deploy", address=result.address)
    return result


ALL_HELP = (
    "Every board at once: each --port given, else --places, else the boards list of pytool.toml, else every attached "
    "board and simulator. Logs per board in DIR/.pytool/fleet (or --logs)."
)
PLACES_HELP = "With --all: the labgrid places matching this pattern (e.g. 'bench-*'), on --lg-coordinator."
LOGS_HELP = "With --all: folder for the per-board logs (default: DIR/.pytool/fleet)."


def _fleet(
    ctx: typer.Context, command: str, cfg: ProjectConfig, places: str | None, logs: Path | None, args: list[str]
) -> int:
    from pytool.commands.fleet_view import run_and_show

    boards = fleet.select_boards(port_options(ctx), cfg, places)
    return run_and_show(command, cfg.root, boards, args, logs)


def _only_with_all(all_boards: bool, **given: object) -> None:
    for name, value in given.items():
        if value and not all_boards:
            raise UsageError(f"--{name} goes with --all", f"add --all, or leave out --{name}")


def deploy(
    ctx: typer.Context,
    directory: Path = typer.Argument(Path("."), help="Project folder (with pytool.toml)."),
    firmware: str = typer.Option(None, "--firmware", help="Archive or version to flash if the board differs."),
    no_flash: bool = typer.Option(False, "--no-flash", help="Never flash; fail if the firmware differs."),
    no_check: bool = typer.Option(False, "--no-check", help="Deploy even if `pytool check` finds errors."),
    no_advertise: bool = typer.Option(False, "--no-advertise", help="Do not wait for the board to advertise."),
    all_boards: bool = typer.Option(False, "--all", help=ALL_HELP),
    places: str = typer.Option(None, "--places", metavar="GLOB", help=PLACES_HELP),
    logs: Path = typer.Option(None, "--logs", metavar="DIR", help=LOGS_HELP),
) -> int:
    """Flash if needed, check, sync, reset and wait until the board advertises (--all: on every board at once)."""
    from pytool import config as project_config
    from pytool.deploy import DeployOptions

    _only_with_all(all_boards, places=places, logs=logs)
    if all_boards:
        flags = {"--no-flash": no_flash, "--no-check": no_check, "--no-advertise": no_advertise}
        args = [*(["--firmware", firmware] if firmware else []), *(flag for flag, on in flags.items() if on)]
        return _fleet(ctx, "deploy", project_config.load(directory), places, logs, args)
    opts = DeployOptions(firmware=firmware, flash=not no_flash, check=not no_check, advertise=not no_advertise)
    result = _deploy(directory, target(ctx, project_config.load(directory)), opts)
    emit(result.to_json(), lambda: status(f"[bold green]Deployed[/] to {result.port}."))
    return 0


def _project_and_pytest_args(directory: Path, pytest_args: list[str]) -> tuple[Path, list[str]]:
    """`pytool test -- -k read` (no folder): click hands `-k` over as the folder. A "folder" that starts with "-",
    or names a test (`x.py`, `x.py::t`) that is not a folder, is pytest's: the project is the current folder."""
    name = str(directory)
    if name.startswith("-") or (not directory.is_dir() and ("::" in name or name.endswith(".py"))):
        return Path("."), [name, *pytest_args]
    return directory, pytest_args


def test(
    ctx: typer.Context,
    directory: Path = typer.Argument(Path("."), help="Project folder (with pytool.toml and tests/hil)."),
    pytest_args: list[str] = typer.Argument(None, help="Arguments for pytest, after `--` (e.g. -- -k read -x)."),
    sim: bool = typer.Option(False, "--sim", help="Run on a throwaway simulated board (board from pytool.toml)."),
    no_deploy: bool = typer.Option(False, "--no-deploy", help="Test what is on the board; do not deploy first."),
    firmware: str = typer.Option(None, "--firmware", help="Archive or version to flash if the board differs."),
    no_check: bool = typer.Option(False, "--no-check", help="Deploy even if `pytool check` finds errors."),
    junit: Path = typer.Option(None, "--junit", help="JUnit XML report (default: DIR/.pytool/results/junit.xml)."),
    all_boards: bool = typer.Option(False, "--all", help=ALL_HELP),
    places: str = typer.Option(None, "--places", metavar="GLOB", help=PLACES_HELP),
    logs: Path = typer.Option(None, "--logs", metavar="DIR", help=LOGS_HELP),
) -> int:
    """Deploy and run the project's over-the-air tests (tests/hil) against the board; pytest's exit code.
    With --all: on every board at once; the worst board's exit code."""
    from pytool import config as project_config
    from pytool import deploy as deploy_mod

    directory, pytest_args = _project_and_pytest_args(directory, pytest_args or [])
    _only_with_all(all_boards, places=places, logs=logs)
    cfg = project_config.load(directory)
    deploy_mod.tests_dir(cfg.root)
    plays_parts = len(cfg.boards) > 1 and any(entry.project for entry in cfg.boards)
    if all_boards:
        if plays_parts:
            raise UsageError(
                "this project's [[boards]] play different parts (each its own project): its tests need them together",
                f"run `pytool test {directory}` (one run with every board); --all tests boards that run one project",
            )
        if sim or junit:
            raise UsageError(
                f"{'--sim' if sim else '--junit'} does not go with --all",
                "--all tests the boards given (each board's JUnit report is in its log folder)",
            )
        flags = {"--no-deploy": no_deploy, "--no-check": no_check}
        args = [*(["--firmware", firmware] if firmware else []), *(flag for flag, on in flags.items() if on)]
        return _fleet(ctx, "test", cfg, places, logs, [*args, "--", *(pytest_args or ())])
    if plays_parts:
        return _test_roles(ctx, cfg, sim, no_deploy, junit, pytest_args)
    with contextlib.ExitStack() as stack:
        if sim:
            from dataclasses import replace

            from pytool.ports import resolve_port

            board = cfg.board or "lopy4"
            status(f"[bold]Starting[/] a throwaway simulated {board}")
            board_target = replace(resolve_port(stack.enter_context(deploy_mod.throwaway_sim(board))), source="--sim")
        else:
            board_target = target(ctx, cfg)
        result = None
        if not no_deploy:
            opts = deploy_mod.DeployOptions(firmware=firmware, check=not no_check)
            result = _deploy(cfg.root, board_target, opts)
        status(f"[bold]Testing[/] {deploy_mod.tests_dir(cfg.root)} over the air")
        fleet.report("phase", name="tests")
        with fleet.not_inherited():
            run = deploy_mod.run_tests(
                cfg.root, board_target, junit, pytest_args or (), stdout=sys.stderr.fileno() if options.json else None
            )
    if run.exit_code < 0:  # pytest itself died (killed, crashed): one line, not a negative exit code
        import signal

        raise PytoolError(
            f"the over-the-air test run (pytest) was killed by {signal.Signals(-run.exit_code).name}",
            f"the per-test logs in {run.logs} show the tests that ended before it died",
        )
    emit(
        {"ok": run.exit_code == 0, "deploy": result.to_json() if result else None, "tests": run.to_json()},
        lambda: err.print(f"JUnit report: {run.junit}; per-test logs: {run.logs}"),
    )
    return run.exit_code


def _test_roles(
    ctx: typer.Context, cfg: ProjectConfig, sim: bool, no_deploy: bool, junit: Path | None, pytest_args: list[str]
) -> int:
    """A project whose [[boards]] play different parts (each its own project folder, e.g. a GATT server and a
    client): one pytest run with every board (the plugin's `boards[ROLE]`), each board's port from its table,
    else the --port values in the order of the list, else (--sim) a throwaway simulator per board on one radio."""
    from pytool import deploy as deploy_mod
    from pytool.ports import resolve_port

    roles = [entry.role or f"board{i}" for i, entry in enumerate(cfg.boards)]
    given = iter(port_options(ctx))
    with contextlib.ExitStack() as stack:
        ports = []
        for role, entry in zip(roles, cfg.boards, strict=True):
            port = entry.port or next(given, None)
            if port is None and sim:
                port = stack.enter_context(deploy_mod.throwaway_sim(cfg.board or "lopy4", role))
            if port is None:
                raise UsageError(
                    f"the board '{role}' of this project's [[boards]] ({', '.join(roles)}) has no port",
                    "give one --port per board in that order, a port in its [[boards]] table, or --sim",
                )
            ports.append((role, port))
        status(
            f"[bold]Testing[/] {deploy_mod.tests_dir(cfg.root)} over the air on "
            + ", ".join(f"{role} ({escape(port)})" for role, port in ports)
        )
        run = deploy_mod.run_tests(
            cfg.root,
            resolve_port(ports[0][1]),
            junit,
            [*(["--no-deploy"] if no_deploy else []), *pytest_args],
            stdout=sys.stderr.fileno() if options.json else None,
            roles=ports,
        )
    emit(
        {"ok": run.exit_code == 0, "boards": dict(ports), "tests": run.to_json()},
        lambda: err.print(f"JUnit report: {run.junit}; per-test logs: {run.logs}"),
    )
    return run.exit_code


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Project")(deploy)
    app.command(rich_help_panel="Project")(test)
