"""The simulated board. The rest of pytool reaches it only through its registry record: a serial port
(pty path or RFC2217 URL), a control socket (resets, faults) and an HCI transport (the BLE radio)."""
