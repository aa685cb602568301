"""What a long outage leaves in a hub's store: readings stored and sealed, none sent."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hub.config import load_config
from hub.core.reading import NewReading
from hub.devices.blood_pressure import build_blood_pressure_measurement
from hub.store import ReadingStore
from hub.wire.sealing import ItemSealer

CUFF = "00002a35-0000-1000-8000-00805f9b34fb"
FIRST = datetime(2026, 1, 1)


def fill_outbox(hub_config: Path, n: int, first: int = 0) -> None:
    """Store n distinct blood-pressure readings (systolic and seq tell them apart), sealed as the
    daemon would; the daemon must not be running (it is the only writer). `first`: readings of
    another call with a different `first` are other readings (different bytes)."""
    config = load_config(hub_config)
    store = ReadingStore(config.db_path, sealer=ItemSealer(config.hub_id, config.centre.encryption))
    store.db.execute("PRAGMA synchronous=OFF")  # set-up, not what a test or bench measures
    try:
        for i in range(first, first + n):
            systolic, diastolic, pulse = 100 + i % 80, 60 + i % 30, 60 + i % 40
            # A time stamp of its own makes every reading's bytes unique.
            stamp = FIRST + timedelta(seconds=i)
            data = build_blood_pressure_measurement(
                systolic, diastolic, 80, pulse_rate=pulse, timestamp=stamp
            )
            store.add(
                NewReading(
                    kind="blood_pressure",
                    characteristic=CUFF,
                    device_address="00:BB:00:00:00:02",
                    device_time=stamp.isoformat(),
                    received_at="2026-11-22T10:40:01.000+00:00",
                    raw_hex=data.hex(),
                    values={
                        "systolic": float(systolic),
                        "diastolic": float(diastolic),
                        "mean_arterial_pressure": 80.0,
                        "unit": "mmHg",
                        "pulse_rate": float(pulse),
                        "filled": i,
                    },
                    measured_at="2026-11-22T10:40:01.000+00:00",
                    hub_clock_synced=True,
                )
            )
    finally:
        store.db.execute("PRAGMA synchronous=FULL")
        store.close()
