"""What `deploy --all` / `test --all` show: one live line per board while they run, a summary table, or JSON.

The runner itself is pytool/fleet.py; this module only presents it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from pytool import fleet
from pytool.console import emit, err, escape, options, status

_STYLE = {"ok": "green", "failed": "red", "running": "cyan"}


def _style(run: fleet.BoardRun) -> str:
    return _STYLE.get(run.status, "red")


def _live_table(runs: list[fleet.BoardRun], spinners: dict[str, Spinner]) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=2, no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(no_wrap=True, justify="right")
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis", style="dim")
    for run in runs:
        mark = spinners[run.board.port] if run.running else Text("✓" if run.exit_code == 0 else "✗", _style(run))
        phase = Text(run.phase, _style(run))
        grid.add_row(mark, run.board.label, phase, f"{run.duration:.0f} s", Text(run.last_line()))
    return grid


class _Progress:
    """The live view: a rich Live grid on a terminal; elsewhere (CI logs) one line per board per phase change."""

    def __init__(self) -> None:
        self.live = None
        self.spinners: dict[str, Spinner] = {}
        self.seen: dict[str, str] = {}

    def __enter__(self) -> _Progress:
        return self

    def tick(self, runs: list[fleet.BoardRun]) -> None:
        if options.json:
            return
        if err.is_terminal:
            from rich.live import Live

            if self.live is None:
                self.spinners = {run.board.port: Spinner("dots") for run in runs}
                self.live = Live(console=err.console, refresh_per_second=4, transient=False)
                self.live.start()
            self.live.update(_live_table(runs, self.spinners))
            return
        for run in runs:
            if self.seen.get(run.board.port) != run.phase:
                self.seen[run.board.port] = run.phase
                phase = f"[{_style(run)}]{escape(run.phase)}[/]"
                status(f"  {escape(run.board.label)}: {phase} [dim]{run.duration:.0f} s[/]")

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()


def _tests_text(counts: dict[str, int] | None) -> str:
    if counts is None:
        return "-"
    return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "no tests"


def _summary(runs: list[fleet.BoardRun], logs: Path) -> None:
    table = Table(title="Summary", title_justify="left", show_edge=False, pad_edge=False)
    for column in ("board", "address", "status", "steps", "tests", "time"):
        table.add_column(column, no_wrap=column in ("address", "time"))
    table.add_column("log", overflow="fold")
    for run in runs:
        steps = " ".join(f"{step['name']}:{step['status']}" for step in run.steps) or "-"
        state = Text(run.status, _style(run))
        if run.error():
            state.append(f"\n{run.error()}", "red")
        table.add_row(
            run.board.label,
            run.address or "-",
            state,
            steps,
            _tests_text(run.tests()),
            f"{run.duration:.1f} s",
            str(run.log.relative_to(Path.cwd()) if run.log.is_relative_to(Path.cwd()) else run.log),
        )
    err.print(table)
    failed = [run.board.label for run in runs if run.exit_code != 0]
    if failed:
        err.print(f"[bold red]{len(failed)} of {len(runs)} board(s) failed:[/] {escape(', '.join(failed))}")
    else:
        err.print(f"[bold green]All {len(runs)} board(s) ok.[/] Logs: {escape(str(logs))}")


def run_and_show(
    command: str, project: Path, boards: Sequence[fleet.FleetBoard], args: Sequence[str], logs: Path | None
) -> int:
    """Run `command` on every board at once (pytool.fleet), show it, and return the worst board's exit code."""
    logs = (logs or project / ".pytool" / "fleet").resolve()
    verb = "Testing" if command == "test" else "Deploying"
    status(f"[bold]{verb}[/] {escape(str(project))} on {len(boards)} boards at once (logs: {escape(str(logs))})")
    with _Progress() as progress:
        runs = fleet.run_fleet(command, project, boards, args, logs, on_tick=progress.tick)
    code = fleet.worst_exit_code(runs)
    emit(
        {"ok": code == 0, "exit_code": code, "logs": str(logs), "boards": [run.to_json() for run in runs]},
        lambda: _summary(runs, logs),
    )
    return code
