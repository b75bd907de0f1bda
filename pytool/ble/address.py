"""Board identity on the air: the Bluetooth address an ESP32 board uses, derived from its base MAC.

ESP-IDF gives Bluetooth the base MAC (eFuse, what `machine.unique_id()` returns on Pycom and stock MicroPython)
plus 2 in the LAST octet only, wrapping without carry (`esp_read_mac(ESP_MAC_BT)`: `mac[5] += 2` on a uint8_t,
with four universal MAC addresses, which Pycom's sdkconfig sets: CONFIG_NUMBER_OF_UNIVERSAL_MAC_ADDRESS 4; stock
ESP32 builds default to four as well). Pycom's Bluedroid and stock MicroPython's NimBLE both advertise from that
public address, so a board reached over serial is found over the air by address, not by its (shared) name.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: Device code printing the board's base MAC as 12 hex digits (Pycom 1.20 and stock MicroPython alike).
READ_BASE_MAC = "import binascii, machine\nprint(binascii.hexlify(machine.unique_id()).decode())"

_HEX12 = re.compile(r"[0-9A-Fa-f]{12}")
BT_OFFSET = 2  # four universal MAC addresses: Wi-Fi station, soft-AP +1, Bluetooth +2, Ethernet +3


def normalize_address(address: str) -> str:
    """'aa:bb:cc:dd:ee:ff', 'AA-BB-..' or 'aabbccddeeff' as bleak shows addresses: 'AA:BB:CC:DD:EE:FF'.

    Raises ValueError for anything that is not 6 bytes of hex.
    """
    digits = re.sub(r"[:\-\s]", "", address.strip())
    if not _HEX12.fullmatch(digits):
        raise ValueError(f"not a Bluetooth address: {address!r} (expected 6 hex bytes like AA:BB:CC:DD:EE:FF)")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2)).upper()


def _mac_bytes(base_mac: bytes | str) -> bytes:
    if isinstance(base_mac, (bytes, bytearray)):
        if len(base_mac) != 6:
            raise ValueError(f"a base MAC has 6 bytes, not {len(base_mac)}")
        return bytes(base_mac)
    return bytes.fromhex(normalize_address(base_mac).replace(":", ""))


def bt_mac(base_mac: bytes | str) -> bytes:
    """The 6 bytes of the Bluetooth address ESP-IDF derives from `base_mac` (see the module docstring)."""
    mac = bytearray(_mac_bytes(base_mac))
    mac[5] = (mac[5] + BT_OFFSET) & 0xFF  # no carry into mac[4], as in ESP-IDF
    return bytes(mac)


def bt_address(base_mac: bytes | str) -> str:
    """The board's Bluetooth address as bleak shows it ('AA:BB:CC:DD:EE:FF'), from its base MAC."""
    return ":".join(f"{b:02X}" for b in bt_mac(base_mac))


def base_mac_from_output(output: bytes | str) -> bytes:
    """The base MAC from what READ_BASE_MAC printed; ValueError if the output has none."""
    text = output.decode("ascii", "replace") if isinstance(output, (bytes, bytearray)) else output
    found = _HEX12.search(text)
    if found is None:
        raise ValueError(f"the board did not print its MAC address: {text.strip()[:80]!r}")
    return bytes.fromhex(found.group(0))


def same_address(a: str, b: str) -> bool:
    """Whether two address strings name the same device (case and separators ignored)."""
    return normalize_address(a) == normalize_address(b)


def read_ble_address(run: Callable[[str], str | bytes]) -> str:
    """The board's Bluetooth address, read from the board: `run(code)` runs device code over its serial link
    (raw REPL) and returns what it printed. ValueError if the board printed no MAC."""
    return bt_address(base_mac_from_output(run(READ_BASE_MAC)))


def simulator_ble_address(port: str) -> str | None:
    """For a `sim:NAME` port, the address its registry record holds (no serial traffic); None for other ports.

    Raises PytoolError when no simulator of that name runs."""
    if not port.startswith("sim:"):
        return None
    from pytool.sim import registry

    return registry.find(port[len("sim:") :]).bt_address
