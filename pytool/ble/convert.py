"""Translations between Bumble's and bleak's vocabularies: UUIDs, addresses, advertising data, errors."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid
from collections.abc import Iterator

from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.core import AdvertisingData

_AD = AdvertisingData.Type
_UUID_LISTS = {
    _AD.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    _AD.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    _AD.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    _AD.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    _AD.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
    _AD.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
}
_SERVICE_DATA = {_AD.SERVICE_DATA_16_BIT_UUID: 2, _AD.SERVICE_DATA_32_BIT_UUID: 4, _AD.SERVICE_DATA_128_BIT_UUID: 16}


def uuid_str(value: core.UUID) -> str:
    """A Bumble UUID (stored little-endian, any width) as bleak's lower-case 128-bit string."""
    return str(uuid.UUID(bytes=bytes(reversed(value.to_bytes(force_128=True)))))


def bumble_uuid(value: str) -> core.UUID:
    """bleak's UUID string (16-bit '180d' or full 128-bit) as a Bumble UUID of the shortest width."""
    full = uuid.UUID(value) if len(value) > 8 else None
    if full is None:
        return core.UUID(value)
    return core.UUID.from_bytes(bytes(reversed(full.bytes)))


def address_str(address: hci.Address) -> str:
    """The address as bleak shows it: 'AA:BB:CC:DD:EE:FF', without Bumble's '/P' type suffix."""
    return address.to_string(with_type_qualifier=False)


def _uuids_from(data: bytes, width: int) -> Iterator[str]:
    for offset in range(0, len(data) - width + 1, width):
        yield uuid_str(core.UUID.from_bytes(data[offset : offset + width]))


def advertisement_data(
    structures: list[tuple[int, bytes]], rssi: int, previous: AdvertisementData | None, platform_data: tuple
) -> AdvertisementData:
    """bleak's AdvertisementData from AD structures (advertising data + scan response).

    Repeated structures (a controller that echoes the advertising data as scan response) count once, and what a
    device advertised earlier in the same scan is kept (as BlueZ and CoreBluetooth do): the scan response
    usually carries the name, and it only comes with some advertising events.
    """
    local_name = previous.local_name if previous else None
    short_name: str | None = None
    service_uuids = list(previous.service_uuids) if previous else []
    manufacturer_data = dict(previous.manufacturer_data) if previous else {}
    service_data = dict(previous.service_data) if previous else {}
    tx_power = previous.tx_power if previous else None
    for ad_type, value in structures:
        if ad_type == _AD.COMPLETE_LOCAL_NAME:
            local_name = value.decode("utf-8", "replace")
        elif ad_type == _AD.SHORTENED_LOCAL_NAME:
            short_name = value.decode("utf-8", "replace")
        elif ad_type in _UUID_LISTS:
            for item in _uuids_from(value, _UUID_LISTS[ad_type]):
                if item not in service_uuids:
                    service_uuids.append(item)
        elif ad_type in _SERVICE_DATA and len(value) >= _SERVICE_DATA[ad_type]:
            width = _SERVICE_DATA[ad_type]
            service_data[uuid_str(core.UUID.from_bytes(value[:width]))] = value[width:]
        elif ad_type == _AD.MANUFACTURER_SPECIFIC_DATA and len(value) >= 2:
            manufacturer_data[struct.unpack_from("<H", value)[0]] = value[2:]
        elif ad_type == _AD.TX_POWER_LEVEL and len(value) == 1:
            tx_power = struct.unpack("b", value)[0]
    return AdvertisementData(
        local_name=local_name or short_name,
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=service_uuids,
        tx_power=tx_power,
        rssi=rssi,
        platform_data=platform_data,
    )


@contextlib.contextmanager
def bleak_errors(what: str, timeout_hint: str = "") -> Iterator[None]:
    """Re-raise Bumble's exceptions as the ones bleak documents.

    ATT error responses become BleakGATTProtocolError (with the ATT code), Bumble's own TimeoutError becomes the
    builtin TimeoutError (= asyncio.TimeoutError), and a request cut short by a lost link becomes BleakError.
    """
    try:
        yield
    except att.ATT_Error as error:
        raise BleakGATTProtocolError(int(error.error_code)) from error
    except (core.TimeoutError, core.CommandTimeoutError) as error:
        raise TimeoutError(f"{what}: no answer{timeout_hint}") from error
    except core.BaseBumbleError as error:  # HCI/SMP protocol errors, lost transport, invalid state
        raise BleakError(f"{what}: {error}") from error
    except asyncio.CancelledError as error:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # our caller was cancelled: not a Bluetooth error
        # Bumble cancels a pending GATT request when its link goes down
        raise BleakError(f"{what}: disconnected") from error
