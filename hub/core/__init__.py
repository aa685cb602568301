"""The functional core: pure functions over plain data (no I/O, no BLE, MQTT, SQLite or screen)."""
