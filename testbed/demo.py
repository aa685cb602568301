"""The demo: a simulated home (emulated devices, BlueZoo, Mosquitto, centre, hub) plus the screen.

    python -m testbed.demo [--lang en] [--quick | --every 180] [--headless] [--devices cuff ...]

The devices take turns, at a person's pace by default: one measurement in the home every three
minutes, so each of the five devices measures every quarter of an hour; `--quick` makes it one
every ten seconds.

Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.config import load_config
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.__main__ import KINDS

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


def main() -> None:
    args = parser().parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dho-demo-", dir="/tmp"))
    print(f"Starting a simulated home in {workdir} (logs in {workdir / 'logs'}) ...")
    home = SimulatedHome(workdir)
    # SIGTERM (e.g. from a terminal closing) takes the same path out as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        home.start_centre()
        _, web = home.start_web()
        nurse = home.add_people(password=DEMO_PASSWORD)
        home.start_hub()
        for turn in turns(args.devices, args.every):
            home.start_device(turn.kind, KINDS[turn.kind][2], turn.every, turn.first)
        for kind in args.devices:
            # What the technician does at installation: pair each device with the hub.
            device = home.pair(DEVICE_ADAPTERS[KINDS[kind][2]])
            print(f"paired {kind}: {device['address']} ({device['profile']})")
        _send_care_plan(home, workdir)
        _print_web(web, nurse)
        socket_path = load_config(home.hub_config).socket_path
        if args.headless:
            _print_readings(home)
        else:
            from hub.ui.app import run

            run(socket_path, args.lang)
    except KeyboardInterrupt:
        pass
    finally:
        print("Stopping the simulated home ...")
        home.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        print("Stopped.")


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


DEMO_PASSWORD = "demo-sykepleier-passord"  # a demo only: never a real centre's


def _print_web(address: str, nurse: dict[str, str]) -> None:
    print(
        f"\nThe follow-up centre's web: {address}/\n"
        f"  nurse: {nurse['username']}, password: {nurse['password']}\n"
        f"  second factor: add {nurse['otpauth_uri']} to an authenticator app, or get\n"
        f"  the code now with: .venv/bin/python -m testbed.totp {nurse['totp_secret']}\n"
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
    print("care plan sent" if result.returncode == 0 else f"care plan: {result.stderr.strip()}")


def _print_readings(home: SimulatedHome) -> None:
    seen: set[int] = set()
    print("Headless demo: printing each reading the centre stores. Ctrl-C stops.")
    while True:
        time.sleep(1)
        for process in home.processes:
            process.check_alive()
        with contextlib.suppress(RuntimeError):
            for row in home.centre_readings():
                if row["seq"] not in seen:
                    seen.add(row["seq"])
                    print(f"centre stored seq {row['seq']}: {json.dumps(row['values'])}")


if __name__ == "__main__":
    main()
