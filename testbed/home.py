"""A provisioned simulated home: BlueZoo, Mosquitto, a centre and a hub, each a real process."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from centre.admin import broker_config, enrol_hub, init_centre, load_ca, public_keys
from centre.config import load_centre_config
from centre.serve import TAKING_BATCHES
from centre.web.serve import SERVING
from hub import ipc
from hub.config import load_config, to_toml
from hub.files import write_secret
from hub.mqtt import client_context, mqtt_client
from hub.technician.provision import provision
from hub.wire.pki import issue
from testbed.bluetooth import SimulatedBluetooth
from testbed.broker import Broker
from testbed.processes import Process, free_port, wait_until


class SimulatedHome:
    def __init__(self, workdir: Path, hub_id: str = "hub-sim-0001") -> None:
        self.workdir = workdir
        self.hub_id = hub_id
        self.processes: list[Process] = []
        # The hub's health reports (sync.health_every_s), applied by start_hub: none by default,
        # since most tests count the hub's items by number; a test of them sets seconds.
        self.health_every_s = 0.0
        self.centre_config = workdir / "centre" / "centre.toml"
        hub_port, centre_port = free_port(), free_port()
        self.centre = init_centre(
            self.centre_config,
            workdir / "centre" / "state",
            "127.0.0.1",
            centre_port,
            "127.0.0.1",
            hub_port,
        )
        # What the centre's operator does: a broker with TLS listeners and ACLs for it.
        broker_files = broker_config(
            self.centre,
            workdir / "broker",
            hub_bind="127.0.0.1",
            run_as="root" if os.geteuid() == 0 else None,
        )
        self.bluetooth = SimulatedBluetooth(workdir / "bt")
        try:
            self.broker = Broker(workdir / "broker", broker_files.conf, hub_port, centre_port)
        except BaseException:
            self.bluetooth.stop()
            raise
        try:
            self.hub_config = workdir / "hub" / "hub.toml"
            # What the technician does: `centre enrol`, then `hub provision --bundle` on the hub.
            self.bundle = workdir / "hub" / "bundle.json"
            write_secret(self.bundle, enrol_hub(self.centre, hub_id))
            provision(
                self.hub_config,
                self.bundle,
                workdir / "hub" / "state",
                expected_centre=public_keys(self.centre)["fingerprint"],
                adapter="hci0",
                # The bench's own clock stands in for an NTP-synchronised hub.
                clock_source="assume_synchronised",
            )
            # Emulated devices go quiet at once when done; a short quiet period keeps tests brisk.
            self.configure_hub(
                bluetooth={"adapter": "hci0", "quiet_disconnect_s": 2.0, "scan_window_s": 5.0},
                sync={"health_every_s": self.health_every_s},
            )
        except BaseException:  # a failure or a signal (the demo's Stop): nothing left running
            self.broker.stop()
            self.bluetooth.stop()
            raise

    def configure_hub(self, **sections: dict[str, Any]) -> None:
        """Change settings in the hub's config file (before the daemon starts)."""
        data = load_config(self.hub_config).model_dump(mode="json")
        for name, values in sections.items():
            data[name] = {**data.get(name, {}), **values}
        self.hub_config.write_text(to_toml(data))
        load_config(self.hub_config)

    @property
    def env(self) -> dict[str, str]:
        return {**self.bluetooth.env, "PYTHONUNBUFFERED": "1"}

    def _start(self, name: str, argv: list[str]) -> Process:
        process = Process(name, argv, self.workdir / "logs" / f"{name}.log", env=self.env)
        self.processes.append(process)
        return process

    def start_centre(self, worker: int = 1, *, taking_batches: bool = False) -> Process:
        """Start a centre worker; with `taking_batches`, return only once its subscription is
        acknowledged (a batch published before that has no subscriber and is not kept)."""
        name = "centre" if worker == 1 else f"centre-{worker}"
        centre = self._start(
            name,
            [
                sys.executable,
                "-m",
                "centre.cli",
                "--config",
                str(self.centre_config),
                "serve",
                "--worker",
                str(worker),
            ],
        )
        if taking_batches:

            def subscribed() -> bool:
                centre.check_alive()
                return TAKING_BATCHES in centre.tail(200)

            wait_until(subscribed, 30, "the centre to take batches", interval=0.1)
        return centre

    def start_web(self) -> tuple[Process, str]:
        """Start `centre web` on a free port; return it and its address once it listens."""
        port = free_port()
        web = self._start(
            "web",
            [
                sys.executable,
                "-m",
                "centre.cli",
                "--config",
                str(self.centre_config),
                "web",
                "--port",
                str(port),
            ],
        )

        def listening() -> bool:
            web.check_alive()
            return SERVING in web.tail(200)

        wait_until(listening, 60, "the centre's web to listen", interval=0.1)
        return web, f"http://127.0.0.1:{port}"

    def add_people(
        self, team: str = "Oppfølging Bergen", nurse: str = "sykepleier", password: str = ""
    ) -> dict[str, str]:
        """What the centre's administrator does: a team in a municipality, this hub's patient
        (a care episode with the hub starting now), a nurse in the team with a second factor.
        Returns the nurse's user name, password and TOTP secret."""
        for args in (
            ("add-team", team, "--municipality", "Bergen", "--number", "4601"),
            (
                "add-patient",
                "Kari Nordmann",
                "--birth-date",
                "1965-07-15",
                "--national-id",
                "15076500565",  # the example number Skatteetaten and Wikipedia give
                "--diagnosis",
                "copd",
                "--team",
                team,
                "--hub",
                self.hub_id,
                "--relatives",
                "Ola Nordmann (sønn), 900 00 000",
            ),
        ):
            done = self.centre_cli(*args)
            if done.returncode != 0:
                raise RuntimeError(f"centre {args[0]} failed: {done.stderr}")
        return self.add_nurse(nurse, team, password)

    def add_nurse(self, username: str, team: str, password: str = "") -> dict[str, str]:
        return self.add_user(username, "nurse", [team], password, "Siri Sykepleier")

    def add_user(
        self, username: str, role: str, teams: list[str], password: str = "", name: str = ""
    ) -> dict[str, str]:
        """`centre add-user` as the administrator runs it; her name, password and TOTP secret."""
        args = ["add-user", username, "--role", role, "--name", name]
        for team in teams:
            args += ["--team", team]
        done = subprocess.run(
            [sys.executable, "-m", "centre.cli", "--config", str(self.centre_config), *args]
            + (["--password-stdin"] if password else []),
            input=password + "\n" if password else None,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, **self.env},
        )
        if done.returncode != 0:
            raise RuntimeError(f"centre add-user failed: {done.stderr}")
        made: dict[str, str] = json.loads(done.stdout)
        return {"password": password, **made}

    def start_hub(self) -> Process:
        """Start the hub daemon and return once it answers on its socket."""
        # A config a test made unreadable on purpose is left as it is, for the hub to refuse.
        with contextlib.suppress(ValueError, OSError):
            self.configure_hub(sync={"health_every_s": self.health_every_s})
        hub = self._start(
            "hub", [sys.executable, "-m", "hub.cli", "--config", str(self.hub_config), "run"]
        )
        socket_path = load_config(self.hub_config).socket_path

        def answering() -> bool:
            hub.check_alive()
            try:
                return bool(ipc.request_blocking(socket_path, "status", timeout=1.0)["ok"])
            except ipc.DaemonUnavailable:
                return False

        wait_until(answering, 30, "the hub daemon to answer on its socket", interval=0.1)
        return hub

    def start_device(
        self, kind: str, adapter: str, every: float, first: float | None = None
    ) -> Process:
        """An emulated device that measures every `every` seconds, the first time after `first`
        (default: `every`)."""
        timing = ["--every", str(every)] + ([] if first is None else ["--first", str(first)])
        return self._start(
            kind,
            [sys.executable, "-m", "testbed.peripherals", kind, "--adapter", adapter, *timing],
        )

    def pair(
        self, address: str | None = None, passkey: int | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        """What a technician does: `hub pair` with the device in pairing mode."""
        args = ["pair", "--timeout", str(timeout)]
        if address:
            args += ["--address", address]
        if passkey is not None:
            args += ["--passkey", f"{passkey:06d}"]  # leading zeros are part of it
        result = self.hub_cli(*args, timeout=timeout + 40)
        if result.returncode != 0:
            raise RuntimeError(f"hub pair failed: {result.stderr.strip()}")
        device: dict[str, Any] = json.loads(result.stdout)
        return device

    def hub_cli(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", "--config", str(self.hub_config), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.env},
        )

    def centre_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "centre.cli", "--config", str(self.centre_config), *args],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, **self.env},
        )

    def hub_readings(self) -> list[dict[str, Any]]:
        """What `hub readings --json` prints, asked of the daemon's socket directly (a test
        polls this many times; starting the CLI each time costs a Python start-up)."""
        rows: list[dict[str, Any]] = self._ask_hub("readings")["readings"]
        return rows

    def ask_hub(self, op: str, **params: object) -> dict[str, Any]:
        """Any request to the daemon's socket, answer as given (`ok` may be false)."""
        answer: dict[str, Any] = ipc.request_blocking(
            load_config(self.hub_config).socket_path, op, timeout=30, **params
        )
        return answer

    def hub_status(self) -> dict[str, Any]:
        """What the patient screen polls (asked of the daemon's socket)."""
        return self._ask_hub("status")

    def hub_devices(self) -> list[dict[str, Any]]:
        """What `hub devices --json` prints (asked of the daemon's socket)."""
        devices: list[dict[str, Any]] = self._ask_hub("devices")["devices"]
        return devices

    def _ask_hub(self, op: str) -> dict[str, Any]:
        answer = ipc.request_blocking(load_config(self.hub_config).socket_path, op, timeout=30)
        if not answer.get("ok"):
            raise RuntimeError(f"hub {op} failed: {answer}")
        return answer

    def centre_readings(self) -> list[dict[str, Any]]:
        result = self.centre_cli("readings", "--json")
        if result.returncode != 0:
            raise RuntimeError(f"centre readings failed: {result.stderr}")
        rows: list[dict[str, Any]] = json.loads(result.stdout)
        return rows

    def centre_rejections(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(self.centre_cli("rejections").stdout)
        return rows

    def mqtt_client(
        self, name: str, client_id: str | None = None, centre_side: bool = False
    ) -> mqtt.Client:
        """A connected MQTT v5 client with a certificate for `name` from the centre's CA: a
        hub (on the hubs' listener) or, with `centre_side`, a centre worker."""
        identity = issue(load_ca(self.centre), name)
        folder = self.workdir / "clients" / f"{name}-{os.urandom(4).hex()}"
        write_secret(folder / "client.crt", identity.cert_pem)
        write_secret(folder / "client.key", identity.key_pem)
        context = client_context(
            self.centre.ca_cert_path, folder / "client.crt", folder / "client.key"
        )
        client = mqtt_client(client_id or name, context)
        port = self.broker.centre_port if centre_side else self.broker.port
        client.connect("127.0.0.1", port)
        return client

    def broker_log(self) -> str:
        return (self.workdir / "broker" / "mosquitto.log").read_text(errors="replace")

    @property
    def centre_state(self) -> Path:
        return load_centre_config(self.centre_config).state_dir

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.broker.stop()
        self.bluetooth.stop()
