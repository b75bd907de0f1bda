"""Heap sizes of the simulated boards.

Pycom 1.20 gives MicroPython a fixed GC pool: 67 KB of internal RAM on 512 KB boards (chip revision 0, no PSRAM)
and 2.5 MB of PSRAM on 4 MB-PSRAM boards (SIG esp32/mptask.c: GC_POOL_SIZE_BYTES (67 * 1024),
GC_POOL_SIZE_BYTES_PSRAM ((2048 + 512) * 1024)). The simulated interpreter is a 64-bit build whose own modules
(the simulated firmware's Pycom modules, its bridge) live in the same heap, while on the board they are frozen
in flash: the interpreter gets the board's pool plus that measured overhead, so that user code sees about the
board's free heap and a large allocation fails where it fails on the board.
"""

from __future__ import annotations

from pytool.boards import BoardModel

POOL_INTERNAL = 67 * 1024
POOL_PSRAM = (2048 + 512) * 1024
#: Heap used by the simulated firmware itself after boot, network.py (a C module on the board) included: on a
#: LoPy (127 KB heap with the old 60 KB figure) gc.mem_free() was 36.9 KB right after `import network`, i.e.
#: about 90 KB used. On the board those modules are C and frozen code; here their objects also fragment the low
#: heap, so 10 KB more is given back: with 88 KB a LoPy's sync ran out of a contiguous 3.8 KB block that the
#: board's unfragmented pool has (tests/sync/test_sync_small_board.py). A LoPy starts with ~80 KB free.
RUNTIME_OVERHEAD = 100 * 1024
#: Heap the 1.11 grammar wrappers (firmware/device/_grammar.py, loaded on Pycom 1.20.x boards only) take after
#: boot (13.7 KB measured: gc.mem_free() on a LoPy with and without them) plus what its checks allocate and
#: fragment while running (bridge messages): 24 KB lets tests/sync/test_sync_small_board.py pass as without
#: them. On the board this is C code and no heap.
GRAMMAR_OVERHEAD = 24 * 1024
#: What pycom.get_free_heap() reports for the IDF heaps beside the GC pool. Typical figures (not measured by
#: us on hardware; they depend on what runs, e.g. WiFi/BLE): internal RAM on every board, and what is left of
#: the 4 MB PSRAM after the 2.5 MB GC pool on PSRAM boards.
#: Stock MicroPython on an ESP32 (1.21 and later) starts with a 56 KB GC heap and adds heap areas from the IDF
#: heap on demand (ports/esp32/mpconfigport.h: MICROPY_GC_INITIAL_HEAP_SIZE (56 * 1024), MICROPY_GC_SPLIT_HEAP_AUTO),
#: sized "so they can grow the heap once (double it)" and still start WiFi. The simulated interpreter's heap
#: cannot grow, so a stock board gets the grown heap from the start: a large allocation that the board serves by
#: growing its heap is served here too.
POOL_STOCK_GROWN = 2 * 56 * 1024
IDF_INTERNAL_FREE = 98_000
IDF_PSRAM_FREE = 4 * 1024 * 1024 - POOL_PSRAM - 200_000


def gc_pool_bytes(board: BoardModel, flavour: str = "pycom") -> int:
    """The MicroPython GC pool of the real board running `flavour` ("pycom" or "stock") firmware."""
    if board.psram_kb > 0:
        return POOL_PSRAM
    return POOL_INTERNAL if flavour == "pycom" else POOL_STOCK_GROWN


def interpreter_heap_bytes(board: BoardModel, flavour: str = "pycom") -> int:
    """The -X heapsize given to the simulated interpreter."""
    return gc_pool_bytes(board, flavour) + RUNTIME_OVERHEAD
