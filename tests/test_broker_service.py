"""The broker as a service (docs/operations.md, step 1): Debian's mosquitto.service, with the
drop-in systemd/mosquitto.service.d/dho.conf, runs Mosquitto on the configuration `centre
broker-config` writes, persistence included. (Included into Debian's own mosquitto.conf, as the
docs once said, Mosquitto refused to start: that file sets persistence_location already.)"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from centre.admin import broker_config, init_centre
from testbed.broker import Broker
from testbed.processes import free_port
from tests.test_units import SYSTEMD, unit_settings

DROP_IN = SYSTEMD / "mosquitto.service.d" / "dho.conf"
WRITTEN_TO = Path("/etc/mosquitto/dho")  # `centre broker-config --out`, as the docs run it


def exec_start() -> list[str]:
    values = [
        value
        for section, key, value in unit_settings(DROP_IN.read_text())
        if (section, key) == ("Service", "ExecStart")
    ]
    assert values[0] == "", "Debian's own ExecStart is cleared first"
    return shlex.split(values[-1])


def test_the_drop_in_runs_mosquitto_on_the_configuration_broker_config_writes(
    tmp_path: Path,
) -> None:
    exe, option, conf = exec_start()
    assert Path(exe).exists() and option == "-c"
    assert Path(conf) == WRITTEN_TO / "mosquitto.conf"
    hub_port, centre_port = free_port(), free_port()
    state = tmp_path / "state"
    centre = init_centre(
        tmp_path / "centre.toml", state, "127.0.0.1", centre_port, "127.0.0.1", hub_port
    )
    persistence = tmp_path / "persistence"
    persistence.mkdir()
    files = broker_config(
        centre,
        tmp_path / "broker",
        hub_bind="127.0.0.1",
        persistence_dir=persistence,
        run_as="root" if os.geteuid() == 0 else None,
    )
    assert files.conf.relative_to(tmp_path / "broker") == Path(conf).relative_to(WRITTEN_TO)
    broker = Broker(tmp_path / "broker", files.conf, hub_port, centre_port)  # [exe, -c, conf]
    broker.stop()
    assert (persistence / "mosquitto.db").exists(), "the broker keeps its sessions on disk"
