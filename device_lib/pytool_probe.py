# pytool_probe: a bounded ring buffer of what happened on the board, for host tests.
# MicroPython 1.11 grammar (Pycom 1.20.x). The host reads it with
#   board.exec("import pytool_probe; print(pytool_probe.dump())")
# and parses the JSON; see README.md for the format.
import gc

try:
    import ujson as json
except ImportError:
    import json
try:
    import ubinascii as binascii
except ImportError:
    import binascii
try:
    from utime import ticks_ms
except ImportError:
    from time import ticks_ms



class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


try:  # the IRQ thread and the main thread both record
    import _thread

    _lock = _thread.allocate_lock()
except (ImportError, AttributeError):
    _lock = _NoLock()

FORMAT = 1
DEFAULT_SIZE = 32

_buf = [None] * DEFAULT_SIZE
_seq = 0  # sequence number of the last entry; never reset, so `since` stays meaningful
_cleared = 0  # seq of the last entry dropped by clear()
_listener = None


def record(event, char=None, data=None):
    """Append (seq, ticks_ms, event, char, data); the oldest entry falls out when full. Returns seq."""
    global _seq
    with _lock:
        _seq += 1
        entry = (_seq, ticks_ms(), event, char, data)
        _buf[_seq % len(_buf)] = entry
    if _listener is not None:
        try:
            _listener(entry)
        except Exception:  # a broken listener must never break the code that records
            pass
    return entry[0]


def entries(since=0):
    """Entries with seq > since still in the buffer, oldest first."""
    with _lock:
        return _entries(since)


def _entries(since):
    size = len(_buf)
    first = max(since + 1, _seq - size + 1, 1)
    out = []
    for seq in range(first, _seq + 1):
        entry = _buf[seq % size]
        if entry is not None and entry[0] == seq:
            out.append(entry)
    return out


def last_seq():
    """Sequence number of the newest entry (0 if nothing was recorded since power-on)."""
    return _seq


def clear():
    """Forget every entry (sequence numbers go on counting)."""
    global _buf, _cleared
    with _lock:
        _buf = [None] * len(_buf)
        _cleared = _seq


def resize(size):
    """Keep at most `size` entries (>= 1); the newest ones survive."""
    global _buf
    if size < 1:
        raise ValueError("probe size must be >= 1")
    with _lock:
        kept = _entries(0)[-size:]
        _buf = [None] * size
        for entry in kept:
            _buf[entry[0] % size] = entry


def size():
    """Capacity of the ring buffer."""
    return len(_buf)


def listen(fn):
    """Call fn(entry) after every record (None to stop); used by the over-the-air probe characteristic."""
    global _listener
    _listener = fn


def _data(data, limit=None):
    # bytes -> hex text; at most `limit` characters of text (hex or message) when a limit is given
    if isinstance(data, (bytes, bytearray)):
        if limit is not None:
            data = data[: limit // 2]
        return binascii.hexlify(data).decode()
    if limit is not None and isinstance(data, str):
        return data[:limit]
    return data


def as_dict(entry):
    """One entry as the JSON object `dump()` uses: data as hex for bytes, else as recorded."""
    return {"seq": entry[0], "t": entry[1], "event": entry[2], "char": entry[3], "data": _data(entry[4])}


def compact(entry, limit=180):
    """One entry as a short JSON array [seq, event, char, data] of at most about `limit` bytes (hex data cut)."""
    head = json.dumps([entry[0], entry[2], entry[3], None])
    return json.dumps([entry[0], entry[2], entry[3], _data(entry[4], max(0, limit - len(head) - 2))])


def _pieces(since):
    # the JSON text of dump() in small pieces: header, one piece per event, footer
    with _lock:
        got = _entries(since)
        seq, cleared, size = _seq, _cleared, len(_buf)
    first = got[0][0] if got else seq + 1
    dropped = max(0, first - max(since, cleared) - 1)
    yield '{"format": %d, "seq": %d, "size": %d, "dropped": %d, "events": [' % (FORMAT, seq, size, dropped)
    for i, entry in enumerate(got):
        yield (", " if i else "") + json.dumps(as_dict(entry))
    yield "]}"


def dump(since=0, clear_after=False):
    """JSON string: {"format", "seq", "size", "dropped", "events": [...]} with every entry after `since`.

    `dropped` counts entries after `since` that fell out of the buffer before being read. The text is
    allocated in one block: with many long values on a small board prefer show()."""
    gc.collect()
    text = "".join(list(_pieces(since)))
    if clear_after:
        clear()
    return text


def show(since=0):
    """Print what dump(since) returns, piece by piece (no large allocation), then a newline."""
    for piece in _pieces(since):
        print(piece, end="")
    print()
