"""`BumbleScanner`: bleak's scanner backend on a Bumble host."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from bleak.backends.scanner import AdvertisementDataCallback, BaseBleakScanner
from bumble.device import Advertisement

from pytool.ble import host as hosts
from pytool.ble.convert import address_str, advertisement_data
from pytool.ble.transport import resolve_transport


class BumbleArgs(TypedDict, total=False):
    """Backend-specific arguments: `BleakScanner(..., bumble={"transport": "usb:0"})`."""

    transport: str  # Bumble transport or sim:NAME; default: $PYTOOL_BLE


class BumbleScanner(BaseBleakScanner):
    """Scans through a shared Bumble host. `scanning_mode="passive"` sends no scan requests (no scan responses).

    If the transport is lost while scanning, no more advertisements arrive; `start()` again opens a fresh host.

    `BLEDevice.details` is the typed Bumble `hci.Address`; `AdvertisementData.platform_data` is
    `(bumble.device.Advertisement,)` of the latest event.
    """

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        *,
        bumble: BumbleArgs | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._active = scanning_mode != "passive"
        self._transport = (bumble or {}).get("transport")
        self._host: hosts.BumbleHost | None = None

    async def start(self) -> None:
        """Start scanning (clears what was seen before, as bleak requires)."""
        if self._host is not None:
            if not self._host.lost:
                return
            await self.stop()  # its transport was lost: start over on a fresh host
        self.seen_devices = {}
        host = await hosts.acquire(resolve_transport(self._transport))
        try:
            await host.add_listener(self, self._on_advertisement, self._active)
        except BaseException:
            await hosts.release(host)
            raise
        self._host = host

    async def stop(self) -> None:
        """Stop scanning and let go of the host."""
        host, self._host = self._host, None
        if host is None:
            return
        try:
            await host.remove_listener(self)
        finally:
            await hosts.release(host)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        address = address_str(advertisement.address)
        key = str(advertisement.address)  # with the type: a public and a random address may be equal
        previous = self.seen_devices.get(key)
        data = advertisement_data(
            advertisement.data.ad_structures,
            advertisement.rssi,
            previous[1] if previous else None,
            (advertisement,),
        )
        if not self.is_allowed_uuid(data.service_uuids):
            return
        device = self.create_or_update_device(key, address, data.local_name, advertisement.address, data)
        self.call_detection_callbacks(device, data)
