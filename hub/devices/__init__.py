"""BLE health devices: pure parsers for the standard GATT characteristics (one module each, imported
only where needed: the screen does not load them), and the Bluetooth shell in hub/devices/ble."""
