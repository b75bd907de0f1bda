"""The faults a simulated board injects on request (`pytool sim fault`; what each models: pytool/sim/faults.py).

Plain data with no imports: `pytool sim fault --help` lists them without loading the simulator (the CLI's start-up).
"""

from __future__ import annotations

from typing import Any

#: name -> {parameter: default}; a parameter without a default (None) may be required by `_validate`.
FAULTS: dict[str, dict[str, Any]] = {
    "cut": {"after_bytes": None, "after_s": None, "down_s": 0.5},
    "reset": {"after_bytes": 0},
    "brownout": {"after_bytes": 0},
    "flip": {"rate": 0.001, "seed": 0, "direction": "both"},
    "drop": {"rate": 0.001, "seed": 0, "direction": "both"},
    "slow": {"bytes_per_s": 1000},
    "power-loss": {"op": "any", "skip": 0, "fraction": 0.5, "off_s": 0.5, "unplug": False},
    "ble-drop": {},
    "ble-refuse": {},
    "ble-stop-adv": {},
}
