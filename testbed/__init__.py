"""A simulated home for tests, benchmarks and the demo: private D-Bus with BlueZoo, Mosquitto,
and helpers to start the hub and the centre as real processes. Not used on a real hub."""
