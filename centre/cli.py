"""`centre`: the reference receiver at the follow-up centre."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from centre.admin import EnrolmentError
from centre.config import load_centre_config
from hub.config import ConfigError
from hub.keys import KeyFileError

DEFAULT_CONFIG = Path(os.environ.get("DHO_CENTRE_CONFIG", "/etc/dho-centre/centre.toml"))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("DHO_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result: int = args.func(args)
        return result
    except (ConfigError, KeyFileError, EnrolmentError) as exc:
        print(f"centre: {exc}", file=sys.stderr)
        return 2
    except FileExistsError as exc:
        print(f"centre: {exc.filename} exists already; centre keys are never overwritten.",
              file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="centre", description=__doc__)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="centre config file (default: %(default)s, or $DHO_CENTRE_CONFIG)")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    p = sub.add_parser("init", help="create the centre's keys and config")
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--mqtt-host", default="localhost")
    p.add_argument("--mqtt-port", type=int, default=1883)
    p.set_defaults(func=_init)
    p = sub.add_parser("public-keys", help="print the public keys a hub must be given")
    p.set_defaults(func=_public_keys)
    p = sub.add_parser("enrol", help="enrol a hub's signing key: enrol HUB_ID SIGNING_KEY")
    p.add_argument("hub_id")
    p.add_argument("signing_key")
    p.set_defaults(func=_enrol)
    p = sub.add_parser("serve", help="receive batches, store them, acknowledge")
    p.set_defaults(func=_serve)
    p = sub.add_parser("readings", help="print the readings the centre holds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_readings)
    p = sub.add_parser("rejections", help="print refused messages and why")
    p.set_defaults(func=_rejections)
    return parser


def _init(args: argparse.Namespace) -> int:
    from centre.admin import init_centre, public_keys

    config = init_centre(args.config, args.state_dir, args.mqtt_host, args.mqtt_port)
    print(json.dumps(public_keys(config)))
    return 0


def _public_keys(args: argparse.Namespace) -> int:
    from centre.admin import public_keys

    print(json.dumps(public_keys(load_centre_config(args.config))))
    return 0


def _enrol(args: argparse.Namespace) -> int:
    from centre.admin import enrol_hub

    enrol_hub(load_centre_config(args.config), args.hub_id, args.signing_key)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from centre.serve import serve

    serve(load_centre_config(args.config))
    return 0


def _readings(args: argparse.Namespace) -> int:
    from centre.store import CentreStore

    rows = CentreStore(load_centre_config(args.config).db_path).readings()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['hub_id']} {r['seq']:>6} {r['kind']:<16} {json.dumps(r['values'])}")
    return 0


def _rejections(args: argparse.Namespace) -> int:
    from centre.store import CentreStore

    print(json.dumps(CentreStore(load_centre_config(args.config).db_path).rejections(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
