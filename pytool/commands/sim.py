"""`pytool sim ...`: simulated boards (issues #3, #4, #5, #11)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from pytool.commands import sim_fault, sim_fs
from pytool.console import emit, err, out, status
from pytool.errors import UsageError
from pytool.sim import registry

sim_app = typer.Typer(help="Simulated boards: ROM bootloader, MicroPython, Bluetooth.", no_args_is_help=True)


def _print_record(record: registry.SimRecord) -> None:
    out.print(f"[bold]{record.name}[/] ({record.board}, pid {record.pid})", highlight=False)
    out.print(f"  port     {record.pty}   (--port sim:{record.name})")
    out.print(f"  rfc2217  {record.rfc2217}")
    out.print(f"  control  {record.control}")
    if record.hci:
        out.print(f"  hci      {record.hci}")
    if record.wifi:
        out.print(
            f"  telnet   {record.wifi['telnet']}  ftp {record.wifi['ftp']} (data port {record.wifi['ftp_data_port']})"
        )
    if record.bt_address:
        out.print(f"  bt       {record.bt_address}   (its Bluetooth address on that radio)")
    out.print(f"  flash    {record.flash}")
    if record.power:
        out.print(f"  power    {record.power}   (switch: GET /1 on, /0 off; labgrid simplerest)")


@sim_app.command()
def start(
    board: str = typer.Option("lopy4", "--board", "-b", help="Board from the catalogue (lopy4, wipy3, esp32, ...)."),
    name: str = typer.Option(None, "--name", "-n", help="Simulator name (default: the board key)."),
    flash: str = typer.Option(None, "--flash", help="Flash image file (default: kept per name in pytool's data)."),
    detach: bool = typer.Option(False, "--detach", "-d", help="Run in the background; return once it is ready."),
    baud_pacing: bool = typer.Option(False, "--baud-pacing", help="Move bytes at the line rate (baud/10 B/s)."),
) -> None:
    """Start a simulated board (foreground until Ctrl-C unless --detach)."""
    from pytool.sim import launch, prepare, probe_sandbox, serve

    config = prepare(board, name, flash, baud_pacing)
    for missing in probe_sandbox():  # a sandbox layer this kernel lacks (docs/security.md): say so, run without it
        status(f"[yellow]warning:[/] simulator sandbox: the kernel lacks {missing}")
    if detach:
        record = launch(config)
        emit(record.to_json(), lambda: _print_record(record))
        return

    def ready(record: registry.SimRecord) -> None:
        emit(record.to_json(), lambda: _print_record(record))
        status("[dim]Running; press Ctrl-C to stop.[/]")

    import asyncio

    asyncio.run(serve(config, on_ready=ready))
    status(f"Simulator {config.name} stopped.")


@sim_app.command("list")
def list_() -> None:
    """List running simulated boards."""
    records = registry.running()

    def human() -> None:
        if not records:
            out.print("No simulators running.")
            return
        from rich.table import Table  # not at the top: start-up

        table = Table("name", "board", "port", "rfc2217", "hci", "telnet", box=None, header_style="bold")
        for r in records:
            telnet = (r.wifi or {}).get("telnet") or "-"
            table.add_row(r.name, r.board, r.pty or "(unplugged)", r.rfc2217 or "-", r.hci or "-", telnet)
        out.print(table)

    emit([r.to_json() for r in records], human)


@sim_app.command()
def stop(
    name: str = typer.Argument(None, help="Simulator to stop."),
    all_: bool = typer.Option(False, "--all", help="Stop every running simulator."),
) -> None:
    """Stop a running simulated board (its flash image is kept)."""
    from pytool.sim import stop as stop_sim

    if all_:
        records = registry.running()
    elif name:
        records = [registry.find(name)]
    else:
        raise UsageError("say which simulator to stop", "pass its NAME or --all (see `pytool sim list`)")
    for record in records:
        stop_sim(record)
    emit({"stopped": [r.name for r in records]}, lambda: err.print(f"Stopped {', '.join(r.name for r in records)}."))


@sim_app.command()
def reset(
    name: str = typer.Argument(..., help="Simulator to reset."),
    bootloader: bool = typer.Option(False, "--bootloader", help="Hold IO0 low: enter the ROM download mode."),
    safe_boot: bool = typer.Option(False, "--safe-boot", help="Hold P12 high: skip boot.py and main.py once."),
) -> None:
    """Press a simulated board's reset button (optionally into the ROM bootloader or Pycom's safe boot)."""
    from pytool.sim import SimControl

    if bootloader and safe_boot:
        raise UsageError("--bootloader and --safe-boot exclude each other", "choose one")
    record = registry.find(name)
    state = SimControl(record.control).reset(bootloader=bootloader, safe_boot=safe_boot)
    emit(state, lambda: err.print(f"{name}: reset, now {state['mode']} ({state['boot_reason']})"))


@sim_app.command("export")
def export(
    names: list[str] = typer.Argument(None, help="Simulators to export (default: every running one)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the YAML here (default: stdout)."),
    exporter_name: str = typer.Option("pytool-sims", "--exporter-name", help="The labgrid exporter's --name."),
    power: bool = typer.Option(
        False, "--power", help="Export each simulator's power switch too: the place resets by power cycles."
    ),
) -> None:
    """Write labgrid exporter YAML for running simulators: their RFC2217 port and HCI radio (docs/farm.md)."""
    from pytool.farm.exporter import exporter_yaml

    records = [registry.find(n) for n in names] if names else registry.running()
    if not records:
        raise UsageError("no simulator is running", "start one with `pytool sim start --detach`")
    text = exporter_yaml(records, exporter_name, power)
    if output is not None:
        try:
            output.write_text(text)
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror}", "choose a file in an existing folder") from None
        emit({"path": str(output), "simulators": [r.name for r in records]}, lambda: err.print(f"Wrote {output}."))
    else:
        emit({"simulators": [r.name for r in records], "yaml": text}, lambda: sys.stdout.write(text))


sim_fs.register(sim_app)
sim_fault.register(sim_app)


def register(app: typer.Typer) -> None:
    app.add_typer(sim_app, name="sim", rich_help_panel="Simulator")
