# A GATT server declared with pytool's device_lib (synced into /flash/lib): typed values, one handler
# signature on every firmware, exceptions contained, and the test probe recording every callback.
import pytool_gatt as gatt


def on_setpoint(char, value):
    print('setpoint is now {}'.format(value))
    if value > 30:
        raise ValueError('setpoint {} is too high'.format(value))  # contained by the helper: callbacks live on


srv = gatt.Server('PyThermo')
svc = srv.service('7079746f-6f6c-0020-8000-746865726d6f')
temp = svc.char('7079746f-6f6c-0021-8000-746865726d6f', 'temp', fmt='i16le', value=215, notify=True)
setpoint = svc.char('7079746f-6f6c-0022-8000-746865726d6f', 'setpoint', fmt='u8', value=20, write=True,
                    on_write=on_setpoint)
srv.start()
print('thermostat ready')
