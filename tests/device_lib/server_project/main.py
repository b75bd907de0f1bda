# device_lib's over-the-air test server: every feature of pytool_gatt, checked from the host through the
# probe (over serial and over the air). Globals stay reachable from the REPL (board.exec).
import pytool_gatt as gatt

SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
LEVEL = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
SETPOINT = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"
COUNT = "6e400004-b5a3-f393-e0a9-e50e24dcca9e"
LABEL = "6e400005-b5a3-f393-e0a9-e50e24dcca9e"
ALARM = "6e400006-b5a3-f393-e0a9-e50e24dcca9e"

written = []
reads = [0]


def on_setpoint(char, value):
    written.append(value)
    if value == 13:
        raise ValueError("unlucky setpoint")


def on_count(char):
    reads[0] += 1
    return 0x01020300 + reads[0]


srv = gatt.Server("devlib-test", probe=True)
svc = srv.service(SERVICE)
level = svc.char(LEVEL, "level", fmt="u16le", value=0x1234, notify=True)
setpoint = svc.char(SETPOINT, "setpoint", fmt="u8", value=20, write=True, on_write=on_setpoint)
count = svc.char(COUNT, "count", fmt="u32be", value=0, on_read=on_count)
label = svc.char(LABEL, "label", fmt="utf8", value="hello", write=True)
alarm = svc.char(ALARM, "alarm", fmt="u8", value=0, read=False, indicate=True)
srv.start()
print("devlib server up, tuple handlers:", gatt.tuple_handlers())
