"""Helpers shared by the test suite (tests import them as `support.X`; tests/ is on sys.path through pytest's
rootdir conftest). No test module imports another test module: what two folders need lives here.

- `sim`       a simulator per module, esptool on its pty, reading a board's serial output
- `flashed`   a simulator flashed by `pytool flash` (the "port briefly busy, try again" loop: `flash_sim`), `port`
- `runtime`   the simulated firmware's runtime alone on a pty (`HarnessBoard`), without the full simulator
- `firmware`  built Pycom archives and archives made from members
- `fake_pic`  a Pycom expansion board's PIC at the byte level
- `faults`    the reliability suite: arming faults, waiting for the board, board state by hash
- `cli`       the CLI run in-process with --json (`run_json`)
- `ble`       a Bumble host of its own on a simulators' radio (`bumble_host`)
"""
