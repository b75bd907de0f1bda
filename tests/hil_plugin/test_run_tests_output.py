"""`pytool test`'s pytest run of a user's project prints no warning of pytest-asyncio's about settings the project
never made (the loop scope of async fixtures)."""

from __future__ import annotations

from pytool.deploy import run_tests
from pytool.ports import resolve_port


def test_an_async_test_runs_without_the_pytest_asyncio_deprecation_warning(tmp_path, capfd):
    hil = tmp_path / "tests" / "hil"
    hil.mkdir(parents=True)
    (hil / "test_plain.py").write_text("async def test_nothing():\n    assert True\n")
    (tmp_path / "pytool.toml").write_text('board = "lopy4"\n')
    run = run_tests(tmp_path, resolve_port("socket://127.0.0.1:9"))
    out, err = capfd.readouterr()
    assert run.exit_code == 0, out + err
    assert "1 passed" in out
    assert "Warning" not in err and "warnings summary" not in out, err
