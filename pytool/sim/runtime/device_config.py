"""The configuration the simulated firmware (firmware/device/_boot.py) boots with: one JSON file per boot.

It says what the board is (flavour, os.uname() fields, the grammar), where its flash is, and which modules of
the simulated firmware exist on that flavour: Pycom's modules only on Pycom firmware, stock MicroPython's
`esp32` only on stock firmware."""

from __future__ import annotations

from typing import Any

from pytool.paths import firmware_dir
from pytool.sim.runtime import heap

#: Modules of firmware/device that only one flavour has (the rest: both).
#: Stock 1.2x has `deflate` instead of uzlib/zlib, and its own `network` (_network_stock.py, installed by _boot.py).
PYCOM_ONLY = frozenset({"pycom", "uzlib", "zlib", "network"})
STOCK_ONLY = frozenset({"esp32", "bluetooth"})


DEEPSLEEP = "DEEPSLEEP_RESET"
#: machine.PWRON_RESET, DEEPSLEEP_RESET, SOFT_RESET: Pycom's modmachine numbering, and stock ESP32's (modmachine.h)
RESET_CAUSES = {True: (0, 3, 4), False: (1, 4, 5)}


def reset_cause(pycom: bool, boots: int, rom_reason: str) -> int:
    """machine.reset_cause() of the next interpreter: SOFT_RESET after a soft reboot, DEEPSLEEP_RESET when the
    board woke from deep sleep, on stock boards HARD_RESET after machine.reset() (ESP_RST_SW), else PWRON_RESET."""
    pwron, deepsleep, soft = RESET_CAUSES[pycom]
    if boots:
        return soft
    if not pycom and "SW_CPU_RESET" in rom_reason:
        return 2  # modmachine.c: ESP_RST_SW -> MP_HARD_RESET
    return deepsleep if DEEPSLEEP in rom_reason else pwron


def stock_machine(banner: str) -> str:
    """'MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module with ESP32' -> 'Generic ESP32 module with ESP32'."""
    return banner.rsplit("; ", 1)[-1]


def preload_modules(flavour: str) -> list[str]:
    """The public modules of the simulated firmware on `flavour` ("pycom" | "micropython")."""
    hidden = STOCK_ONLY if flavour == "pycom" else PYCOM_ONLY
    names = (p.stem for p in (firmware_dir() / "device").glob("*.py") if not p.stem.startswith("_"))
    return sorted(n for n in names if n not in hidden)


def device_config(runtime: Any) -> dict[str, Any]:
    """The boot configuration of the next interpreter of `runtime` (a supervisor.Runtime; not imported here:
    the supervisor imports this module)."""
    ctx = runtime.ctx
    board = ctx.board
    ident = ctx.identity
    layout = board.layout
    pycom = ident.flavour == "pycom"
    return {
        "token": runtime._token.decode(),
        "flash": str(ctx.flash_path),
        "fs": [layout.fs.offset, layout.fs.size],
        "nvs": [layout.nvs.offset, layout.nvs.size],
        "otadata": layout.otadata.offset,
        "config": layout.config.offset,
        "safe_boot": runtime._safe_boot,
        "run_main": runtime.mode == "friendly",
        "mac": ctx.mac.hex(),
        "flavour": ident.flavour,
        "grammar": runtime.grammar.grammar,
        # stock MicroPython: sysname 'esp32', machine = the banner's board ("Generic ESP32 module with ESP32")
        "sysname": ident.board_name if pycom else "esp32",
        "release": ident.version,
        "version": f"{ident.micropython} on {ident.build_date}",
        "machine": f"{ident.board_name} with ESP32" if pycom else stock_machine(ident.banner),
        "lorawan": board.lorawan if pycom else None,
        "sigfox": board.sigfox if pycom else None,
        "psram": board.psram_kb > 0,
        "idf_internal_free": heap.IDF_INTERNAL_FREE,
        "idf_psram_free": heap.IDF_PSRAM_FREE,
        "reset_cause": reset_cause(pycom, runtime.boots, getattr(ctx, "reset_reason", "")),
        "wake": "timer" if not runtime.boots and DEEPSLEEP in getattr(ctx, "reset_reason", "") else None,
        "preload": preload_modules(ident.flavour),
    }
