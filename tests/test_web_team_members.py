"""Putting an existing user in a team and taking her out (`centre add-team-member`,
`remove-team-member`; centre/web/accounts.py join_team, leave_team): the team found as
`add-user --team` finds it, run twice is no failure, what is not there is said in words with
what to do, every change is in the audit log, and what she sees follows at once. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from centre.people.access import patients_for
from centre.people.models import AuditEntry, Municipality, Patient, Team
from centre.web.accounts import AccountError, add_user, join_team, leave_team
from tests.conftest import centre_cli
from tests.test_web_signin import PASSWORD
from tests.test_web_technician import DAY, Place, page, rows, signed_in
from tests.test_web_technician import place as place
from tests.test_web_worklist import national_ids


@pytest.fixture
def teams(centre_db: str) -> None:
    """Team "Oppfølging" in Bergen and in Askøy (told apart by number), "Oppfølging Bergen" with
    a patient; technician Tekla in no team, nurse Kari in Bergen's "Oppfølging"."""
    bergen = Municipality.objects.create(name="Bergen", number="4601")
    askoy = Municipality.objects.create(name="Askøy", number="4627")
    Team.objects.create(name="Oppfølging", municipality=bergen)
    Team.objects.create(name="Oppfølging", municipality=askoy)
    named = Team.objects.create(name="Oppfølging Bergen", municipality=bergen)
    Patient.objects.create(
        name="Eva Vestlending",
        birth_date="1950-01-01",
        national_id=next(national_ids()),
        diagnosis="copd",
        team=named,
    )
    add_user("tekla", "technician", [], PASSWORD, "Tekla Tekniker")
    add_user("kari", "nurse", ["Oppfølging"], PASSWORD, "Kari Nordmann", municipality="4601")


def changes() -> list[str]:
    return list(AuditEntry.objects.filter(action="change").values_list("what", flat=True))


@pytest.mark.usefixtures("teams")
def test_a_user_is_put_in_a_team_and_taken_out_once_each_however_often_asked() -> None:
    assert join_team("tekla", "Oppfølging Bergen") is True
    assert join_team("tekla", "Oppfølging Bergen") is False, "in it already: nothing to do"
    tekla = User.objects.get(username="tekla")
    assert [p.name for p in patients_for(tekla)] == ["Eva Vestlending"]
    assert changes() == [
        "user tekla put in team Oppfølging Bergen (Bergen, 4601) (centre add-team-member)"
    ]
    assert leave_team("tekla", "Oppfølging Bergen") is True
    assert leave_team("tekla", "Oppfølging Bergen") is False, "not in it: nothing to do"
    assert not patients_for(User.objects.get(username="tekla")).exists()
    assert len(changes()) == 2
    assert changes()[1] == (
        "user tekla taken out of team Oppfølging Bergen (Bergen, 4601) (centre remove-team-member)"
    )
    assert set(User.objects.get(username="kari").teams.values_list("name", flat=True)) == {
        "Oppfølging"
    }, "no one else's teams change"


@pytest.mark.usefixtures("teams")
def test_a_team_name_two_municipalities_share_needs_the_number() -> None:
    for change in (join_team, leave_team):
        with pytest.raises(AccountError, match=r"give the municipality's number too \(--munic"):
            change("kari", "Oppfølging")
    assert join_team("tekla", "Oppfølging", "4627") is True
    assert join_team("kari", "Oppfølging", "4601") is False, "Kari is in Bergen's already"
    (team,) = User.objects.get(username="tekla").teams.all()
    assert team.municipality.name == "Askøy"
    assert leave_team("kari", "Oppfølging", "4601") is True
    assert not User.objects.get(username="kari").teams.exists()


@pytest.mark.usefixtures("teams")
@pytest.mark.parametrize(
    ("username", "team", "number", "why"),
    [
        ("nobody", "Oppfølging Bergen", None, "there is no user 'nobody'"),
        ("TEKLA", "Oppfølging Bergen", None, "there is no user 'TEKLA'"),
        ("tekla", "Vest", None, "there is no team 'Vest': check its name .* `centre add-team`"),
        ("tekla", "oppfølging bergen", None, "there is no team"),
        ("tekla", "Oppfølging Bergen", "4627", "no team 'Oppfølging Bergen' in municipality 4627"),
        ("tekla", "Oppfølging Bergen", "46O1", "municipality number '46O1' is refused: four"),
        ("tekla", "Oppfølging Bergen", "4601\x00", "is refused: four digits"),
        # hostile: huge, control characters, NUL (PostgreSQL refuses it in a query), SQL-like
        ("t" * 100_000, "Oppfølging Bergen", None, "there is no user"),
        ("tekla\x00", "Oppfølging Bergen", None, "there is no user"),
        ("tekla\n", "Oppfølging Bergen", None, "there is no user"),
        ("tekla' OR '1'='1", "Oppfølging Bergen", None, "there is no user"),
        ("tekla", "O" * 100_000, None, "there is no team"),
        ("tekla", "Oppfølging Bergen\x00", None, "there is no team"),
        ("tekla", "Oppfølging\x1b[2J Bergen", None, "there is no team"),
        ("tekla", "x' OR '1'='1' --", None, "there is no team"),
        ("tekla", "Oppfølging%", None, "there is no team"),
        ("tekla", "", None, "there is no team"),
    ],
)
def test_what_is_not_there_is_said_with_what_to_do_and_nothing_changes(
    username: str, team: str, number: str | None, why: str
) -> None:
    for change in (join_team, leave_team):
        with pytest.raises(AccountError, match=why) as refused:
            change(username, team, number)
        assert len(str(refused.value)) < 400
    assert changes() == []
    assert not Team.objects.get(name="Oppfølging Bergen").members.exists()


def test_the_technicians_page_names_the_patients_of_a_team_she_is_put_in(place: Place) -> None:
    """tests/test_web_technician.py: Tekla (team Øst) sees Eva of team Vest as "a patient of
    Vest"; in team Vest she sees her name, and out of it again no longer."""
    hub = place.hub("h-vest", "offline", seen=2 * DAY)
    place.home(hub, "Eva Vestlending", place.west)
    tekla = signed_in("tekla")
    assert "Eva Vestlending" not in page(tekla)
    assert join_team("tekla", "Vest")
    listed = page(tekla)
    assert "Eva Vestlending" in listed and "en pasient i Vest" not in listed
    assert rows(page(tekla, q="Vestlending")) == ["h-vest"]
    assert leave_team("tekla", "Vest")
    listed = page(tekla)  # the same session: what she sees follows at once
    assert "Eva Vestlending" not in listed and "en pasient i Vest" in listed


def test_the_command_line_puts_a_user_in_a_team_and_takes_her_out(
    centre_db: str, tmp_path: Path
) -> None:
    from centre.admin import init_centre

    config = tmp_path / "centre.toml"
    state = tmp_path / "state"
    init_centre(config, state, "127.0.0.1", 8884, "127.0.0.1", 8883, database=centre_db)

    def centre(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return centre_cli(config, *args, stdin=stdin)

    for number, place_name in (("4601", "Bergen"), ("4627", "Askøy")):
        made = centre("add-team", "Oppfølging", "--municipality", place_name, "--number", number)
        assert made.returncode == 0, made.stderr
    made = centre("add-user", "tekla", "--role", "technician", "--password-stdin", stdin=PASSWORD)
    assert made.returncode == 0, made.stderr
    member = ("tekla", "Oppfølging", "--municipality-number", "4627")
    added = centre("add-team-member", *member)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {
        "username": "tekla",
        "team": "Oppfølging",
        "member": True,
        "changed": True,
    }
    again = centre("add-team-member", *member)
    assert again.returncode == 0 and json.loads(again.stdout)["changed"] is False
    assert "centre: tekla is in that team already; nothing changed" in again.stderr
    removed = centre("remove-team-member", *member)
    assert removed.returncode == 0 and json.loads(removed.stdout)["changed"] is True
    not_in = centre("remove-team-member", *member)
    assert not_in.returncode == 0 and json.loads(not_in.stdout)["changed"] is False
    assert "centre: tekla is not in that team; nothing changed" in not_in.stderr
    for refused, words in (
        (("add-team-member", "tekla", "Oppfølging"), "give the municipality's number too"),
        (("add-team-member", "nobody", "Oppfølging"), "there is no user 'nobody'"),
        (("remove-team-member", "tekla", "Vest"), "there is no team 'Vest'"),
        (("add-team-member", "tekla", "O" * 50_000), "there is no team"),
    ):
        run = centre(*refused)
        assert run.returncode == 2, run.stderr
        assert run.stderr.startswith("centre: ") and words in run.stderr
        assert "Traceback" not in run.stderr
        assert run.stdout == ""
    # Bytes that are not UTF-8 (a terminal in another encoding): refused before any lookup.
    for args in ((b"tekla", b"\xff"), (b"\xfftekla", b"Oppf\xf8lging"), (b"tekla", b"V\xe6st")):
        run_bytes = subprocess.run(
            [sys.executable, "-m", "centre.cli", "--config", str(config), "add-team-member", *args],
            capture_output=True,
            timeout=120,
        )
        said = run_bytes.stderr.decode()
        assert run_bytes.returncode == 2 and "is not valid UTF-8 text" in said, said
        assert "Traceback" not in said
    assert [e.what[:40] for e in AuditEntry.objects.filter(action="change")] == [
        "user tekla put in team Oppfølging (Askøy",
        "user tekla taken out of team Oppfølging ",
    ]
