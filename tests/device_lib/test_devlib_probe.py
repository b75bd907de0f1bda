"""The test probe's ring buffer, run on the real MicroPython interpreter."""

from __future__ import annotations

import json

from devlib_mp import run_micropython
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=25, deadline=None)
@given(size=st.integers(1, 20), count=st.integers(0, 60), since=st.integers(0, 60))
def test_ring_buffer_keeps_the_newest_entries_in_order(tmp_path_factory, size, count, since):
    out = run_micropython(
        f"""
        import pytool_probe as p
        p.resize({size})
        for i in range({count}):
            p.record("write", "c", bytes([i % 256]))
        print(p.dump(since={since}))
        """,
        tmp_path_factory.mktemp("mp"),
    )
    got = json.loads(out.strip().splitlines()[-1])
    expected_seqs = [s for s in range(max(1, count - size + 1), count + 1) if s > since]
    assert [e["seq"] for e in got["events"]] == expected_seqs
    assert [e["data"] for e in got["events"]] == [f"{(s - 1) % 256:02x}" for s in expected_seqs]
    assert got["seq"] == count and got["size"] == size
    assert got["dropped"] == max(0, count - size - since)  # entries after `since` that fell out


def test_dump_format_clear_and_sequence_numbers(mp):
    got = mp.json(
        """
        import json, pytool_probe as p
        p.record("connect", "srv")
        p.record("write", "level", b"\\x01\\x02")
        p.record("error", "level", "ValueError('boom',)")
        first = json.loads(p.dump(clear_after=True))
        p.record("read", "level", None)
        second = json.loads(p.dump())
        third = json.loads(p.dump(since=4))
        print(json.dumps([first, second, third]))
        """
    )
    first, second, third = got
    assert first["format"] == 1 and first["dropped"] == 0
    assert [(e["event"], e["char"], e["data"]) for e in first["events"]] == [
        ("connect", "srv", None),
        ("write", "level", "0102"),
        ("error", "level", "ValueError('boom',)"),
    ]
    assert all(isinstance(e["t"], int) for e in first["events"])
    # after clear(): old entries gone, numbering goes on, nothing counted as dropped
    assert [(e["seq"], e["event"]) for e in second["events"]] == [(4, "read")]
    assert second["dropped"] == 0
    assert third["events"] == [] and third["seq"] == 4


def test_resize_keeps_newest_and_rejects_zero(mp):
    got = mp.json(
        """
        import json, pytool_probe as p
        for i in range(10):
            p.record("write", "c", i)
        p.resize(3)
        small = [e[0] for e in p.entries()]
        p.resize(50)
        p.record("write", "c", 10)
        grown = [e[0] for e in p.entries()]
        try:
            p.resize(0)
            err = None
        except ValueError as e:
            err = str(e)
        print(json.dumps([small, grown, err, p.size()]))
        """
    )
    assert got == [[8, 9, 10], [8, 9, 10, 11], "probe size must be >= 1", 50]


def test_listener_exceptions_do_not_break_recording(mp):
    got = mp.json(
        """
        import json, pytool_probe as p
        seen = []
        def bad(entry):
            seen.append(entry[0])
            raise RuntimeError("listener bug")
        p.listen(bad)
        p.record("write", "c", b"x")
        p.record("write", "c", b"y")
        p.listen(None)
        p.record("write", "c", b"z")
        print(json.dumps([seen, p.last_seq()]))
        """
    )
    assert got == [[1, 2], 3]


def test_compact_entries_fit_the_limit(mp):
    got = mp.json(
        """
        import json, pytool_probe as p
        p.record("write", "level", bytes(range(150)))
        e = p.entries()[-1]
        print(json.dumps([p.compact(e, 60), p.compact(e, 400)]))
        """
    )
    short, full = got
    assert len(short) <= 60
    seq, event, char, data = json.loads(short)
    assert (seq, event, char) == (1, "write", "level")
    assert bytes(range(150)).hex().startswith(data) and len(data) % 2 == 0 and data
    assert json.loads(full)[3] == bytes(range(150)).hex()


def test_concurrent_recording_loses_nothing(mp):
    # the firmware's IRQ thread and the main thread record at the same time (the unix port has no GIL)
    got = mp.json(
        """
        import _thread, json, time, pytool_probe as p
        p.resize(4000)
        done, done_lock = [], _thread.allocate_lock()
        def worker(name):
            for i in range(500):
                p.record("write", name, i)
            with done_lock:  # no GIL here: even list.append needs the lock
                done.append(name)
        for n in range(3):
            _thread.start_new_thread(worker, ("t%d" % n,))
        worker("main")
        while len(done) < 4:
            time.sleep_ms(5)
        seqs = [e[0] for e in p.entries()]
        print(json.dumps([p.last_seq(), len(seqs), len(set(seqs)), seqs == sorted(seqs)]))
        """
    )
    assert got == [2000, 2000, 2000, True]


def test_show_prints_the_dump_without_one_large_allocation(mp):
    # long values: the ring keeps 32 of them between freed ones, a fragmented heap; dump() would need one
    # 15 KB block there, show() prints piece by piece (in the 67 KB heap of a 512 KB board)
    out = mp(
        """
        import gc, pytool_probe as p
        for i in range(200):
            p.record("write", "c1", bytes([i % 256]) * 197)
        gc.collect()
        p.show()
        """,
        heapsize="67K",
    )
    shown = json.loads(out.strip().splitlines()[-1])
    assert [e["seq"] for e in shown["events"]] == list(range(169, 201))
    assert shown["events"][-1]["data"] == (bytes([199]) * 197).hex()


def test_show_prints_exactly_what_dump_returns(mp):
    out = mp(
        """
        import pytool_probe as p
        p.record("write", "c", b"\\x01")
        p.record("error", "c", "ValueError('boom',)")
        print(p.dump(since=1))
        p.show(since=1)
        """
    )
    dumped, shown = out.strip().splitlines()
    assert dumped == shown and json.loads(shown)["events"][0]["data"] == "ValueError('boom',)"
