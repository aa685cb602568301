"""`centre`: the reference receiver at the follow-up centre."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from centre.config import CentreConfig, load_centre_config
from centre.errors import CentreError
from hub.config import ConfigError
from hub.errors import HubError

# The top-level modules of the `centre` extra's packages (pyproject.toml).
CENTRE_EXTRA = frozenset(
    {"django", "dj_database_url", "argon2", "psycopg", "django_otp", "axes", "waitress"}
    | {"whitenoise", "authlib", "joserfc", "requests"}
)
DEFAULT_CONFIG = Path(os.environ.get("DHO_CENTRE_CONFIG", "/etc/dho-centre/centre.toml"))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Bytes that are not UTF-8 come in as surrogates, which no database takes: refused here,
    # once, for every command (a path may hold them: the file system takes it as it is).
    for name, value in vars(args).items():
        if isinstance(value, str) and not _is_utf8(value):
            print(f"centre: {name} is not valid UTF-8 text; type it again", file=sys.stderr)
            return 2
    logging.basicConfig(
        level=os.environ.get("DHO_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result: int = args.func(args)
        return result
    except ModuleNotFoundError as exc:  # a hub's install: the centre's extra is not there
        if exc.name is None or exc.name.split(".")[0] not in CENTRE_EXTRA:
            raise
        print(
            f"centre: {exc.name} is not installed: the centre needs the software installed with "
            "its extra, `pip install 'dho-hub[centre]'` (docs/operations.md)",
            file=sys.stderr,
        )
        return 2
    except (CentreError, HubError) as exc:  # meant for the operator: the words, no traceback
        print(f"centre: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"centre: not a valid document: {exc}", file=sys.stderr)
        return 2
    except FileExistsError as exc:
        print(
            f"centre: {exc.filename} exists already; the centre never writes over a key, a "
            "bundle or a config: give another path, or move that one away.",
            file=sys.stderr,
        )
        return 2


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="centre", description=__doc__)
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help="centre config file (default: %(default)s, or $DHO_CENTRE_CONFIG)",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    p = sub.add_parser("init", help="create the centre's keys, CA and config")
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument(
        "--mqtt-host", default="localhost", help="the broker as the centre's workers reach it"
    )
    p.add_argument("--mqtt-port", type=int, default=8884)
    p.add_argument(
        "--hub-broker-host",
        required=True,
        help="the broker as hubs reach it (goes into every enrolment bundle)",
    )
    p.add_argument("--hub-broker-port", type=int, default=8883)
    p.add_argument(
        "--suite",
        choices=["x25519", "mlkem768-x25519"],
        default="x25519",
        help="HPKE suite of the centre's encryption key (mlkem768-x25519: hybrid post-quantum)",
    )
    p.add_argument(
        "--database",
        help="the centre's database URL, postgresql://user@host:5432/name for a shared "
        "centre (default: SQLite in the state folder)",
    )
    p.set_defaults(func=_init)
    p = sub.add_parser("migrate", help="make or update the centre's database tables")
    p.set_defaults(func=_migrate)
    p = sub.add_parser("public-keys", help="print the centre's public keys and fingerprint")
    p.set_defaults(func=_public_keys)
    p = sub.add_parser("enrol", help="enrol a hub: issue its identity and write its bundle")
    p.add_argument("hub_id")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="where to write the bundle (a secret: it holds the hub's keys)",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="the hub id is enrolled already: give it new keys and revoke its old certificate "
        "(the hub that has them now is cut off)",
    )
    p.set_defaults(func=_enrol)
    p = sub.add_parser(
        "revoke",
        help="shut a hub out (stolen, lost, retired): its certificate "
        "goes on the broker's revocation list, its batches are refused; it comes "
        "back only through `enrol --replace`, under a new certificate",
    )
    p.add_argument("hub_id")
    p.set_defaults(func=_revoke)
    p = sub.add_parser(
        "broker-config", help="write a Mosquitto config, certificates and ACLs for this centre"
    )
    p.add_argument("--out", type=Path, required=True, help="directory, e.g. /etc/mosquitto/dho")
    p.add_argument("--hub-bind", default="0.0.0.0", help="address of the hubs' listener")
    p.add_argument(
        "--centre-bind", default="127.0.0.1", help="address of the centre workers' listener"
    )
    p.add_argument("--persistence-dir", type=Path, help="Mosquitto's persistence directory")
    p.add_argument("--user", help="the user Mosquitto runs as (default: its own)")
    p.set_defaults(func=_broker_config)
    p = sub.add_parser(
        "send-care-plan",
        help="sign and send a hub its care plan (JSON file: "
        "schedule, thresholds, questionnaire, centre_phone)",
    )
    p.add_argument("hub_id")
    p.add_argument("file", type=Path)
    p.set_defaults(func=_send_care_plan)
    p = sub.add_parser("send-message", help="send the patient at a hub a message")
    p.add_argument("hub_id")
    p.add_argument("text")
    p.set_defaults(func=_send_message)
    p = sub.add_parser("rotate-key", help="make a new encryption key and tell every hub")
    p.add_argument("--suite", choices=["x25519", "mlkem768-x25519"], default="x25519")
    p.set_defaults(func=_rotate_key)
    p = sub.add_parser("serve", help="receive batches, store them, acknowledge")
    p.add_argument(
        "--worker",
        type=int,
        default=1,
        help="this worker's number; run several (1, 2, ...) to share the load",
    )
    p.set_defaults(func=_serve)
    p = sub.add_parser("web", help="serve the nurses' web application")
    p.add_argument("--port", type=int, help="listen on this port (default: [web] port)")
    p.set_defaults(func=_web)
    p = sub.add_parser(
        "add-user", help="make a user of the web with a role, teams and a second factor"
    )
    p.add_argument("username")
    p.add_argument("--role", required=True, help="nurse, team_lead, technician or administrator")
    p.add_argument("--team", action="append", default=[], help="a team she works in (repeat)")
    p.add_argument("--name", default="", help="her full name, as pages show it")
    p.add_argument(
        "--municipality-number", help="the teams' municipality, when two teams share a name"
    )
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    p.add_argument(
        "--oidc-subject",
        help="who she is at the OIDC provider ([web.oidc] subject_claim: HelseID's pid or sub)",
    )
    p.set_defaults(func=_add_user)
    p = sub.add_parser("link-oidc", help="link an existing user to who she is at the OIDC provider")
    p.add_argument("username")
    p.add_argument("subject", help="her value of [web.oidc] subject_claim (HelseID: her pid)")
    p.set_defaults(func=_link_oidc)
    p = sub.add_parser(
        "disable-user",
        help="shut a user out of the web (she left, her account was misused): her sessions end",
    )
    p.add_argument("username")
    p.set_defaults(func=_disable_user)
    p = sub.add_parser("enable-user", help="let a user switched off sign in again")
    p.add_argument("username")
    p.set_defaults(func=_enable_user)
    for command, what in (
        ("add-team-member", "put an existing user in a team: she sees its patients"),
        ("remove-team-member", "take a user out of a team: she no longer sees its patients"),
    ):
        p = sub.add_parser(command, help=what)
        p.add_argument("username")
        p.add_argument("team")
        p.add_argument(
            "--municipality-number", help="the team's municipality, when two teams share its name"
        )
        p.set_defaults(func=_team_member, joining=command == "add-team-member")
    p = sub.add_parser(
        "list-teams",
        help="print every team, one JSON object a line: its municipality, its members and roles",
    )
    p.set_defaults(func=_list_teams)
    p = sub.add_parser(
        "list-users",
        help="print every user, one JSON object a line: name, role, active, teams, second "
        "factor and OIDC link set or not (never a secret)",
    )
    p.set_defaults(func=_list_users)
    p = sub.add_parser("add-team", help="make a team of nurses in a municipality")
    p.add_argument("team")
    p.add_argument("--municipality", required=True, help="its name, e.g. Bergen")
    p.add_argument("--number", required=True, help="its four-digit municipality number")
    p.set_defaults(func=_add_team)
    p = sub.add_parser("add-patient", help="register a patient (and her hub's care episode)")
    p.add_argument("name")
    p.add_argument("--birth-date", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    p.add_argument("--national-id", required=True, help="11 digits (fødselsnummer, D-number)")
    p.add_argument(
        "--diagnosis",
        required=True,
        choices=["copd", "heart_failure", "diabetes", "cancer", "other"],
    )
    p.add_argument("--team", required=True)
    p.add_argument(
        "--municipality-number", help="the team's municipality, when two teams share its name"
    )
    p.add_argument("--hub", help="the hub she measures with: a care episode starts now")
    p.add_argument("--relatives", default="", help="her relatives' contact")
    p.set_defaults(func=_add_patient)
    p = sub.add_parser("end-episode", help="end the care episode of the patient with this hub")
    p.add_argument("hub")
    p.set_defaults(func=_end_episode)
    from centre.equipment.commands import add_commands  # `centre equipment ...` (issue 15)

    add_commands(sub)
    p = sub.add_parser("readings", help="print the readings the centre holds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_readings)
    p = sub.add_parser("rejections", help="print refused messages and why")
    p.set_defaults(func=_rejections)
    return parser


def _init(args: argparse.Namespace) -> int:
    from centre.admin import init_centre, public_keys

    config = init_centre(
        args.config,
        args.state_dir,
        args.mqtt_host,
        args.mqtt_port,
        args.hub_broker_host,
        args.hub_broker_port,
        args.suite,
        args.database,
    )
    print(_json(public_keys(config)))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    import secrets

    from centre.store import CentreStore
    from centre.web.runtime import setup
    from hub.files import write_secret

    config = load_centre_config(args.config)
    setup(config)
    CentreStore(config.database_url, migrate=True)
    if not config.web_secret_path.exists():  # a centre from before issue 13 has none
        write_secret(config.web_secret_path, secrets.token_urlsafe(48).encode())
    print(_json({"database": "up to date"}))
    return 0


def _public_keys(args: argparse.Namespace) -> int:
    from centre.admin import public_keys

    print(_json(public_keys(load_centre_config(args.config))))
    return 0


def _enrol(args: argparse.Namespace) -> int:
    from centre.admin import EnrolmentError, enrol_hub, public_keys
    from hub.files import write_secret

    config = load_centre_config(args.config)
    if args.out.exists():  # before enrolling: a key recorded for a bundle never written is lost
        raise FileExistsError(errno.EEXIST, "exists", str(args.out))
    try:  # the file made first, empty: a bundle that cannot be written enrols nothing
        write_secret(args.out, b"")
    except OSError as exc:
        raise EnrolmentError(
            f"cannot write the bundle to {args.out}: {exc.strerror}. Nothing was enrolled; "
            "give another --out"
        ) from None
    try:
        replaces = _current_certificate(config, args.hub_id)
        bundle = enrol_hub(config, args.hub_id, again=args.replace)
    except BaseException:
        args.out.unlink()
        raise
    with args.out.open("r+b") as f:
        f.write(bundle)
        f.flush()
        os.fsync(f.fileno())
    print(
        _json(
            {
                "hub_id": args.hub_id,
                "bundle": str(args.out),
                "centre_fingerprint": public_keys(config)["fingerprint"],
                **_revoked_note(replaces),
            }
        )
    )
    return 0


def _current_certificate(config: CentreConfig, hub_id: str) -> str | None:
    from centre.store import CentreStore

    return CentreStore(config.database_url).hub_certificate(hub_id)


def _revoked_note(serial: str | None) -> dict[str, str | None]:
    """What the operator must do after a certificate was revoked."""
    from centre.revocation import RESTART_BROKER

    if serial is None:
        return {}
    return {
        "revoked_certificate": serial,
        "then": f"restart the broker ({RESTART_BROKER}): it refuses the revoked "
        "certificate from then on and drops a connection that uses it",
    }


def _revoke(args: argparse.Namespace) -> int:
    from centre.admin import load_ca
    from centre.revocation import revoke_hub

    config = load_centre_config(args.config)
    done = revoke_hub(config, load_ca(config), args.hub_id)
    note: dict[str, str | None]
    if not done.changed and done.listed_before:  # run twice: the broker was told the first time
        print(f"centre: hub {done.hub_id} was revoked already; nothing changed", file=sys.stderr)
        note = {
            "revoked_certificate": done.serial,
            "note": f"hub {done.hub_id} was revoked already: nothing changed",
        }
    elif done.serial:
        note = _revoked_note(done.serial)
    else:
        note = {
            "revoked_certificate": None,
            "then": "its batches are refused; its certificate was issued before the centre "
            "recorded serials and cannot be listed (docs/security.md, Known gaps)",
        }
    if not done.changed and not done.listed_before:  # an earlier run could not write a list
        note["note"] = (
            f"hub {done.hub_id} was revoked already, but a revocation list did not name it "
            "yet (the earlier run could not write it): it does now"
        )
    shown = {"hub_id": done.hub_id, "crl": [str(p) for p in done.crl_paths], **note}
    print(_json({**shown, "changed": done.changed}))
    return 0


def _broker_config(args: argparse.Namespace) -> int:
    from centre.admin import broker_config

    files = broker_config(
        load_centre_config(args.config),
        args.out,
        hub_bind=args.hub_bind,
        centre_bind=args.centre_bind,
        persistence_dir=args.persistence_dir,
        run_as=args.user,
    )
    print(
        _json(
            {
                "conf": str(files.conf),
                "hub_acl": str(files.hub_acl),
                "centre_acl": str(files.centre_acl),
            }
        )
    )
    return 0


def _send(config_path: Path, hub_id: str, doc_type: str, content: dict[str, object]) -> int:
    from centre.downlink import issue, publish

    config = load_centre_config(config_path)
    outgoing = issue(config, hub_id, doc_type, content)
    publish(config, [outgoing])
    print(_json({"hub_id": hub_id, "type": doc_type, "version": outgoing.version}))
    return 0


def _send_care_plan(args: argparse.Namespace) -> int:
    from hub.wire.strict import unique_keys

    try:
        # A key given twice is refused (json keeps the last); what else a hub would refuse (a
        # NaN limit) is refused by check_sendable, saying so, before a version is spent.
        content = json.loads(args.file.read_text(), object_pairs_hook=unique_keys)
    except (OSError, ValueError) as exc:  # KeyTwice is a ValueError
        raise ConfigError(f"cannot read care plan {args.file}: {exc}") from exc
    return _send(args.config, args.hub_id, "care_plan", content)


def _send_message(args: argparse.Namespace) -> int:
    from hub.core.screen_text import MESSAGE_ROWS, message_rows

    rows = message_rows(args.text)
    if rows > MESSAGE_ROWS:  # the web's message form says the same
        raise ConfigError(
            f"the message takes {rows} lines on the patient's screen, which shows "
            f"{MESSAGE_ROWS} whole: shorten it, or send it as two messages"
        )
    return _send(args.config, args.hub_id, "message", {"text": args.text})


def _rotate_key(args: argparse.Namespace) -> int:
    from centre.downlink import publish, rotate_key

    config = load_centre_config(args.config)
    key_id, notices = rotate_key(config, args.suite)
    publish(config, notices)
    print(_json({"key_id": key_id, "suite": args.suite, "hubs_told": len(notices)}))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from centre.serve import serve

    serve(load_centre_config(args.config), args.worker)
    return 0


def _web(args: argparse.Namespace) -> int:
    from centre.web.serve import serve_web

    # The pages that send documents to hubs read the config where the web's settings do.
    os.environ["DHO_CENTRE_CONFIG"] = str(args.config.resolve())
    serve_web(load_centre_config(args.config), args.port)
    return 0


def _add_user(args: argparse.Namespace) -> int:
    _people_database(args)  # Django first: the accounts module loads its models
    from centre.web.accounts import add_user

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    made = add_user(
        args.username,
        args.role,
        args.team,
        password,
        args.name,
        args.municipality_number,
        oidc_subject=args.oidc_subject,
    )
    shown = {"username": made.username, "totp_secret": made.totp_secret}
    if password is None:
        shown["password"] = made.password  # made here: shown once, never stored in clear
    print(_json({**shown, "otpauth_uri": made.otpauth_uri}))
    return 0


def _link_oidc(args: argparse.Namespace) -> int:
    _people_database(args)
    from centre.web.accounts import link_oidc

    link_oidc(args.username, args.subject)
    print(_json({"username": args.username, "oidc_subject": args.subject.strip()}))
    return 0


def _disable_user(args: argparse.Namespace) -> int:
    _people_database(args)
    from centre.web.accounts import switch_off

    ended = switch_off(args.username)
    print(_json({"username": args.username, "active": False, "sessions_ended": ended}))
    return 0


def _enable_user(args: argparse.Namespace) -> int:
    _people_database(args)
    from centre.web.accounts import switch_on

    switch_on(args.username)
    print(_json({"username": args.username, "active": True}))
    return 0


def _team_member(args: argparse.Namespace) -> int:
    _people_database(args)
    from centre.web.accounts import join_team, leave_team

    change = join_team if args.joining else leave_team
    changed = change(args.username, args.team, args.municipality_number)
    if not changed:  # run twice, or by two administrators: nothing to do is no failure
        state = "in that team already" if args.joining else "not in that team"
        print(f"centre: {args.username} is {state}; nothing changed", file=sys.stderr)
    shown = {"username": args.username, "team": args.team, "member": args.joining}
    print(_json({**shown, "changed": changed}))
    return 0


def _list_teams(args: argparse.Namespace) -> int:
    _people_database(args)
    from centre.people.registry import list_teams

    return _print_lines(list_teams(), "no teams yet: make one with `centre add-team`")


def _list_users(args: argparse.Namespace) -> int:
    _people_database(args)
    from centre.web.accounts import list_users

    return _print_lines(list_users(), "no users yet: make one with `centre add-user`")


def _print_lines(records: list[dict[str, object]], when_none: str) -> int:
    """One JSON object a line (grep finds a user or a team, each line parses on its own); none
    at all is said on standard error, so that standard output stays the list (empty)."""
    if not records:
        print(f"centre: {when_none}", file=sys.stderr)
    for record in records:
        print(_json(record))
    return 0


def _json(value: object, indent: int | None = None) -> str:
    """JSON as a person reads it: Norwegian letters as they are ("Oppfølging", not
    "Oppf\\u00f8lging"). What a terminal would act on rather than show stays escaped, as
    ensure_ascii=False alone leaves it raw: json escapes only the C0 controls, not a C1 CSI or
    a right-to-left override in a stored name. All of it is escaped, as before, when standard
    output cannot encode it (a terminal in Latin-1 given a name in another script)."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    if not all(line.isprintable() for line in text.split("\n")):  # indent's newlines are fine
        # Only inside strings (outside is ASCII), where the escape means the same character.
        text = "".join(c if c.isprintable() or c == "\n" else json.dumps(c)[1:-1] for c in text)
    try:
        text.encode(sys.stdout.encoding or "utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, indent=indent)
    return text


def _people_database(args: argparse.Namespace) -> None:
    from centre.store import CentreStore
    from centre.web.runtime import setup

    config = load_centre_config(args.config)
    setup(config)
    CentreStore(config.database_url)
    from django.utils import translation

    translation.activate("en")  # the command line speaks English, its messages included


def _add_team(args: argparse.Namespace) -> int:
    _people_database(args)
    from centre.people.registry import add_team

    print(_json({"team": args.team, "id": add_team(args.municipality, args.number, args.team)}))
    return 0


def _add_patient(args: argparse.Namespace) -> int:
    _people_database(args)
    from centre.people.registry import add_patient, find_team

    made = add_patient(
        args.name,
        args.birth_date,
        args.national_id,
        args.diagnosis,
        find_team(args.team, args.municipality_number),
        args.hub,
        args.relatives,
    )
    print(_json({"patient": made, "hub": args.hub}))
    return 0


def _end_episode(args: argparse.Namespace) -> int:
    _people_database(args)
    from centre.people.registry import end_episode

    print(_json({"hub": args.hub, "episode_ended": end_episode(args.hub)}))
    return 0


def _readings(args: argparse.Namespace) -> int:
    from centre.store import CentreStore

    rows = CentreStore(load_centre_config(args.config).database_url).readings()
    if args.json:
        print(_json(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['hub_id']} {r['seq']:>6} {r['kind']:<16} {_json(r['values'])}")
    return 0


def _rejections(args: argparse.Namespace) -> int:
    from centre.store import CentreStore

    print(_json(CentreStore(load_centre_config(args.config).database_url).rejections(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
