"""Errors of the stock board's `bluetooth` module: MicroPython errno values (py/mperrno.h) as modbluetooth_nimble.c
maps NimBLE's BLE_HS_* codes to them (`ble_hs_err_to_errno`)."""

from __future__ import annotations

EPERM, ENOENT, EIO, E2BIG, EAGAIN, ENOMEM, EBUSY, ENODEV, EINVAL = 1, 2, 5, 7, 11, 12, 16, 19, 22
EOPNOTSUPP, ENOTCONN, ETIMEDOUT, EALREADY = 95, 107, 110, 114


class Errno(Exception):
    """An error the device raises as OSError(errno) (modbluetooth's bluetooth_handle_errno)."""

    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno
