"""The demo: a simulated home (emulated devices, BlueZoo, Mosquitto, centre, hub) plus the screen.

    python -m testbed.demo [--lang en] [--quick | --every 180] [--headless] [--devices cuff ...]

The devices take turns, at a person's pace by default: one measurement in the home every three
minutes, so each of the five devices measures every quarter of an hour; `--quick` makes it one
every ten seconds.

Ctrl-C (SIGINT), SIGTERM and closing its terminal (SIGHUP) stop everything it started and remove
its work folder (unless --keep): tests/test_demo_signals.py. A demo killed with SIGKILL cannot
clean up itself: a small watchdog it starts does, when the demo's end closes its pipe.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any
from zoneinfo import ZoneInfo

from hub.config import load_config
from hub.core.health import KIND as HEALTH_KIND
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.__main__ import KINDS
from testbed.processes import RUN_MARKER, end_carrying, stop_all

DEMO_DEVICES = list(KINDS)  # a home with every kind of device the hub reads

# Seconds between two measurements in the home. A person's pace: she goes from one device to the
# next every few minutes, not every few seconds. The quick version is for a look at the screens.
PERSON_PACE = 180.0
QUICK_PACE = 10.0  # time to read a result and tap OK before the next one comes
# The first device measures soon after the start (a demo that shows nothing for three minutes
# looks broken); the others follow one turn each.
FIRST_AFTER = 30.0


@dataclass(frozen=True)
class Turn:
    """When one emulated device measures: first after `first` seconds, then every `every`."""

    kind: str
    first: float
    every: float


def turns(devices: list[str], gap: float) -> list[Turn]:
    """The devices take turns, one measurement in the home every `gap` seconds: so none measure
    at the same moment, and each one measures every `gap` times the number of devices."""
    lead = min(gap, FIRST_AFTER)
    return [Turn(kind, lead + i * gap, gap * len(devices)) for i, kind in enumerate(devices)]


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lang", choices=["nb", "nn", "en"], default="nb")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--every",
        type=_seconds,
        default=PERSON_PACE,
        metavar="SECONDS",
        help="seconds between two measurements in the home; the devices take turns "
        "(default: %(default)s, a person's pace)",
    )
    pace.add_argument(
        "--quick",
        dest="every",
        action="store_const",
        const=QUICK_PACE,
        help=f"the quick demo: a measurement every {QUICK_PACE:g} seconds",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="print readings instead of opening the patient screen",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument(
        "--devices",
        nargs="+",
        choices=sorted(KINDS),
        default=DEMO_DEVICES,
        help="emulated devices in the home (default: %(default)s)",
    )
    return parser


# Closing the terminal (SIGHUP), `kill` (SIGTERM) and Ctrl-C (SIGINT) all stop the demo.
STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
# Seconds the demo's processes have to end on SIGTERM before SIGKILL ends them.
GRACE = 5.0
DEMO_HEALTH_EVERY_S = 60.0  # the hub's health on the technician's page, a minute old at most
SCREEN_CLOSE_S = 5.0  # after a stop signal, the screen's time to close before it is left


class Stop(BaseException):
    """A signal asked the demo to stop. Not an Exception, so no `except Exception` on the way
    out holds it up (as KeyboardInterrupt is not)."""


class Stopping:
    """The demo's signal handler: the first signal raises Stop where the demo is (or, while the
    patient screen runs, asks the screen to close, so that it gives the terminal back as it
    found it); a signal during shutdown does not interrupt it but cuts the grace short."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.shutting_down = False
        self.hurry = False
        self.screen: Any = None  # the Textual app while it runs

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is None:
            self.signal = signum
            loop = _running_loop()
            if self.screen is not None and loop is not None:
                loop.call_soon_threadsafe(self.screen.exit)
                # A screen that does not close (its terminal gone under it) is left by a second
                # signal of our own: one closed terminal sends only the one SIGHUP.
                nudge = threading.Timer(SCREEN_CLOSE_S, self._screen_still_open, (signum,))
                nudge.daemon = True
                nudge.start()
                return
            raise Stop  # headless or starting up: stop wherever the demo is
        # A second signal: only hurries the shutdown, never interrupts it; but a screen that
        # did not close on the first one is left at once.
        self.hurry = True
        if self.screen is not None and not self.shutting_down:
            raise Stop

    def _screen_still_open(self, signum: int) -> None:
        if self.screen is not None and not self.shutting_down:
            os.kill(os.getpid(), signum)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _say(text: str) -> None:
    """Print, unless the terminal is gone (SIGHUP): stopping must go on without it."""
    with contextlib.suppress(OSError, ValueError):
        print(text, flush=True)


def main() -> None:
    args = parser().parse_args()
    stopping = Stopping()
    for signum in STOP_SIGNALS:
        signal.signal(signum, stopping)
    workdir = Path(tempfile.mkdtemp(prefix="dho-demo-", dir="/tmp"))
    watchdog = None
    home: SimulatedHome | None = None
    try:
        # Every process the demo starts inherits this: what escaped the demo's own bookkeeping
        # is still found by it, and by the watchdog.
        os.environ[RUN_MARKER] = str(workdir)
        watchdog = _start_watchdog(workdir, args.keep)
        _say(f"Starting a simulated home in {workdir} (logs in {workdir / 'logs'}) ...")
        home = SimulatedHome(workdir)
        home.health_every_s = DEMO_HEALTH_EVERY_S
        _run(home, workdir, args, stopping)
    except Stop:
        pass
    finally:
        stopping.shutting_down = True
        _say("Stopping the simulated home ...")
        if home is not None:
            # The hub, the centre and the devices first, while the bus and the broker they
            # talk to are still there: the hub does not end within the grace without its bus.
            stop_all(GRACE, hurry=lambda: stopping.hurry, only=home.processes)
        stop_all(GRACE, hurry=lambda: stopping.hurry)
        end_carrying(str(workdir), grace=0.0 if stopping.hurry else 2.0)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        if watchdog is not None:
            watchdog.close()  # all done: the watchdog finds nothing left and ends
        _say("Stopped.")


def _run(home: SimulatedHome, workdir: Path, args: argparse.Namespace, stopping: Stopping) -> None:
    home.start_centre()
    _, web = home.start_web()
    nurse = home.add_people(team=DEMO_TEAM, password=DEMO_PASSWORD)
    # In the nurse's team: a technician deploys equipment to the patients of her teams.
    technician = home.add_user(
        "tekniker", "technician", [DEMO_TEAM], DEMO_PASSWORD, "Tora Tekniker"
    )
    home.start_hub()
    for turn in turns(args.devices, args.every):
        home.start_device(turn.kind, KINDS[turn.kind][2], turn.every, turn.first)
    for kind in args.devices:
        # What the technician does at installation: pair each device with the hub.
        device = home.pair(DEVICE_ADAPTERS[KINDS[kind][2]])
        _say(f"paired {kind}: {device['address']} ({device['profile']})")
    _send_care_plan(home, workdir)
    _print_web(web, nurse, technician)
    _say(
        "The hub's commands (hub status, hub doctor, hub devices) on this simulated home:\n"
        f"  export DBUS_SYSTEM_BUS_ADDRESS={home.env['DBUS_SYSTEM_BUS_ADDRESS']}\n"
        f"  .venv/bin/hub --config {home.hub_config} status\n"
    )
    socket_path = load_config(home.hub_config).socket_path
    if args.headless:
        _print_readings(home)
    else:
        from hub.ui.app import PatientScreenApp

        stopping.screen = PatientScreenApp(socket_path, args.lang)
        try:
            stopping.screen.run()  # until the patient's screen is closed, or a signal closes it
        finally:
            stopping.screen = None


def _start_watchdog(workdir: Path, keep: bool) -> IO[bytes]:
    """A small process in a session of its own that waits for the demo to end (its pipe closes
    however the demo ends, SIGKILL included) and then ends whatever still carries the demo's
    marker and removes the work folder (unless --keep)."""
    read_end, write_end = os.pipe()  # not inherited by the demo's other children
    subprocess.Popen(
        [sys.executable, "-m", "testbed.processes", "watch", str(workdir)]
        + (["--keep"] if keep else []),
        stdin=read_end,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={k: v for k, v in os.environ.items() if k != RUN_MARKER},
    )
    os.close(read_end)
    return os.fdopen(write_end, "wb")


SCHEDULE = [
    {"kind": "blood_pressure", "times": ["08:00", "20:00"]},
    {"kind": "spo2", "times": ["08:00"]},
    {"kind": "weight", "times": ["07:30"]},
    {"kind": "questionnaire", "times": ["09:00"]},
]
DEMO_PLAN = {
    "schedule": SCHEDULE,
    "thresholds": {
        "blood_pressure": {"systolic": {"min": 90, "max": 160}},
        "spo2": {"spo2": {"min": 92}},
    },
    "questionnaire": {"resourceType": "Questionnaire", "url": "urn:dho:questionnaire:copd-daily"},
    "centre_phone": "+47 55 00 00 00",
}


DEMO_PASSWORD = "demo-sykepleier-passord"  # a demo only (both users): never a real centre's
DEMO_TEAM = "Oppfølging Bergen"


def _print_web(address: str, nurse: dict[str, str], technician: dict[str, str]) -> None:
    _say(
        f"\nThe follow-up centre's web: {address}/\n"
        f"  nurse: {nurse['username']}, password: {nurse['password']}\n"
        f"  second factor: add {nurse['otpauth_uri']} to an authenticator app, or get\n"
        f"  the code now with: .venv/bin/python -m testbed.totp {nurse['totp_secret']}\n"
        f"  technician (Hubs and devices, Equipment): {technician['username']}, password:"
        f" {technician['password']}, code: .venv/bin/python -m testbed.totp"
        f" {technician['totp_secret']}\n"
    )


def plan_around(now: datetime) -> dict[str, object]:
    """DEMO_PLAN with its times at this hour and the next (local time), so the demo's
    measurements are on time rather than all at an odd hour."""
    hour = now.astimezone(ZoneInfo("Europe/Oslo")).hour
    this, later = f"{hour:02d}:00", f"{(hour + 1) % 24:02d}:00"
    times = {"blood_pressure": [this, later], "questionnaire": [later]}
    kinds = [str(entry["kind"]) for entry in SCHEDULE]
    schedule = [{"kind": kind, "times": times.get(kind, [this])} for kind in kinds]
    return {**DEMO_PLAN, "schedule": schedule}


def _send_care_plan(home: SimulatedHome, workdir: Path) -> None:
    """What the nurse does: a care plan with a schedule, limits and the daily COPD check."""
    path = workdir / "care-plan.json"
    path.write_text(json.dumps(plan_around(datetime.now(UTC))))
    result = home.centre_cli("send-care-plan", home.hub_id, str(path))
    _say("care plan sent" if result.returncode == 0 else f"care plan: {result.stderr.strip()}")


def _print_readings(home: SimulatedHome) -> None:
    seen: set[int] = set()
    _say("Headless demo: printing each reading the centre stores. Ctrl-C stops.")
    while True:
        time.sleep(1)
        for process in home.processes:
            process.check_alive()
        with contextlib.suppress(RuntimeError):
            for row in home.centre_readings():
                if row["seq"] not in seen:
                    seen.add(row["seq"])
                    if row["kind"] != HEALTH_KIND:  # the technician's, on Hubs and devices
                        _say(f"centre stored seq {row['seq']}: {json.dumps(row['values'])}")


if __name__ == "__main__":
    main()
