"""Pairing and bonding of the stock board's stack (modbluetooth_nimble.c with NimBLE's security manager): a mixin of
`NimbleService` (pytool/sim/bluetooth/nimble.py), kept apart for size. SMP itself is Bumble's.

- `gap_pair(conn)`: as central, a bond found through `_IRQ_GET_SECRET` (the peer's record) re-encrypts the link with
  its LTK; otherwise pairing starts. As peripheral a Security Request goes out (the central decides). A central
  that receives a Security Request does what `gap_pair` does (ble_sm_sec_req_rx).
- The IO capability (`config(io=...)`), `mitm`, `le_secure` and `bond` go into the pairing request/response. Passkey
  entry and numeric comparison raise `_IRQ_PASSKEY_ACTION (conn, action, passkey)` and wait for
  `gap_passkey(conn, action, passkey)` (NimBLE's ble_sm_inject_io, with its errors).
- Keys are never kept in the simulator: bonding writes two records per peer through `_IRQ_SET_SECRET` (type 1: the
  keys we distributed, type 2: the peer's), keyed by the peer's 7-byte ble_addr_t; reads come back through
  `_IRQ_GET_SECRET`. At stack start the app is asked for our IRK (type 10, key b'irk') and the peer records are
  enumerated (key None, index 0, 1, ...), as load_irk() and ble_hs_misc_restore_irks() do.
- `_IRQ_ENCRYPTION_UPDATE (conn, encrypted, authenticated, bonded, key_size)` comes once pairing (and the records'
  writing) is over, or when a link is encrypted with a stored key; a failed pairing reports (conn, 0, 0, 0, 0).
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from dataclasses import dataclass
from typing import Any

from bumble import hci
from bumble.device import Connection
from bumble.keys import KeyStore, PairingKeys
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.smp import PairingMethod

from pytool.sim.bluetooth.nimble_errno import EALREADY, EINVAL, ENOENT, Errno

logger = logging.getLogger(__name__)

IRQ_ENCRYPTION_UPDATE, IRQ_GET_SECRET, IRQ_SET_SECRET, IRQ_PASSKEY_ACTION = 28, 29, 30, 31
SECRET_OUR, SECRET_PEER, SECRET_OUR_IRK = 1, 2, 10  # BLE_STORE_OBJ_TYPE_OUR_SEC / _PEER_SEC, modbluetooth's IRK type
PASSKEY_INPUT, PASSKEY_DISPLAY, PASSKEY_NUMCMP = 2, 3, 4  # _PASSKEY_ACTION_*
IO_NO_INPUT_OUTPUT = 3  # NimBLE's default sm_io_cap (BLE_HS_IO_NO_INPUT_OUTPUT)
SMP_TIMEOUT = 30.0  # SMP's procedure timeout: an unanswered passkey action fails the pairing
NIMBLE_DEFAULT_IRK = bytes.fromhex("ef8de2164fec430dbf5bdd34c0531eb8")  # ble_hs_pvcy_default_irk
MAX_BONDS = 3  # CONFIG_BT_NIMBLE_MAX_BONDS: how many peer records ble_hs_misc_restore_irks() can ask for

# struct ble_store_value_sec as NimBLE lays it out on the ESP32 (80 bytes): ble_addr_t, key_size, ediv, rand_num, ltk,
# ltk_present, irk, irk_present, csrk, then csrk_present / authenticated / sc as bits of one byte. The application
# only stores and returns these bytes; a value of another length reads as "not found" (ble_secret_store_read).
_SEC = struct.Struct("<B6sBH6xQ16sB16sB16sB5x")
SEC_SIZE = _SEC.size


@dataclass
class SecRecord:
    """One ble_store_value_sec."""

    addr_type: int
    addr: bytes  # 6 bytes, little-endian (Bumble's order)
    ltk: bytes | None = None
    ediv: int = 0
    rand: int = 0
    irk: bytes | None = None
    csrk: bytes | None = None
    authenticated: bool = False
    sc: bool = False
    key_size: int = 16

    def pack(self) -> bytes:
        flags = (self.csrk is not None) | self.authenticated << 1 | self.sc << 2
        return _SEC.pack(
            self.addr_type,
            self.addr,
            self.key_size,
            self.ediv,
            self.rand,
            self.ltk or bytes(16),
            self.ltk is not None,
            self.irk or bytes(16),
            self.irk is not None,
            self.csrk or bytes(16),
            flags,
        )

    @classmethod
    def unpack(cls, raw: bytes) -> SecRecord | None:
        if len(raw) != SEC_SIZE:
            return None
        a_type, addr, key_size, ediv, rand, ltk, has_ltk, irk, has_irk, csrk, flags = _SEC.unpack(raw)
        return cls(
            addr_type=a_type,
            addr=addr,
            ltk=ltk if has_ltk & 1 else None,
            ediv=ediv,
            rand=rand,
            irk=irk if has_irk & 1 else None,
            csrk=csrk if flags & 1 else None,
            authenticated=bool(flags & 2),
            sc=bool(flags & 4),
            key_size=key_size,
        )


def store_key(address: hci.Address) -> bytes:
    """NimBLE's store key: ble_addr_t (type 0 public / 1 random, then the address little-endian)."""
    return bytes([address.address_type & 1]) + bytes(address)


class BoardSecrets(KeyStore):
    """Bumble's key store in front of the application's secret store: Bumble looks a key up when the central asks
    to encrypt with a stored bond (LTK request): our record. (As central, `PairingCalls._secure` reads the peer's.)"""

    def __init__(self, service: Any) -> None:
        self.service = service

    async def get(self, name: str) -> PairingKeys | None:
        connection = self.service.link_to(name)
        if connection is None:
            return None
        central = connection.role == hci.Role.CENTRAL
        record = await self.service.read_secret(SECRET_PEER if central else SECRET_OUR, connection.peer_address)
        if record is None or record.ltk is None:
            return None
        self.service.restored[connection.handle] = record.authenticated
        key = PairingKeys.Key(
            value=record.ltk,
            authenticated=record.authenticated,
            ediv=record.ediv,
            rand=record.rand.to_bytes(8, "little"),
        )
        if record.sc:
            return PairingKeys(ltk=key)
        return PairingKeys(ltk_central=key) if central else PairingKeys(ltk_peripheral=key)

    async def update(self, name: str, keys: PairingKeys) -> None:
        """Nothing: the records are written on the pairing event, where the roles are known (`_on_paired`)."""


class BoardDelegate(PairingDelegate):
    """The board's side of the pairing questions: `_IRQ_PASSKEY_ACTION`, answered by `gap_passkey`."""

    def __init__(self, service: Any, connection: Connection, io: int) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability(io))
        self.service, self.connection = service, connection

    async def accept(self) -> bool:
        """A Pairing Request came (we are the responder): a peer we hold a bond for pairs again (it lost its keys):
        NimBLE's REPEAT_PAIRING, where modbluetooth deletes the old bond and lets the pairing go on."""
        await self.service.forget_if_bonded(self.connection)
        return True

    async def compare_numbers(self, number: int, digits: int) -> bool:
        return bool(await self.service.passkey_action(self.connection, PASSKEY_NUMCMP, number))

    async def get_number(self) -> int | None:
        return await self.service.passkey_action(self.connection, PASSKEY_INPUT, 0)

    async def generate_passkey(self) -> int:
        passkey = await self.service.passkey_action(self.connection, PASSKEY_DISPLAY, 0)
        return 0 if passkey is None else passkey  # no answer: the peer's confirm check fails the pairing


class PairingCalls:
    """`gap_pair`, `gap_passkey`, the secret store and encryption events; expects NimbleService's device, links,
    security, emit(), require(), link(), _spawn()."""

    device: Any
    links: dict[int, Connection]
    security: dict[str, Any]
    addr_mode: int
    random_address: bytes | None
    emit: Any
    require: Any
    link: Any
    _spawn: Any

    def _reset_security(self) -> None:
        self.restored: dict[int, bool] = {}  # link -> authenticated, encrypted with a stored key
        self.sec_state: dict[int, tuple[bool, bool]] = {}  # link -> (authenticated, bonded) once encrypted
        self._passkeys: dict[int, tuple[int, asyncio.Future]] = {}  # link -> (action, answer) pending

    # ----------------------------------------------------------------------------------------------------------
    # Stack start: our IRK and the peer records (load_irk, ble_hs_misc_restore_irks)

    async def load_secrets(self) -> None:
        value = await self.emit(IRQ_GET_SECRET, [SECRET_OUR_IRK, 0, b"irk"], "iim")
        if isinstance(value, bytes) and len(value) == 16:  # (what the board answers is untrusted: bytes only)
            irk = bytes(value)
        else:
            irk = os.urandom(16)
            if not await self.emit(IRQ_SET_SECRET, [SECRET_OUR_IRK, b"irk", irk], "imm"):
                irk = NIMBLE_DEFAULT_IRK  # an app without a secret store: NimBLE's fixed IRK
        if self.device is not None:
            self.device.irk = irk
        for index in range(MAX_BONDS + 1):  # (the last read finds the list's end, or the store over its size)
            raw = await self.emit(IRQ_GET_SECRET, [SECRET_PEER, index, None], "iim")
            if raw is None:
                break

    async def read_secret(self, kind: int, address: hci.Address) -> SecRecord | None:
        raw = await self.emit(IRQ_GET_SECRET, [kind, 0, store_key(address)], "iim")
        return SecRecord.unpack(raw) if isinstance(raw, bytes) else None  # (untrusted: bytes of the right size only)

    async def forget_if_bonded(self, connection: Connection) -> None:
        """ble_sm_chk_repeat_pairing + ble_store_util_delete_peer: each record type is deleted (`_IRQ_SET_SECRET`
        with value None) until the app says there is none left (NimBLE would ask for ever; capped here)."""
        if await self.read_secret(SECRET_PEER, connection.peer_address) is None:
            return
        key = store_key(connection.peer_address)
        for kind in (SECRET_OUR, SECRET_PEER):
            for _ in range(MAX_BONDS + 1):
                if not await self.emit(IRQ_SET_SECRET, [kind, key, None], "imm"):
                    break

    def link_to(self, name: str) -> Connection | None:
        for connection in self.links.values():
            if str(connection.peer_address) == name:
                return connection
        return None

    # ----------------------------------------------------------------------------------------------------------
    # Pairing configuration and the device calls

    def _pairing_config(self, connection: Connection) -> PairingConfig:
        io = int(self.security.get("io", IO_NO_INPUT_OUTPUT))
        if io not in range(5):
            io = IO_NO_INPUT_OUTPUT
        # our identity address: the static random one after config(addr_mode=1), else the public one
        static = self.addr_mode == 1 and self.random_address is not None and self.random_address[0] >= 0xC0
        identity = PairingConfig.AddressType.RANDOM if static else PairingConfig.AddressType.PUBLIC
        return PairingConfig(
            sc=bool(self.security.get("le_secure", False)),
            mitm=bool(self.security.get("mitm", False)),
            bonding=bool(self.security.get("bond", False)),
            delegate=BoardDelegate(self, connection, io),
            identity_address_type=identity,
        )

    async def rpc_gap_pair(self, conn_handle: int) -> None:
        self.require()
        connection = self.link(conn_handle)
        session = self._session(connection)
        if session is not None and not session.completed:
            raise Errno(EALREADY)  # a security procedure is already running on this link
        if connection.role == hci.Role.CENTRAL:
            self._spawn(self._secure(connection))
        else:
            self.device.request_pairing(connection)  # ble_sm_slave_initiate: a Security Request

    async def rpc_gap_passkey(self, conn_handle: int, action: int, passkey: int) -> None:
        self.require()
        if action not in (PASSKEY_INPUT, PASSKEY_DISPLAY, PASSKEY_NUMCMP):
            raise Errno(EINVAL)
        pending = self._passkeys.get(conn_handle)
        if pending is None:
            raise Errno(ENOENT)  # ble_sm_inject_io: no pairing procedure on this link
        expected, answer = pending
        if answer.done():
            raise Errno(EALREADY)
        if action != expected or (action != PASSKEY_NUMCMP and not 0 <= passkey <= 999999):
            raise Errno(EINVAL)
        answer.set_result(int(passkey != 0) if action == PASSKEY_NUMCMP else int(passkey))

    async def passkey_action(self, connection: Connection, action: int, number: int) -> int | None:
        """Raise `_IRQ_PASSKEY_ACTION` and wait for the app's `gap_passkey` (None: no answer within SMP's time)."""
        answer: asyncio.Future = asyncio.get_running_loop().create_future()
        self._passkeys[connection.handle] = (action, answer)
        self.emit(IRQ_PASSKEY_ACTION, [connection.handle, action, number], "iii")
        try:
            return await asyncio.wait_for(answer, SMP_TIMEOUT)
        except TimeoutError:
            return None
        finally:
            if self._passkeys.get(connection.handle, (0, None))[1] is answer:
                del self._passkeys[connection.handle]

    async def _secure(self, connection: Connection) -> None:
        """ble_gap_security_initiate() as central: encrypt with a bond's LTK if the app has one, else pair."""
        try:
            record = await self.read_secret(SECRET_PEER, connection.peer_address)
            if record is None or record.ltk is None:
                await connection.pair()
                return
            self.restored[connection.handle] = record.authenticated
            command = hci.HCI_LE_Enable_Encryption_Command(  # ble_sm_enc_initiate with the bond's LTK
                connection_handle=connection.handle,
                random_number=record.rand.to_bytes(8, "little"),
                encrypted_diversifier=record.ediv,
                long_term_key=record.ltk,
            )
            await self.device.send_async_command(command)
        except Exception as exc:  # reported by the failure events
            logger.debug("security procedure failed: %r", exc)

    # ----------------------------------------------------------------------------------------------------------
    # Events of a link

    def watch_security(self, connection: Connection) -> None:
        connection.on("connection_encryption_change", lambda *_: self._on_encryption(connection))
        connection.on("connection_encryption_failure", lambda *_: self._on_failed(connection))
        connection.on("pairing", lambda keys: self._on_paired(connection))
        connection.on("pairing_failure", lambda *_: self._on_failed(connection))
        connection.on("security_request", lambda *_: self._spawn(self._secure(connection)))

    def drop_security(self, handle: int) -> None:
        self.restored.pop(handle, None)
        self.sec_state.pop(handle, None)
        pending = self._passkeys.pop(handle, None)
        if pending is not None and not pending[1].done():
            pending[1].cancel()

    def _session(self, connection: Connection) -> Any:
        return self.device.smp_manager.sessions.get(connection.handle) if self.device is not None else None

    def _on_encryption(self, connection: Connection) -> None:
        session = self._session(connection)
        if session is not None and not session.completed:
            return  # pairing: reported once the keys are distributed and stored (_on_paired)
        if connection.handle in self.restored:  # encrypted with a bond's key
            authenticated = self.restored.pop(connection.handle)
            self.sec_state[connection.handle] = (authenticated, True)
        authenticated, bonded = self.sec_state.get(connection.handle, (False, False))
        encrypted = connection.is_encrypted
        items = [connection.handle, int(encrypted), int(authenticated and encrypted), int(bonded and encrypted)]
        self.emit(IRQ_ENCRYPTION_UPDATE, [*items, 16 if encrypted else 0], "iiiii")

    def _on_failed(self, connection: Connection) -> None:
        session = self._session(connection)
        if session is not None and session.completed and self.device is not None:
            # the link may pair again (NimBLE frees the procedure); Bumble would hand the next Pairing Request to
            # this finished session
            self.device.smp_manager.sessions.pop(connection.handle, None)
        if connection.handle in self.links:
            self.restored.pop(connection.handle, None)
            self.emit(IRQ_ENCRYPTION_UPDATE, [connection.handle, 0, 0, 0, 0], "iiiii")

    def _on_paired(self, connection: Connection) -> None:
        session = self._session(connection)
        authenticated = session is not None and session.pairing_method != PairingMethod.JUST_WORKS
        bonded = bool(session is not None and session.bonding)
        if bonded:
            ours, theirs = self._records(connection, session, authenticated)
            key = store_key(connection.peer_address)
            self.emit(IRQ_SET_SECRET, [SECRET_OUR, key, ours.pack()], "imm")  # ble_sm_persist_keys: ours first
            self.emit(IRQ_SET_SECRET, [SECRET_PEER, key, theirs.pack()], "imm")
        self.sec_state[connection.handle] = (authenticated, bonded)
        items = [connection.handle, int(connection.is_encrypted), int(authenticated), int(bonded)]
        self.emit(IRQ_ENCRYPTION_UPDATE, [*items, 16], "iiiii")

    def _records(self, connection: Connection, session: Any, authenticated: bool) -> tuple[SecRecord, SecRecord]:
        peer = connection.peer_address
        common = {"addr_type": peer.address_type & 1, "addr": bytes(peer), "authenticated": authenticated}
        sc = bool(session.sc)
        our_irk = self.device.irk if self.device is not None else None
        ours = SecRecord(**common, sc=sc, irk=our_irk, ltk=session.ltk)
        theirs = SecRecord(**common, sc=sc, irk=session.peer_identity_resolving_key, ltk=session.ltk)
        if not sc:  # legacy pairing: each side distributed its own LTK with EDIV/Rand
            ours.ediv, ours.rand = session.ltk_ediv or 0, int.from_bytes(session.ltk_rand or bytes(8), "little")
            theirs.ltk = session.peer_ltk
            theirs.ediv = session.peer_ediv or 0
            theirs.rand = int.from_bytes(session.peer_rand or bytes(8), "little")
        return ours, theirs
