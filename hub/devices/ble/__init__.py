"""The Bluetooth shell: sessions with devices through bleak and BlueZ."""
