"""`hub`: the command on the Raspberry Pi (daemon, patient screen, technician tools)."""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import Any

from hub.config import HubConfig, load_config
from hub.errors import HubError

DEFAULT_CONFIG = Path(os.environ.get("DHO_HUB_CONFIG", "/etc/dho-hub/hub.toml"))


class DaemonRefused(HubError, RuntimeError):
    """The daemon is not running or answered a technician's request with an error."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("DHO_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result: int = args.func(args)
        return result
    except HubError as exc:  # meant for the technician: the words, no traceback
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    except FileExistsError as exc:
        print(
            f"hub: {exc.filename} exists already; a hub identity is never overwritten. "
            "Remove it by hand only if this hub is being reset for a new patient.",
            file=sys.stderr,
        )
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description=__doc__)
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help="hub config file (default: %(default)s, or $DHO_HUB_CONFIG)",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the hub daemon (the only writer of the reading store)")
    p.set_defaults(func=_run)

    p = sub.add_parser("ui", help="run the patient screen")
    p.add_argument("--lang", choices=["nb", "nn", "en"], help="language (default: from config)")
    p.set_defaults(func=_ui)

    p = sub.add_parser("readings", help="list stored readings with their sync state")
    p.add_argument("--json", action="store_true", help="print JSON (one array)")
    p.set_defaults(func=_readings)

    p = sub.add_parser(
        "decode",
        help="decode characteristic values: decode UUID HEX [HEX...]; "
        "with no arguments, reads 'UUID HEX' lines from stdin",
    )
    p.add_argument("uuid", nargs="?")
    p.add_argument("hex", nargs="*")
    p.set_defaults(func=_decode)

    p = sub.add_parser(
        "pair",
        help="pair a health device with this hub (put the device in pairing mode first)",
    )
    p.add_argument(
        "--address",
        help="the device's Bluetooth address (default: the first new "
        "health device that advertises)",
    )
    p.add_argument(
        "--passkey",
        type=_passkey,
        help="the 6-digit PIN the device shows, for meters that ask for one",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to look for it")
    p.set_defaults(func=_pair)

    p = sub.add_parser("devices", help="list the devices paired with this hub")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_devices)

    p = sub.add_parser("forget", help="unpair a device (before it goes to another patient)")
    p.add_argument("address")
    p.set_defaults(func=_forget)

    p = sub.add_parser(
        "provision",
        help="make this hub itself: install the enrolment "
        "bundle from `centre enrol` (keys, certificates, centre, broker)",
    )
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument(
        "--centre-key",
        metavar="FINGERPRINT",
        help="the centre's key fingerprint, as `centre enrol` printed it: the "
        "bundle is refused if it comes from another centre",
    )
    p.add_argument("--adapter", default="hci0")
    p.add_argument("--language", choices=["nb", "nn", "en"], default="nb")
    p.add_argument(
        "--socket-dir",
        type=Path,
        default=Path("/run/dho-hub"),
        help="where the daemon's local socket goes (default: %(default)s, the "
        "directory dho-hub.service makes for it)",
    )
    p.set_defaults(func=_provision)
    return parser


def _passkey(text: str) -> int:
    if not (text.isdigit() and len(text) <= 6):
        raise argparse.ArgumentTypeError("the passkey is the (up to) 6 digits the device shows")
    return int(text)


def _ask_daemon(
    args: argparse.Namespace, op: str, wait_s: float, **params: object
) -> dict[str, Any]:
    from hub import ipc

    config = _config(args)
    try:
        answer = ipc.request_blocking(config.socket_path, op, timeout=wait_s, **params)
    except ipc.DaemonUnavailable as exc:
        raise DaemonRefused(f"{exc}; start it first (systemctl start dho-hub)") from None
    if not answer.get("ok"):
        raise DaemonRefused(answer.get("error", "the hub daemon refused"))
    return answer


def _pair(args: argparse.Namespace) -> int:
    answer = _ask_daemon(
        args,
        "pair",
        args.timeout + 30,
        address=args.address,
        passkey=args.passkey,
        scan_s=args.timeout,
    )
    print(json.dumps(answer["device"]))
    return 0


def _devices(args: argparse.Namespace) -> int:
    devices = _ask_daemon(args, "devices", 10)["devices"]
    if args.json:
        print(json.dumps(devices, indent=2))
        return 0
    for d in devices:
        battery = "?" if d["battery_level"] is None else d["battery_level"]
        print(
            f"{d['address']}  {d['profile']:<16} {d['name'] or '-':<24} "
            f"last seen {d['last_connected_at'] or 'never'}  "
            f"clock set {d['clock_set_at'] or 'never'}  battery {battery} %"
        )
    return 0


def _forget(args: argparse.Namespace) -> int:
    _ask_daemon(args, "forget", 30, address=args.address)
    print(f"{args.address.upper()} is no longer paired with this hub")
    return 0


def _config(args: argparse.Namespace) -> HubConfig:
    return load_config(args.config)


def _run(args: argparse.Namespace) -> int:
    from hub.daemon import run

    run(_config(args))
    return 0


def _ui(args: argparse.Namespace) -> int:
    from hub.ui.app import run

    config = _config(args)
    # The screen owns the terminal: log to a file, not over the patient's display.
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    root.addHandler(_ui_log_handler(config.state_dir / "ui.log"))
    run(config.socket_path, args.lang or config.language)
    return 0


def _ui_log_handler(path: Path, journal: Path = Path("/dev/log")) -> logging.Handler:
    """A file in the state dir (the demo, a technician's shell); under systemd the screen's
    own user cannot write there, so the journal's socket; never the patient's display."""
    handler: logging.Handler
    try:
        handler = logging.FileHandler(path)
    except OSError:
        try:
            handler = logging.handlers.SysLogHandler(address=str(journal))
        except OSError:
            return logging.NullHandler()
        handler.setFormatter(logging.Formatter("dho-hub-ui: %(levelname)s %(name)s: %(message)s"))
        return handler
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def _readings(args: argparse.Namespace) -> int:
    from hub import ipc
    from hub.store import ReadingStore, StoreError

    config = _config(args)
    try:
        rows = ipc.request_blocking(config.socket_path, "readings", timeout=30)["readings"]
    except ipc.DaemonUnavailable:
        if not config.db_path.exists():
            raise StoreError(
                f"no reading store at {config.db_path}: has `hub run` started?"
            ) from None
        rows = [r.to_json() for r in ReadingStore(config.db_path, readonly=True).all()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            state = "synced" if r["synced"] else "waiting"
            outcome = r.get("outcome", "ok")
            if r.get("problems"):
                outcome += " (" + ", ".join(r["problems"]) + ")"
            print(
                f"{r['seq']:>6} {r['kind']:<16} measured {r.get('measured_at')} "
                f"[{r.get('time_source')}] {state:<8} {outcome} {json.dumps(r['values'])}"
            )
    return 0


def _decode(args: argparse.Namespace) -> int:
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


def _provision(args: argparse.Namespace) -> int:
    # Certificates and enrolment are loaded here only: `hub run` never needs them (issue 12).
    from hub.provision import provision

    bundle = provision(  # a refused bundle is a HubError: main prints it
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


if __name__ == "__main__":
    sys.exit(main())
