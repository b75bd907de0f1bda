"""The device module firmware/device/network.py, read as source: every constant of reference 4.9 with its value,
nothing Pycom lacks, and the firmware versions that switch the handler signature."""

from __future__ import annotations

import ast

from pytool.paths import firmware_dir

SOURCE = (firmware_dir() / "device" / "network.py").read_text()

# reference 4.9 (modbt.c names; IDF 3394ee5 values)
EXPECTED = {
    "NEW_ADV_EVENT": 1, "CLIENT_CONNECTED": 2, "CLIENT_DISCONNECTED": 4, "CHAR_READ_EVENT": 8,
    "CHAR_WRITE_EVENT": 16, "CHAR_NOTIFY_EVENT": 32, "CHAR_SUBSCRIBE_EVENT": 128,
    "CHAR_CONFIG_NOTIFY": 1, "CHAR_CONFIG_INDICATE": 2,
    "PROP_BROADCAST": 1, "PROP_READ": 2, "PROP_WRITE_NR": 4, "PROP_WRITE": 8, "PROP_NOTIFY": 16,
    "PROP_INDICATE": 32, "PROP_AUTH": 64, "PROP_EXT_PROP": 128,
    "PERM_READ": 1, "PERM_READ_ENCRYPTED": 2, "PERM_READ_ENC_MITM": 4, "PERM_WRITE": 16,
    "PERM_WRITE_ENCRYPTED": 32, "PERM_WRITE_ENC_MITM": 64, "PERM_WRITE_SIGNED": 128, "PERM_WRITE_SIGNED_MITM": 256,
    "CONN_ADV": 0, "CONN_DIR_ADV": 1, "DISC_ADV": 2, "NON_CONN_ADV": 3, "SCAN_RSP": 4,
    "PUBLIC_ADDR": 0, "RANDOM_ADDR": 1, "PUBLIC_RPA_ADDR": 2, "RANDOM_RPA_ADDR": 3,
    "ADV_BLE_ADDR_TYPE_PUBLIC": 0, "ADV_BLE_ADDR_TYPE_RANDOM": 1, "ADV_BLE_ADDR_TYPE_RPA_PUBLIC": 2,
    "ADV_BLE_ADDR_TYPE_RPA_RANDOM": 3,
    "ADV_FLAG": 1, "ADV_16SRV_PART": 2, "ADV_T16SRV_CMPL": 3, "ADV_32SRV_PART": 4, "ADV_32SRV_CMPL": 5,
    "ADV_128SRV_PART": 6, "ADV_128SRV_CMPL": 7, "ADV_NAME_SHORT": 8, "ADV_NAME_CMPL": 9, "ADV_TX_PWR": 10,
    "ADV_DEV_CLASS": 13, "ADV_SERVICE_DATA": 22, "ADV_APPEARANCE": 25, "ADV_ADV_INT": 26,
    "ADV_32SERVICE_DATA": 32, "ADV_128SERVICE_DATA": 33, "ADV_MANUFACTURER_DATA": 255,
    "ADV_TYPE_IND": 0, "ADV_TYPE_DIRECT_IND_HIGH": 1, "ADV_TYPE_SCAN_IND": 2, "ADV_TYPE_NONCONN_IND": 3,
    "ADV_TYPE_DIRECT_IND_LOW": 4,
    "ADV_CHNL_37": 1, "ADV_CHNL_38": 2, "ADV_CHNL_39": 4, "ADV_CHNL_ALL": 7,
    "ADV_FILTER_ALLOW_SCAN_ANY_CON_ANY": 0, "ADV_FILTER_ALLOW_SCAN_WLST_CON_ANY": 1,
    "ADV_FILTER_ALLOW_SCAN_ANY_CON_WLST": 2, "ADV_FILTER_ALLOW_SCAN_WLST_CON_WLST": 3,
    "INT_ANT": 0, "EXT_ANT": 1, "MAN_ANT": 2,
    "TX_PWR_CONN": 0, "TX_PWR_ADV": 9, "TX_PWR_SCAN": 10, "TX_PWR_DEFAULT": 11,
    "TX_PWR_N12": 0, "TX_PWR_N9": 1, "TX_PWR_N6": 2, "TX_PWR_N3": 3, "TX_PWR_0": 4, "TX_PWR_P3": 5,
    "TX_PWR_P6": 6, "TX_PWR_P9": 7,
}  # fmt: skip


def _bluetooth_constants() -> dict[str, int]:
    tree = ast.parse(SOURCE)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Bluetooth")
    out = {}
    for node in cls.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, int):
            out[node.targets[0].id] = node.value.value
    return out


def test_every_constant_with_its_value_and_nothing_pycom_lacks():
    constants = _bluetooth_constants()
    assert constants == EXPECTED
    assert "BLE" not in constants and "CHAR_INDICATE_EVENT" not in constants  # absent from modbt.c's table


def test_handler_signature_switches_at_1_20_2_rc2_and_gattc_at_r2():
    namespace: dict = {}
    tree = ast.parse(SOURCE)
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_version_key"]
    exec(compile(ast.Module(body=funcs, type_ignores=[]), "network.py", "exec"), namespace)
    key = namespace["_version_key"]
    gatts, gattc = key("1.20.2.rc2"), key("1.20.2.r2")
    assert f"{gattc} if gattc else {gatts}" in SOURCE  # the thresholds _two_arg_handlers() uses
    assert [key(v) >= gatts for v in ("1.18.2.r7", "1.20.1", "1.20.1.r2", "1.20.2.rc1")] == [False] * 4
    assert [key(v) >= gatts for v in ("1.20.2.rc2", "1.20.2.rc11", "1.20.2.r0", "1.20.2.r4")] == [True] * 4
    assert [key(v) >= gattc for v in ("1.20.2.rc11", "1.20.2.r1", "1.20.2.r2", "1.20.2.r7")] == [
        False,
        False,
        True,
        True,
    ]
