"""`pytool sim fault ...`: inject faults into a running simulated board (issue #11; logic in pytool.sim.faults)."""

from __future__ import annotations

import json

import typer

from pytool.commands.common import port_option
from pytool.console import emit, out
from pytool.errors import UsageError
from pytool.ports import choose_port
from pytool.sim import FAULTS, registry

_HELP = "Faults: " + "; ".join(f"{name} ({', '.join(params) or 'no parameters'})" for name, params in FAULTS.items())


def _simulator(name: str | None, port: str | None) -> registry.SimRecord:
    """--sim NAME, else --port sim:NAME, else the only running simulator."""
    if name is None and port and port.startswith("sim:"):
        name = port.removeprefix("sim:")
    if name is not None:
        return registry.find(name)
    records = registry.running()
    if len(records) != 1:
        raise UsageError(
            "which simulator?" if records else "no simulator is running",
            "pass --sim NAME (see `pytool sim list`)" if records else "start one with `pytool sim start --detach`",
        )
    return records[0]


def parse_params(pairs: list[str]) -> dict[str, object]:
    """KEY=VALUE arguments; values are JSON where they parse (numbers, true/false), else strings."""
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"fault parameter '{pair}' is not KEY=VALUE", "e.g. after_bytes=1000 or rate=0.01")
        try:
            params[key.replace("-", "_")] = json.loads(value)
        except ValueError:
            params[key.replace("-", "_")] = value
    return params


def fault(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="Fault to arm or clear (none: list the armed faults)."),
    params: list[str] = typer.Argument(None, help="Its parameters as KEY=VALUE (e.g. after_bytes=1000)."),
    sim: str = typer.Option(None, "--sim", "-s", help="Simulator (default: --port sim:NAME or the only one)."),
    repeat: bool = typer.Option(False, "--repeat", help="Re-arm after firing (default: one-shot)."),
    clear: bool = typer.Option(False, "--clear", help="Clear fault NAME (every fault without a NAME)."),
) -> None:
    """Inject a fault into a simulated board (one-shot unless --repeat; --clear clears)."""
    from pytool.sim import SimControl, make_fault
    from pytool.sim import describe_faults as describe

    request: dict[str, object] = {"op": "fault"}
    if clear:
        if params:
            raise UsageError("--clear takes no parameters", f"run `pytool sim fault {name or ''} --clear`")
        if name is not None and name not in FAULTS:
            raise UsageError(f"unknown fault '{name}'", f"choose one of: {', '.join(FAULTS)}")
        request |= {"clear": True, "name": name}
    elif name is not None:
        parsed = parse_params(params or [])
        make_fault(name, parsed, repeat)  # check locally: usage errors without a round trip
        request |= {"name": name, "params": parsed, "repeat": repeat}
    record = _simulator(sim, choose_port(port_option(ctx))[0])
    reply = SimControl(record.control).request(request)
    state = {"simulator": record.name, "faults": reply["faults"], "injected": reply["injected"]}
    emit(state, lambda: out.print(f"{record.name}: {describe(state)}"))


fault.__doc__ = (fault.__doc__ or "") + "\n\n" + _HELP


def register(sim_app: typer.Typer) -> None:
    sim_app.command("fault")(fault)
