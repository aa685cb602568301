"""What a technician at the command line can see and run again: `centre list-teams` and
`centre list-users` (centre/people/registry.py list_teams, centre/web/accounts.py list_users),
one JSON object a line, never a secret; `centre revoke` run twice says it was revoked already
(centre/revocation.py revoke_hub); the centre's JSON shows Norwegian letters as they are, and
what a terminal would act on in a stored name stays escaped. On SQLite and PostgreSQL, through
the real command line (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django_otp.plugins.otp_totp.models import TOTPDevice

from centre.admin import init_centre
from centre.config import load_centre_config
from centre.people.models import Municipality, Team
from centre.revocation import RESTART_BROKER, REVOKED_HUBS, add_broker_crl, read_revoked_hubs
from tests.conftest import centre_cli
from tests.test_web_signin import PASSWORD

Centre = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def config(centre_db: str, tmp_path: Path) -> Path:
    path = tmp_path / "centre.toml"
    init_centre(path, tmp_path / "state", "127.0.0.1", 8884, "127.0.0.1", 8883, database=centre_db)
    return path


@pytest.fixture
def centre(config: Path) -> Centre:
    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return centre_cli(config, *args, stdin=stdin)

    return run


def ok(run: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return run


def records(run: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    """One JSON object a line, each parsed on its own."""
    return [json.loads(line) for line in ok(run).stdout.splitlines()]


def test_an_empty_centre_lists_nothing_and_says_what_to_make(centre: Centre) -> None:
    for command, words in (
        ("list-teams", "centre: no teams yet: make one with `centre add-team`\n"),
        ("list-users", "centre: no users yet: make one with `centre add-user`\n"),
    ):
        run = ok(centre(command))
        assert run.stdout == ""
        assert run.stderr.endswith(words)


def test_the_lists_follow_add_join_and_leave_and_show_no_secret(centre: Centre) -> None:
    for number, place in (("4601", "Bergen"), ("4627", "Askøy")):
        made = ok(centre("add-team", "Oppfølging", "--municipality", place, "--number", number))
        assert '"team": "Oppfølging"' in made.stdout, "Norwegian letters as they are"
    kari = ("kari", "--role", "nurse", "--team", "Oppfølging", "--municipality-number", "4601")
    made_kari = json.loads(
        ok(
            centre("add-user", *kari, "--name", "Kari Nordmann", "--password-stdin", stdin=PASSWORD)
        ).stdout
    )
    made_tekla = json.loads(
        ok(
            centre("add-user", "tekla", "--role", "technician", "--oidc-subject", "13097248022")
        ).stdout
    )
    bergen = {"team": "Oppfølging", "municipality": "Bergen", "number": "4601"}
    askoy = {"team": "Oppfølging", "municipality": "Askøy", "number": "4627"}
    listed = ok(centre("list-teams"))
    assert "Askøy" in listed.stdout and "\\u00f8" not in listed.stdout
    assert records(listed) == [
        {**bergen, "members": [{"username": "kari", "role": "nurse"}]},
        {**askoy, "members": []},
    ]
    ok(centre("add-team-member", "tekla", "Oppfølging", "--municipality-number", "4627"))
    ok(centre("add-team-member", "tekla", "Oppfølging", "--municipality-number", "4601"))
    assert records(centre("list-teams")) == [
        {
            **bergen,
            "members": [
                {"username": "kari", "role": "nurse"},
                {"username": "tekla", "role": "technician"},
            ],
        },
        {**askoy, "members": [{"username": "tekla", "role": "technician"}]},
    ]
    ok(centre("remove-team-member", "tekla", "Oppfølging", "--municipality-number", "4601"))
    ok(centre("disable-user", "kari"))
    users = ok(centre("list-users"))
    assert records(users) == [
        {
            "username": "kari",
            "name": "Kari Nordmann",
            "role": "nurse",
            "active": False,
            "teams": ["Oppfølging (4601)"],
            "second_factor": True,
            "oidc_linked": False,
        },
        {
            "username": "tekla",
            "name": "",
            "role": "technician",
            "active": True,
            "teams": ["Oppfølging (4627)"],
            "second_factor": True,
            "oidc_linked": True,
        },
    ]
    assert records(centre("list-teams"))[0]["members"] == [{"username": "kari", "role": "nurse"}]
    secrets = [made_tekla["password"], PASSWORD, "13097248022"]  # the subject: her pid
    for made in (made_kari, made_tekla):
        user = User.objects.get(username=made["username"])
        secrets += [made["totp_secret"], TOTPDevice.objects.get(user=user).key]
        secrets += [user.password, user.password.rsplit("$", 1)[1]]  # the hash, its digest
    for run in (users, ok(centre("list-teams"))):
        for secret in secrets:
            assert secret not in run.stdout and secret.lower() not in run.stdout.lower()


def test_hostile_stored_names_come_out_one_line_each_and_escaped(centre: Centre) -> None:
    """Names made through the model, past every form: a newline, ESC, a C1 CSI, DEL and a
    right-to-left override. json escapes the first two; the rest stays escaped too, as a
    terminal would act on them; read back, each is the name as stored."""
    place = Municipality.objects.create(name="Bergen\x1b]0;owned\x07", number="4601")
    names = ["Vest\nFalsk linje", "Øst\x1b[2J", "Sør\x9b31m", "Nord\x7f", "Midt\u202etsøV"]
    for name in names:
        Team.objects.create(name=name, municipality=place)
    eve = User.objects.create(username="eve\x1b[2J", first_name="Eve\r\nkari", is_active=True)
    Team.objects.get(name=names[0]).members.add(eve)
    for command, count in (("list-teams", len(names)), ("list-users", 1)):
        run = ok(centre(command))
        lines = run.stdout.splitlines()
        assert len(lines) == count == len(run.stdout.split("\n")) - 1, run.stdout
        assert all(line.isprintable() for line in lines), "no raw control character"
    teams = records(centre("list-teams"))
    assert sorted(str(t["team"]) for t in teams) == sorted(names)
    assert {t["municipality"] for t in teams} == {"Bergen\x1b]0;owned\x07"}
    (vest,) = (t for t in teams if t["team"] == names[0])  # collations differ: found by name
    assert vest["members"] == [{"username": "eve\x1b[2J", "role": None}]
    (user,) = records(centre("list-users"))
    assert (user["username"], user["name"]) == ("eve\x1b[2J", "Eve\r\nkari")
    assert (user["second_factor"], user["oidc_linked"]) == (False, False)


def test_a_terminal_that_cannot_show_a_letter_gets_it_escaped(config: Path) -> None:
    """Standard output in Latin-1: ø as it is; a letter Latin-1 lacks makes the JSON ASCII
    (as before), not a traceback."""
    for name, shown in (
        ("Oppfølging", b'"Oppf\xf8lging"'),
        ("Oppfølging ქ", b'"Oppf\\u00f8lging \\u10e5"'),
    ):
        team = ("add-team", name, "--municipality", "Askøy", "--number", "4627")
        run = subprocess.run(
            [sys.executable, "-m", "centre.cli", "--config", str(config), *team],
            capture_output=True,
            env={**os.environ, "PYTHONIOENCODING": "latin-1"},
            timeout=120,
        )
        assert run.returncode == 0, run.stderr.decode()
        assert shown in run.stdout
        assert json.loads(run.stdout.decode("latin-1"))["team"] == name


def test_revoking_twice_says_it_was_revoked_already(centre: Centre, tmp_path: Path) -> None:
    ok(centre("enrol", "hub-0001", "--out", str(tmp_path / "b1")))
    first = json.loads(ok(centre("revoke", "hub-0001")).stdout)
    assert first["changed"] is True and "note" not in first
    assert RESTART_BROKER in first["then"]
    again = ok(centre("revoke", "hub-0001"))
    said = json.loads(again.stdout)
    assert said == {
        "hub_id": "hub-0001",
        "crl": first["crl"],
        "revoked_certificate": first["revoked_certificate"],
        "note": "hub hub-0001 was revoked already: nothing changed",
        "changed": False,
    }
    assert RESTART_BROKER not in again.stdout
    assert "centre: hub hub-0001 was revoked already; nothing changed" in again.stderr
    lists = Path(first["crl"][0]).with_name(REVOKED_HUBS)
    assert read_revoked_hubs(lists) == ["hub-0001"], "still on the list"


def test_a_revoke_run_again_after_a_list_was_not_written_still_says_to_restart(
    centre: Centre, config: Path, tmp_path: Path
) -> None:
    """The first run recorded the revocation but could not write a broker's list, and said to
    run it again: that run is the one that tells the broker, so it still says to restart it."""
    ok(centre("enrol", "hub-0001", "--out", str(tmp_path / "b1")))
    blocked = tmp_path / "broker"
    blocked.write_text("")  # a file where the broker's directory should be
    add_broker_crl(load_centre_config(config), blocked / "ca.crl")
    failed = centre("revoke", "hub-0001")
    assert failed.returncode == 2 and "cannot write the revocation list" in failed.stderr
    blocked.unlink()
    retried = json.loads(ok(centre("revoke", "hub-0001")).stdout)
    assert retried["changed"] is False
    assert RESTART_BROKER in retried["then"]
    assert "a revocation list did not name it" in retried["note"]
    assert read_revoked_hubs(blocked / REVOKED_HUBS) == ["hub-0001"]
    third = json.loads(ok(centre("revoke", "hub-0001")).stdout)
    assert third["changed"] is False and "then" not in third
