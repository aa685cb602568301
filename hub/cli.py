"""`hub`: the command on the Raspberry Pi (daemon, patient screen, technician tools)."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
from collections.abc import Callable
from pathlib import Path

from hub.config import HubConfig, load_config
from hub.errors import HubError
from hub.update.commands import add_parser as add_update_parser

DEFAULT_CONFIG = Path(os.environ.get("DHO_HUB_CONFIG", "/etc/dho-hub/hub.toml"))


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
            f"hub: {exc.filename} exists already; keys are never overwritten. A hub's own "
            "identity goes only with hub wipe (a hub reset for a new patient); a release key "
            "only by your hand, when you mean to replace it.",
            file=sys.stderr,
        )
        return 2
    except BrokenPipeError:  # `hub doctor | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


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
    p.set_defaults(func=_technician("readings"))

    p = sub.add_parser(
        "decode",
        help="decode characteristic values: decode UUID HEX [HEX...]; "
        "with no arguments, reads 'UUID HEX' lines from stdin",
    )
    p.add_argument("uuid", nargs="?")
    p.add_argument("hex", nargs="*")
    p.set_defaults(func=_technician("decode"))

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
    p.set_defaults(func=_technician("pair"))

    p = sub.add_parser("devices", help="list the devices paired with this hub")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_technician("devices"))

    p = sub.add_parser("forget", help="unpair a device (before it goes to another patient)")
    p.add_argument("address")
    p.set_defaults(func=_technician("forget"))

    p = sub.add_parser(
        "set-technician-pin",
        help="set the PIN that opens technician mode on the touchscreen (6 to 12 digits, "
        "typed twice, or one line on stdin); only its salted hash is kept in the config",
    )
    p.add_argument("--remove", action="store_true", help="remove the PIN: no technician mode")
    p.set_defaults(func=_technician("set_technician_pin"))

    p = sub.add_parser(
        "wipe",
        help="erase this hub for the next patient: keys first, then readings, answers, "
        "messages and logs; unpair its devices (stop dho-hub first)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=_technician("wipe"))

    p = sub.add_parser(
        "status",
        help="what the hub is doing: broker, deliveries, outbox, care plan, clock, devices, "
        "screen (asks the daemon; exit 2 if it is not running)",
    )
    p.add_argument("--json", action="store_true", help="print JSON (one object)")
    p.set_defaults(func=_lazy("status", "status"))

    p = sub.add_parser(
        "doctor",
        help="check D-Bus and BlueZ, the adapter, the broker, the keys, the clock, the disk, "
        "the devices and the screen: one line each; exit 0 all ok, 1 a problem",
    )
    p.add_argument("--json", action="store_true", help="print JSON (one array)")
    p.add_argument(
        "--quiet-hours",
        type=float,
        default=48.0,
        help="a paired device not heard from for this long is a problem (default: %(default)s)",
    )
    p.set_defaults(func=_lazy("status", "doctor"))

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
    p.set_defaults(func=_technician("provision"))

    add_update_parser(sub)  # hub/update/commands.py: `hub update install|check|rollback|...`
    return parser


def _passkey(text: str) -> int:
    # Checked before anything scans: a wrong PIN would only fail after the whole search.
    # ASCII digits only (str.isdigit takes other scripts' digits, which int() accepts too).
    if not (len(text) == 6 and all("0" <= c <= "9" for c in text)):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a passkey: type exactly the 6 digits the device shows, "
            "leading zeros included (e.g. 012345)"
        )
    return int(text)


def _technician(name: str) -> Callable[[argparse.Namespace], int]:
    """A technician's command, imported only when it runs (hub/technician/commands.py)."""

    def command(args: argparse.Namespace) -> int:
        from hub.technician import commands

        run: Callable[[argparse.Namespace], int] = getattr(commands, name)
        return run(args)

    return command


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A command of hub/technician/<module>.py, imported only when it runs."""

    def command(args: argparse.Namespace) -> int:
        import importlib

        run: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(f"hub.technician.{module}"), name
        )
        return run(args)

    return command


def _config(args: argparse.Namespace) -> HubConfig:
    return load_config(args.config)


def _run(args: argparse.Namespace) -> int:
    from hub.daemon import run
    from hub.technician.probes import require_bluetooth

    config = _config(args)
    # Without the bus the daemon would die of a raw connection error: a sentence instead.
    require_bluetooth(config.bluetooth.adapter)
    run(config)
    return 0


def _ui(args: argparse.Namespace) -> int:
    from functools import partial

    from hub.clock import hub_clock_synchronised
    from hub.ui.app import run

    config = _config(args)
    # The screen owns the terminal: log to a file, not over the patient's display.
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    root.addHandler(_ui_log_handler(config.state_dir / "ui.log"))
    run(
        config.socket_path,
        args.lang or config.language,
        technician=config.technician_pin is not None,
        # As the daemon decides it at pairing: the screen's sentence about the device's clock.
        hub_clock_synced=partial(hub_clock_synchronised, config.clock.source),
    )
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


if __name__ == "__main__":
    sys.exit(main())
