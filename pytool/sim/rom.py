"""The ESP32 ROM serial loader and esptool's flasher stub, as esptool 5.x drives them (SLIP over the UART).

Reference: shared/reference/esp32-rom-protocol.txt. `RomLoader.feed()` takes bytes from the host side of the
serial port and answers through `send`; it models the ROM (4 status bytes, 1 KB blocks, READ_FLASH_SLOW,
SPI_SET_PARAMS) and, once esptool has uploaded its stub with MEM_BEGIN/MEM_DATA/MEM_END, the stub (2 status
bytes, 16 KB blocks, ERASE_FLASH/ERASE_REGION/READ_FLASH with acknowledged 4 KB frames).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from pytool.sim.flash_image import SECTOR_SIZE, FlashBoundsError, FlashImage

# Opcodes (esptool/loader.py ESP_CMDS)
FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
MEM_BEGIN, MEM_END, MEM_DATA = 0x05, 0x06, 0x07
SYNC, WRITE_REG, READ_REG = 0x08, 0x09, 0x0A
SPI_SET_PARAMS, SPI_ATTACH, READ_FLASH_SLOW, CHANGE_BAUDRATE = 0x0B, 0x0D, 0x0E, 0x0F
FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, FLASH_DEFL_END, SPI_FLASH_MD5 = 0x10, 0x11, 0x12, 0x13
ERASE_FLASH, ERASE_REGION, READ_FLASH = 0xD0, 0xD1, 0xD2

# ROM status (status=1, error) and stub status ((code, 0), esptool/util.py's table)
ROM_INVALID_MESSAGE, ROM_FAILED, ROM_BAD_CHECKSUM = 0x05, 0x06, 0x07
ROM_FLASH_WRITE_ERR, ROM_FLASH_READ_ERR, ROM_READ_LEN_ERR, ROM_DEFLATE_ERR = 0x08, 0x09, 0x0A, 0x0B
STUB_BAD_DATA_LEN, STUB_BAD_CHECKSUM, STUB_FAILED_SPI_OP = 0xC0, 0xC1, 0xC4
STUB_NOT_IN_FLASH_MODE, STUB_INFLATE_ERROR, STUB_TOO_MUCH_DATA, STUB_NOT_IMPLEMENTED = 0xC6, 0xC7, 0xC9, 0xFF

CHIP_DETECT_MAGIC_REG, ESP32_MAGIC = 0x40001000, 0x00F01D83
EFUSE_BASE, EFUSE_WORDS = 0x3FF5A000, 32
APB_CTL_DATE = 0x3FF6607C
UART_CLKDIV = 0x3FF40014
RTC_CALI_CFG1 = 0x3FF5F06C
GPIO_STRAP = 0x3FF44038
SPI_BASE = 0x3FF42000
SPI_CMD, SPI_ADDR, SPI_USR, SPI_USR1, SPI_USR2, SPI_MISO_DLEN, SPI_W0 = 0x00, 0x04, 0x1C, 0x20, 0x24, 0x2C, 0x80
SPI_CMD_USR = 1 << 18
XTAL_HZ = 40_000_000
CK8M_EFUSE = 80  # EFUSE_RD_CK8M_FREQ; with RTC_CALI_VALUE below the ROM's crystal estimate is exactly 40 MHz
RTC_CALI_VALUE = 1280
ROM_DEFAULT_FLASH = 2 * 0x100000  # the ROM assumes 2 MB until SPI_SET_PARAMS
ESPRESSIF_OUI = bytes.fromhex("30aea4")

# A Winbond W25Qxx SFDP table (header + basic parameter header + vendor header at 0x10)
_SFDP = bytes.fromhex("53464450060101ff00060110800000ffef00010180000000") + bytes(0x68)


def mac_for(name: str) -> bytes:
    """The deterministic eFuse base MAC of a simulator called `name` (Espressif OUI)."""
    return ESPRESSIF_OUI + hashlib.sha256(name.encode()).digest()[:3]


def mac_crc8(mac: bytes) -> int:
    """CRC8 that the ESP32 stores beside the MAC in eFuse block 0 (espefuse's calc_crc)."""
    crc = 0
    for byte in mac:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


@dataclass
class Efuse:
    """eFuse block 0 of an ESP32 (only what esptool reads): MAC and chip revision."""

    mac: bytes
    chip_revision: int = 1  # 0, 1 or 3 (catalogue `chip_revision`)

    def words(self) -> list[int]:
        """The 32-bit words EFUSE_BLK0_RDATA0..n."""
        words = [0] * EFUSE_WORDS
        rev = {0: 0b000, 1: 0b001, 2: 0b011, 3: 0b111}.get(self.chip_revision, 0b001)
        words[1] = struct.unpack(">I", self.mac[2:6])[0]
        words[2] = (mac_crc8(self.mac) << 16) | (self.mac[0] << 8) | self.mac[1]
        package = 1 if self.chip_revision else 0  # ESP32-D0WD(-V3) / ESP32-D0WDQ6 (rev 0 modules)
        words[3] = ((rev & 1) << 15) | ((package & 7) << 9) | (((package >> 3) & 1) << 2)
        words[4] = CK8M_EFUSE | (0x0F << 8)  # CK8M frequency, ADC vref calibrated
        minor = 1 if self.chip_revision >= 3 else 0
        words[5] = (((rev >> 1) & 1) << 20) | (minor << 24)
        return words

    def apb_ctl_date(self) -> int:
        rev = {0: 0, 1: 1, 2: 3, 3: 7}.get(self.chip_revision, 1)
        return 0x16042000 | (((rev >> 2) & 1) << 31)


def slip_encode(frame: bytes) -> bytes:
    """One SLIP frame (0xC0 ... 0xC0, with 0xC0/0xDB escaped)."""
    return b"\xc0" + frame.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class SlipDecoder:
    """Splits a byte stream into SLIP frames (bytes outside frames, such as boot noise, are dropped)."""

    def __init__(self) -> None:
        self._frame: bytearray | None = None
        self._escape = False

    def reset(self) -> None:
        self._frame, self._escape = None, False

    def feed(self, data: bytes) -> list[bytes]:
        frames = []
        for b in data:
            if self._frame is None:
                if b == 0xC0:
                    self._frame = bytearray()
                continue
            if self._escape:
                self._escape = False
                self._frame.append({0xDC: 0xC0, 0xDD: 0xDB}.get(b, b))
            elif b == 0xDB:
                self._escape = True
            elif b == 0xC0:
                if self._frame:
                    frames.append(bytes(self._frame))
                    self._frame = None
                # an empty frame: 0xC0 0xC0 = end of one frame + start of the next; stay in frame
            else:
                self._frame.append(b)
        return frames


class CommandError(Exception):
    """A command failed; `rom` / `stub` are the error codes each loader reports."""

    def __init__(self, rom: int, stub: int) -> None:
        super().__init__(f"rom error 0x{rom:02x} / stub error 0x{stub:02x}")
        self.rom, self.stub = rom, stub


@dataclass
class _FlashWrite:
    offset: int
    size: int  # bytes the host declared (uncompressed)
    written: int = 0
    inflate: zlib._Decompress | None = None


@dataclass
class _FlashRead:
    offset: int
    length: int
    block: int
    in_flight: int
    sent: int = 0
    acked: int = 0
    md5: hashlib._Hash = field(default_factory=hashlib.md5)


class RomLoader:
    """The serial loader of one ESP32 in download mode: ROM first, esptool's stub after it is uploaded."""

    def __init__(
        self,
        flash: FlashImage,
        efuse: Efuse,
        send: Callable[[bytes], None],
        host_baud: Callable[[], int] = lambda: 115200,
        run_app: Callable[[], None] = lambda: None,
        reboot: Callable[[], None] = lambda: None,
    ) -> None:
        self.flash = flash
        self.efuse = efuse
        self._send = send
        self._host_baud = host_baud
        self._run_app = run_app  # FLASH_END/MEM_END asking the ROM to run the app in flash
        self._reboot = reboot  # software reset: the chip restarts in download mode (straps are latched)
        self._decoder = SlipDecoder()
        self.reset()

    def reset(self) -> None:
        """Back to a freshly booted ROM (stub gone, registers cleared)."""
        self._decoder.reset()
        self.stub = False
        self.uart_baud: int | None = None  # None: auto-baud follows the host
        self.flash_params_size = ROM_DEFAULT_FLASH
        self._spi: dict[int, int] = {}
        self._mem: list[tuple[int, int]] = []  # (address, size) of RAM segments uploaded
        self._mem_begin: tuple[int, int] | None = None
        self._write: _FlashWrite | None = None
        self._read: _FlashRead | None = None

    # ---- framing --------------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes from the host side of the serial port."""
        for frame in self._decoder.feed(data):
            if self._read is not None and len(frame) == 4:
                self._read_ack(struct.unpack("<I", frame)[0])
            elif len(frame) >= 8 and frame[0] == 0x00:
                self._command(frame)

    def _frame(self, payload: bytes) -> None:
        self._send(slip_encode(payload))

    def _respond(self, op: int, value: int = 0, data: bytes = b"", error: int | None = None) -> None:
        if self.stub:
            status = bytes([error, 0]) if error is not None else b"\x00\x00"
        else:
            status = bytes([1, error, 0, 0]) if error is not None else b"\x00\x00\x00\x00"
        body = data + status
        self._frame(struct.pack("<BBHI", 0x01, op, len(body), value) + body)

    def _command(self, frame: bytes) -> None:
        _, op, length, checksum = struct.unpack("<BBHI", frame[:8])
        data = frame[8 : 8 + length]
        handler = self._handlers().get(op)
        if handler is None:
            self._respond(op, error=STUB_NOT_IMPLEMENTED if self.stub else ROM_INVALID_MESSAGE)
            return
        try:
            handler(op, data, checksum)
        except CommandError as exc:
            self._respond(op, error=exc.stub if self.stub else exc.rom)
        except FlashBoundsError:
            self._respond(op, error=STUB_FAILED_SPI_OP if self.stub else ROM_FLASH_WRITE_ERR)
        except struct.error:
            self._respond(op, error=STUB_BAD_DATA_LEN if self.stub else ROM_INVALID_MESSAGE)

    def _handlers(self) -> dict[int, Callable[[int, bytes, int], None]]:
        common = {
            SYNC: self._sync,
            READ_REG: self._read_reg,
            WRITE_REG: self._write_reg,
            SPI_ATTACH: self._ok,
            SPI_SET_PARAMS: self._spi_set_params,
            FLASH_BEGIN: self._flash_begin,
            FLASH_DATA: self._flash_data,
            FLASH_END: self._flash_end,
            FLASH_DEFL_BEGIN: self._flash_begin,
            FLASH_DEFL_DATA: self._flash_data,
            FLASH_DEFL_END: self._flash_end,
            SPI_FLASH_MD5: self._md5,
            CHANGE_BAUDRATE: self._change_baud,
            MEM_BEGIN: self._mem_begin_cmd,
            MEM_DATA: self._mem_data,
            MEM_END: self._mem_end,
        }
        if self.stub:
            common |= {ERASE_FLASH: self._erase_flash, ERASE_REGION: self._erase_region, READ_FLASH: self._read_flash}
        else:
            common[READ_FLASH_SLOW] = self._read_flash_slow
        return common

    # ---- commands ---------------------------------------------------------------------------------------------

    def _ok(self, op: int, data: bytes, checksum: int) -> None:
        self._respond(op)

    def _sync(self, op: int, data: bytes, checksum: int) -> None:
        if data[:4] != b"\x07\x07\x12\x20":
            raise CommandError(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN)
        value = 0 if self.stub else 0x20120707
        for _ in range(8):  # esptool reads one reply and 7 more
            self._respond(op, value)

    def register(self, address: int) -> int:
        """The value READ_REG returns for `address`."""
        if address == CHIP_DETECT_MAGIC_REG:
            return ESP32_MAGIC
        if EFUSE_BASE <= address < EFUSE_BASE + 4 * EFUSE_WORDS:
            return self.efuse.words()[(address - EFUSE_BASE) // 4]
        if address == APB_CTL_DATE:
            return self.efuse.apb_ctl_date()
        if address == UART_CLKDIV:
            return XTAL_HZ // (self.uart_baud or self._host_baud() or 115200)
        if address == RTC_CALI_CFG1:
            return RTC_CALI_VALUE << 7
        if address == GPIO_STRAP:
            return 0x03  # latched straps: GPIO0 low = download boot, VDD_SDIO 3.3 V
        if SPI_BASE <= address < SPI_BASE + 0x100:
            return self._spi.get(address - SPI_BASE, 0)
        return 0

    def _read_reg(self, op: int, data: bytes, checksum: int) -> None:
        (address,) = struct.unpack("<I", data[:4])
        self._respond(op, self.register(address))

    def _write_reg(self, op: int, data: bytes, checksum: int) -> None:
        for i in range(0, len(data) - 15, 16):
            address, value, mask, _delay = struct.unpack("<IIII", data[i : i + 16])
            if SPI_BASE <= address < SPI_BASE + 0x100:
                reg = address - SPI_BASE
                self._spi[reg] = (self._spi.get(reg, 0) & ~mask) | (value & mask)
                if reg == SPI_CMD and self._spi[reg] & SPI_CMD_USR:
                    self._spi_user_command()
        self._respond(op)

    def _spi_user_command(self) -> None:
        """Run the SPI flash command set up in the USR registers (esptool's run_spiflash_command)."""
        usr = self._spi.get(SPI_USR, 0)
        command = self._spi.get(SPI_USR2, 0) & 0xFF
        address = None
        if usr & (1 << 30):
            addr_bits = ((self._spi.get(SPI_USR1, 0) >> 26) & 0x3F) + 1
            address = self._spi.get(SPI_ADDR, 0) >> (32 - addr_bits)
        read_bits = self._spi.get(SPI_MISO_DLEN, 0) + 1 if usr & (1 << 28) else 0
        reply = b""
        if command == 0x9F:  # RDID: Winbond, W25Q32 (4 MB) / W25Q64 (8 MB)
            reply = bytes([0xEF, 0x40, {0x400000: 0x16, 0x800000: 0x17}.get(self.flash.size, 0x18)])
        elif command == 0x5A and address is not None:  # RDSFDP
            reply = _SFDP[address : address + 4].ljust(4, b"\xff")
        elif command in (0x05, 0x35, 0x15):  # RDSR/RDSR2/RDSR3: idle, not protected
            reply = b"\x00"
        value = int.from_bytes(reply.ljust(4, b"\x00")[:4], "little")
        if read_bits:
            value &= (1 << min(read_bits, 32)) - 1
            self._spi[SPI_W0] = value
        self._spi[SPI_CMD] = self._spi.get(SPI_CMD, 0) & ~SPI_CMD_USR

    def _spi_set_params(self, op: int, data: bytes, checksum: int) -> None:
        _id, total, _block, _sector, _page, _mask = struct.unpack("<IIIIII", data[:24])
        self.flash_params_size = total
        self._respond(op)

    def _check_flash(self, offset: int, length: int) -> None:
        limit = self.flash.size if self.stub else min(self.flash.size, self.flash_params_size)
        if offset < 0 or offset + length > limit:
            raise FlashBoundsError(f"0x{offset:x}+0x{length:x} beyond 0x{limit:x}")

    def _flash_begin(self, op: int, data: bytes, checksum: int) -> None:
        size, _blocks, _block_size, offset = struct.unpack("<IIII", data[:16])
        self._check_flash(offset, size)
        self.flash.erase_sectors(offset, size)  # ROM erases up front; the stub as it goes (same end state)
        self._write = _FlashWrite(offset, size, inflate=zlib.decompressobj() if op == FLASH_DEFL_BEGIN else None)
        self._respond(op)

    def _flash_data(self, op: int, data: bytes, checksum: int) -> None:
        length, _seq, _, _ = struct.unpack("<IIII", data[:16])
        block = data[16 : 16 + length]
        if len(block) != length:
            raise CommandError(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN)
        if _xor_checksum(block) != checksum & 0xFF:
            raise CommandError(ROM_BAD_CHECKSUM, STUB_BAD_CHECKSUM)
        write = self._write
        if write is None or (op == FLASH_DEFL_DATA) != (write.inflate is not None):
            raise CommandError(ROM_FAILED, STUB_NOT_IN_FLASH_MODE)
        if write.inflate is not None:
            try:
                block = write.inflate.decompress(block)
            except zlib.error as exc:
                raise CommandError(ROM_DEFLATE_ERR, STUB_INFLATE_ERROR) from exc
            if write.written + len(block) > write.size:
                raise CommandError(ROM_DEFLATE_ERR, STUB_TOO_MUCH_DATA)
        else:
            block = block[: max(0, write.size - write.written)]  # the 0xFF padding of the last block
        self.flash.write(write.offset + write.written, block)
        write.written += len(block)
        self._respond(op)

    def _flash_end(self, op: int, data: bytes, checksum: int) -> None:
        (stay,) = struct.unpack("<I", data[:4]) if len(data) >= 4 else (1,)
        self._write = None
        self._respond(op)
        if self.stub:
            if not stay:  # the stub reboots into the ROM loader
                self._reboot()
        elif stay:  # ROM: "run user code"
            self._run_app()
        else:
            self._reboot()

    def _md5(self, op: int, data: bytes, checksum: int) -> None:
        offset, size = struct.unpack("<II", data[:8])
        self._check_flash(offset, size)
        digest = hashlib.md5(self.flash.read(offset, size))
        self._respond(op, data=digest.digest() if self.stub else digest.hexdigest().encode())

    def _change_baud(self, op: int, data: bytes, checksum: int) -> None:
        new, _old = struct.unpack("<II", data[:8])
        self._respond(op)  # sent at the old rate
        self.uart_baud = new

    def _mem_begin_cmd(self, op: int, data: bytes, checksum: int) -> None:
        size, _blocks, _block_size, address = struct.unpack("<IIII", data[:16])
        self._mem_begin = (address, size)
        self._mem.append((address, size))
        self._respond(op)

    def _mem_data(self, op: int, data: bytes, checksum: int) -> None:
        length, _seq, _, _ = struct.unpack("<IIII", data[:16])
        block = data[16 : 16 + length]
        if self._mem_begin is None:
            raise CommandError(ROM_FAILED, STUB_NOT_IN_FLASH_MODE)
        if len(block) != length:
            raise CommandError(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN)
        if _xor_checksum(block) != checksum & 0xFF:
            raise CommandError(ROM_BAD_CHECKSUM, STUB_BAD_CHECKSUM)
        self._respond(op)

    def _mem_end(self, op: int, data: bytes, checksum: int) -> None:
        no_entry, entry = struct.unpack("<II", data[:8])
        self._respond(op)
        if not no_entry and any(addr <= entry < addr + size for addr, size in self._mem):
            self.stub = True  # esptool's flasher stub is now running and says hello
            self._mem, self._mem_begin = [], None
            self._frame(b"OHAI")

    def _erase_flash(self, op: int, data: bytes, checksum: int) -> None:
        self.flash.erase(0, self.flash.size)
        self._respond(op)

    def _erase_region(self, op: int, data: bytes, checksum: int) -> None:
        offset, size = struct.unpack("<II", data[:8])
        if offset % SECTOR_SIZE or size % SECTOR_SIZE:
            raise CommandError(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN)
        self._check_flash(offset, size)
        self.flash.erase(offset, size)
        self._respond(op)

    def _read_flash_slow(self, op: int, data: bytes, checksum: int) -> None:
        offset, length = struct.unpack("<II", data[:8])
        if length > 64:
            raise CommandError(ROM_READ_LEN_ERR, STUB_BAD_DATA_LEN)
        self._check_flash(offset, length)
        self._respond(op, data=self.flash.read(offset, length).ljust(64, b"\xff"))

    def _read_flash(self, op: int, data: bytes, checksum: int) -> None:
        offset, length, block, in_flight = struct.unpack("<IIII", data[:16])
        if block == 0 or in_flight == 0:
            raise CommandError(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN)
        self._check_flash(offset, length)
        self._respond(op)
        self._read = _FlashRead(offset, length, block, in_flight)
        self._read_pump()
        if length == 0:
            self._read_ack(0)

    def _read_pump(self) -> None:
        read = self._read
        assert read is not None
        while read.sent < read.length and read.sent - read.acked < read.block * read.in_flight:
            chunk = self.flash.read(read.offset + read.sent, min(read.block, read.length - read.sent))
            read.md5.update(chunk)
            read.sent += len(chunk)
            self._frame(chunk)

    def _read_ack(self, total: int) -> None:
        read = self._read
        assert read is not None
        read.acked = max(read.acked, total)
        if read.acked >= read.length:
            self._read = None
            self._frame(read.md5.digest())
        else:
            self._read_pump()


def _xor_checksum(data: bytes) -> int:
    state = 0xEF
    for b in data:
        state ^= b
    return state
