"""Telnet's IAC layer (RFC 854), shared by pytool's telnet client (`protocol_telnet`) and the simulated Pycom
telnet server (`pytool.sim.wifi.telnet`): commands taken out of the byte stream, 0xFF data bytes doubled on the
wire. Both sides are also checked byte for byte against Pycom's telnet.c (tests/sim/test_sim_wifi.py's raw
socket client, tests/transports/test_telnet_iac.py), so sharing this code does not hide a bug from the tests."""

from __future__ import annotations

IAC, SB, SE, AYT = 255, 250, 240, 246
WILL, WONT, DO, DONT = 251, 252, 253, 254


def escape(data: bytes) -> bytes:
    """Data bytes -> telnet bytes: every 0xFF doubled (IAC IAC)."""
    return data.replace(b"\xff", b"\xff\xff")


class IacDecoder:
    """Telnet bytes -> data bytes: IAC commands taken out (AYT counted), IAC IAC -> 0xFF; with `nvt_cr` (a server
    reading a client's NVT input) CR NUL -> CR as well. Keeps its state between reads (a command may be split)."""

    def __init__(self, nvt_cr: bool = False) -> None:
        self._nvt_cr = nvt_cr
        self._state = "data"
        self._cr = False

    def feed(self, raw: bytes) -> tuple[bytes, int]:
        """Return (data bytes, number of IAC AYT seen)."""
        out = bytearray()
        ayt = 0
        for byte in raw:
            state = self._state
            if state == "data":
                if byte == IAC:
                    self._state = "iac"
                elif not (byte == 0 and self._cr):
                    out.append(byte)
                self._cr = self._nvt_cr and byte == 13
            elif state == "iac":
                if byte == IAC:
                    out.append(IAC)
                    self._state = "data"
                elif byte in (WILL, WONT, DO, DONT):
                    self._state = "option"
                elif byte == SB:
                    self._state = "sb"
                else:
                    ayt += byte == AYT
                    self._state = "data"
                self._cr = False
            elif state == "option":
                self._state = "data"
            elif state == "sb":
                self._state = "sb-iac" if byte == IAC else "sb"
            else:  # "sb-iac"
                self._state = "data" if byte == SE else "sb"
        return bytes(out), ayt
