"""The technician's `hub` subcommands: readings, decode, pair, devices, forget, provision,
set-technician-pin.

Each takes the parsed command line and returns the exit status; what goes wrong on purpose is a
HubError, which `hub` prints as one line (hub/cli.py). They ask the daemon over its socket with
the typed contract (hub/local_protocol.py); only `readings` opens the store, read-only, when
the daemon does not answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TypeVar

from hub import ipc
from hub.config import HubConfig, load_config, to_toml
from hub.errors import HubError
from hub.local_protocol import (
    Answer,
    Device,
    DevicesAnswer,
    DevicesRequest,
    ForgetAnswer,
    ForgetRequest,
    PairAnswer,
    PairRequest,
    ReadingsAnswer,
    ReadingsRequest,
    Refusal,
    Request,
)

A = TypeVar("A", bound=Answer)


class DaemonRefused(HubError, RuntimeError):
    """The daemon is not running or answered a technician's request with an error."""


def _config(args: argparse.Namespace) -> HubConfig:
    return load_config(args.config)


def _ask(args: argparse.Namespace, req: Request, model: type[A], wait_s: float) -> A:
    config = _config(args)
    try:
        answer = ipc.ask_blocking(config.socket_path, req, model, wait_s)
    except ipc.DaemonUnavailable as exc:
        raise DaemonRefused(f"{exc}; start it first (systemctl start dho-hub)") from None
    if isinstance(answer, Refusal):
        raise DaemonRefused(answer.error)
    return answer


def readings(args: argparse.Namespace) -> int:
    config = _config(args)
    try:
        answer = ipc.ask_blocking(config.socket_path, ReadingsRequest(), ReadingsAnswer, 30)
    except ipc.DaemonUnavailable:
        answer = None
    if isinstance(answer, Refusal):
        raise DaemonRefused(answer.error)
    if answer is not None:
        rows = [r.model_dump(mode="json") for r in answer.readings]
    else:
        rows = _readings_from_file(config)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        state = "synced" if r["synced"] else "waiting"
        outcome = r["outcome"]
        if r["problems"]:
            outcome += " (" + ", ".join(r["problems"]) + ")"
        print(
            f"{r['seq']:>6} {r['kind']:<16} measured {r['measured_at']} "
            f"[{r['time_source']}] {state:<8} {outcome} {json.dumps(r['values'])}"
        )
    return 0


def _readings_from_file(config: HubConfig) -> list[dict[str, object]]:
    """The daemon is down: read its store read-only (it stays the only writer)."""
    from hub.store import ReadingStore, StoreError

    if not config.db_path.exists():
        raise StoreError(f"no reading store at {config.db_path}: has `hub run` started?")
    return [r.to_json() for r in ReadingStore(config.db_path, readonly=True).all()]


def decode(args: argparse.Namespace) -> int:
    from hub.devices.decode import decode
    from hub.devices.errors import ParseError

    if args.uuid is None:
        pairs = [line.split(None, 1) for line in sys.stdin if line.strip()]
        items = [(p[0], p[1].strip() if len(p) > 1 else "") for p in pairs]
    else:
        items = [(args.uuid, h) for h in args.hex]
    failed = 0
    for uuid, text in items:
        try:
            data = bytes.fromhex(text.replace(":", "").replace(" ", ""))
            print(json.dumps(decode(uuid, data)))
        except ValueError as exc:  # ParseError is a ValueError too
            kind = "cannot decode" if isinstance(exc, ParseError) else "not hex"
            print(json.dumps({"error": f"{kind}: {exc}", "uuid": uuid, "hex": text}))
            failed += 1
    return 1 if failed else 0


NO_DEVICES = "No devices are paired with this hub."


def pair(args: argparse.Namespace) -> int:
    req = PairRequest(address=args.address, passkey=args.passkey, scan_s=args.timeout)
    answer = _ask(args, req, PairAnswer, args.timeout + 30)
    print(answer.device.model_dump_json())
    # The JSON stays on stdout for scripts; the sentence goes to the technician.
    print(clock_sentence(answer.device, _hub_clock_synchronised(args)), file=sys.stderr)
    return 0


def _hub_clock_synchronised(args: argparse.Namespace) -> bool:
    """Asked the way the daemon asks (same config, same kernel) when it decided at pairing."""
    from hub.clock import hub_clock_synchronised

    return hub_clock_synchronised(_config(args).clock.source)


def clock_sentence(device: Device, hub_clock_synced: bool) -> str:
    """Whether pairing set the device's clock, and if not, why and what happens next."""
    if device.clock_set_at is not None:
        return f"The device's clock was set to the hub's time at {device.clock_set_at}."
    if not hub_clock_synced:
        return (
            "The device's clock was NOT set: the hub's own clock is not synchronised (no NTP "
            "time yet; check the network and `timedatectl`). The hub sets it at the first "
            "connection after its clock is synchronised; readings until then are stamped "
            "with the time the hub received them."
        )
    return (
        "The device's clock was not set: it offers no clock the hub may set (no writable "
        "Current Time or Date Time, or its model's clock is left alone, docs/devices.md)."
    )


def devices(args: argparse.Namespace) -> int:
    found = _ask(args, DevicesRequest(), DevicesAnswer, 10).devices
    if args.json:
        print(json.dumps([d.model_dump(mode="json") for d in found], indent=2))
        return 0
    if not found:
        print(NO_DEVICES)
        return 0
    for d in found:
        battery = "?" if d.battery_level is None else d.battery_level
        print(
            f"{d.address}  {d.profile:<16} {d.name or '-':<24} "
            f"last seen {d.last_connected_at or 'never'}  "
            f"clock set {d.clock_set_at or 'never'}  battery {battery} %"
        )
    return 0


def forget(args: argparse.Namespace) -> int:
    answer = _ask(args, ForgetRequest(address=args.address), ForgetAnswer, 30)
    print(f"{answer.address} is no longer paired with this hub")
    return 0


def provision(args: argparse.Namespace) -> int:
    # Certificates and enrolment are loaded here only: `hub run` never needs them.
    from hub.technician.provision import provision

    bundle = provision(  # a refused bundle is a HubError: `hub` prints it
        args.config,
        args.bundle,
        args.state_dir,
        expected_centre=args.centre_key,
        adapter=args.adapter,
        language=args.language,
        socket_dir=args.socket_dir,
    )
    print(
        json.dumps(
            {
                "hub_id": bundle.hub_id,
                "config": str(args.config),
                "broker": f"{bundle.broker_host}:{bundle.broker_port}",
            }
        )
    )
    return 0


def wipe(args: argparse.Namespace) -> int:
    """Erase this hub for the next patient (hub/technician/wipe.py says in what order, and
    what an overwrite on an SD card does not guarantee)."""
    from hub.technician.wipe import WipeRefused, refuse_if_running, wipe

    config = _config(args)
    refuse_if_running(config)  # before asking: a running daemon is the first thing to fix
    if not args.yes:
        print(
            f"This erases hub {config.hub_id} for the next patient: its keys, every reading, "
            f"answer and message in {config.state_dir}, its logs there and {args.config}, and "
            "unpairs its devices. Nothing can be recovered, and what the centre has not "
            f"acknowledged is lost. Type the hub id ({config.hub_id}) to go on: ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        typed = sys.stdin.readline().strip()
        if typed != config.hub_id:
            raise WipeRefused("not confirmed: nothing was erased")
    result = wipe(config, args.config)
    print(
        f"hub {result.hub_id} wiped: {len(result.secrets)} key files erased first, then "
        f"{len(result.data)} files (store, logs, config); bonds removed: "
        f"{', '.join(result.bonds_removed) or 'none'}."
    )
    for address, why in result.bonds_kept:
        print(
            f"The bond with {address} was NOT removed ({why}): remove it with "
            f"`bluetoothctl remove {address}`.",
            file=sys.stderr,
        )
    if result.devices_unknown:
        print(
            "The store could not be read, so which devices were paired is unknown: list "
            "them with `bluetoothctl devices Paired` and `bluetoothctl remove` each.",
            file=sys.stderr,
        )
    if result.left:
        names = ", ".join(str(p) for p in result.left)
        print(
            f"Not erased, not written by the hub: {names}. Look at them and remove them by "
            "hand before the hub goes to the next patient.",
            file=sys.stderr,
        )
    if not result.complete:
        return 1
    print(f"The hub is ready for `hub provision` ({config.state_dir}).")
    return 0


PIN_TABLE = "[technician_pin]"


def set_technician_pin(args: argparse.Namespace) -> int:
    """Set (or with --remove, take away) the touchscreen's technician PIN: only its salted
    hash goes into hub.toml. The daemon reads it when it starts: restart dho-hub after."""
    from hub.config import TechnicianPin
    from hub.core.technician_pin import hash_pin

    load_config(args.config)  # a hub config that loads, before anything is asked or written
    text = args.config.read_text()
    kept = _without_pin_table(text)
    if args.remove:
        if kept == text:
            print("No technician PIN was set: nothing changed.", file=sys.stderr)
            return 0
        _replace_config(args.config, kept)
        print(
            "The technician PIN is removed: the touchscreen offers no technician mode once "
            "dho-hub and dho-hub-ui are restarted.",
            file=sys.stderr,
        )
        return 0
    pin = TechnicianPin.of(hash_pin(_read_pin()))  # PinRefused (a HubError) says what a PIN is
    table = to_toml({"technician_pin": pin.model_dump()})  # one table, "\n[...]" first
    _replace_config(args.config, kept.rstrip("\n") + "\n" + table)
    print(
        "The technician PIN is set (its salted hash is in the config). Restart dho-hub and "
        "dho-hub-ui: then five taps within 4 seconds on the sentence under the top band open "
        "technician mode.",
        file=sys.stderr,
    )
    return 0


def _read_pin() -> str:
    """The PIN, typed twice without echo at a terminal, or one line on stdin (a script)."""
    import getpass

    from hub.core.technician_pin import PinRefused, check_pin_text

    if not sys.stdin.isatty():
        return check_pin_text(sys.stdin.readline().rstrip("\r\n"))
    pin = check_pin_text(getpass.getpass("Technician PIN (6 to 12 digits): "))
    if getpass.getpass("The same PIN again: ") != pin:
        raise PinRefused("the two PINs differ: nothing changed")
    return pin


def _without_pin_table(text: str) -> str:
    """The config's text without its [technician_pin] table (every other line as it was, so a
    technician's comments stay)."""
    lines, out, inside = text.splitlines(keepends=True), [], False
    for line in lines:
        header = line.strip()
        if header.startswith("["):
            inside = header.split("#", 1)[0].strip() == PIN_TABLE
        if not inside:
            out.append(line)
    return "".join(out)


def _replace_config(path: Path, text: str) -> None:
    """Write the new config next to the old, check that it loads, then put it in place
    (rename: a reader sees the old file or the new, never half of one), keeping its mode."""
    import os
    import tempfile

    mode = path.stat().st_mode & 0o777
    fd, name = tempfile.mkstemp(prefix=".hub-", suffix=".toml", dir=path.parent)
    new = Path(name)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(new, mode)
        load_config(new)  # never put a config in place that the daemon would refuse
        os.replace(new, path)
    finally:
        new.unlink(missing_ok=True)
