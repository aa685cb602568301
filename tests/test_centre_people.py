"""The centre's people on Django (issue 13): national identity numbers checked by their check
digits, and the database refusing what must never be stored (a second open episode on one hub,
an episode that ends before it starts, a change to the audit log), on real databases (SQLite
and PostgreSQL) migrated from scratch."""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from centre.people.national_id import NationalIdError, birth_date, check_national_id
from testbed.postgres import PostgresAddress

VALID = [
    ("15076500565", date(1965, 7, 15)),  # the example Skatteetaten and Wikipedia give
    ("01010012356", date(1900, 1, 1)),
    ("150765 00565", date(1965, 7, 15)),  # typed with a space
    ("41019012393", date(1990, 1, 1)),  # a D-number: the first digit plus 4
    ("29020050088", date(2000, 2, 29)),  # 2000 was a leap year (individual number 500+)
]


@pytest.mark.parametrize(("number", "born"), VALID)
def test_a_valid_number_passes_with_its_date_of_birth(number: str, born: date) -> None:
    checked = check_national_id(number)
    assert checked == number.replace(" ", "")
    assert birth_date(checked) == born


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("1507650056", "11 digits"),
        ("150765005651", "11 digits"),
        ("1507650056x", "11 digits"),
        ("١٥٠٧٦٥٠٠٥٦٥", "11 digits"),  # Arabic-Indic digits are digits to Python, not to us
        ("15076500566", "check digits"),
        ("51076500565", "check digits"),  # two digits swapped
        ("29029900157", "date of birth"),  # 29 February 1999 never was
        ("32016500565", "date of birth"),
        ("01014575000", "no century"),  # individual number 750 with year 45 is unassigned
        ("1" * 60_000, "11 digits"),
    ],
)
def test_a_wrong_number_is_refused_with_the_reason(number: str, why: str) -> None:
    with pytest.raises(NationalIdError, match=why) as refused:
        check_national_id(number)
    assert len(str(refused.value)) < 120  # never echoes what was typed


SCRIPT = r"""
import django, sys
from datetime import datetime, timedelta, UTC
django.setup()
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from centre.people.models import CareEpisode, Municipality, Patient, Team

oslo = Municipality.objects.create(name="Oslo", number="0301")
team = Team.objects.create(name="Oppfølging øst", municipality=oslo)
patient = Patient(name="Kari Nordmann", birth_date="1965-07-15", national_id="15076500566",
                  diagnosis="copd", team=team)
try:
    patient.full_clean()
    sys.exit("a wrong national identity number was accepted")
except ValidationError as exc:
    assert "check digits" in str(exc), exc
patient.national_id = "15076500565"
patient.full_clean()
patient.save()
now = datetime.now(UTC)
CareEpisode.objects.create(patient=patient, hub_id="hub-0001", started=now)
for wrong in (
    dict(hub_id="hub-0001", started=now),  # the hub is with another patient already
    dict(hub_id="hub-0002", started=now, ended=now - timedelta(days=1)),
):
    try:
        with transaction.atomic():
            CareEpisode.objects.create(patient=patient, **wrong)
        sys.exit(f"stored: {wrong}")
    except IntegrityError:
        pass
CareEpisode.objects.filter(hub_id="hub-0001").update(ended=now + timedelta(days=30))
CareEpisode.objects.create(patient=patient, hub_id="hub-0001", started=now + timedelta(days=31))
from django.db import DatabaseError
from centre.people.models import AuditEntry, AuditLogIsAppendOnly
entry = AuditEntry.objects.create(user="nurse1", action="view", patient=patient, what="worklist")
entry.what = "nothing"
try:
    entry.save()
    sys.exit("an audit entry was changed through the model")
except AuditLogIsAppendOnly:
    pass
for bypass in (
    lambda: AuditEntry.objects.filter(pk=entry.pk).update(what="rewritten"),
    lambda: AuditEntry.objects.all().delete(),
):
    try:
        with transaction.atomic():
            bypass()
        sys.exit("the database let the audit log be rewritten")
    except DatabaseError as exc:
        assert "append-only" in str(exc), exc
assert AuditEntry.objects.get(pk=entry.pk).what == "worklist"

from django.contrib.auth.models import AnonymousUser, Group, User
from centre.people.access import ROLES, patients_for
assert sorted(Group.objects.values_list("name", flat=True)) == sorted(ROLES)
west = Team.objects.create(name="Oppfølging vest", municipality=oslo)
other = Patient.objects.create(name="Ola Nordmann", birth_date="1900-01-01",
                               national_id="01010012356", diagnosis="heart_failure", team=west)
nurse = User.objects.create_user("nurse1", password="a long passphrase, not for use")
nurse.groups.add(Group.objects.get(name="nurse"))
team.members.add(nurse)
admin = User.objects.create_superuser("admin", password="another passphrase, not for use")
assert list(patients_for(nurse)) == [patient], "a nurse sees her team's patients only"
west.members.add(nurse)
assert set(patients_for(nurse)) == {patient, other}
assert list(patients_for(admin)) == [], "no team, no health data, whatever the role"
assert list(patients_for(AnonymousUser())) == []
nurse.is_active = False
nurse.save()
assert list(patients_for(nurse)) == []
assert User.objects.get(username="nurse1").password.startswith("argon2$")
print("ok", CareEpisode.objects.count())
"""


def django_env(state_dir: Path, database_url: str) -> dict[str, str]:
    """The environment `python -m django` runs in at a centre: its config file names the
    database; `centre init` would have made the web's secret."""
    (state_dir / "keys").mkdir(parents=True, exist_ok=True)
    (state_dir / "keys" / "web-secret").write_text(secrets.token_urlsafe(48))
    config = state_dir / "centre.toml"
    config.write_text(f'state_dir = "{state_dir}"\ndatabase = "{database_url}"\n')
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "centre.web.settings",
        "DHO_CENTRE_CONFIG": str(config),
    }


def migrated_and_checked(state_dir: Path, database_url: str) -> str:
    env = django_env(state_dir, database_url)
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_the_people_tables_migrate_and_refuse_what_must_not_be_stored_on_sqlite(
    tmp_path: Path,
) -> None:
    assert migrated_and_checked(tmp_path, f"sqlite:///{tmp_path / 'web.sqlite3'}") == "ok 2"


def test_the_people_tables_migrate_and_refuse_what_must_not_be_stored_on_postgresql(
    postgres: PostgresAddress, tmp_path: Path
) -> None:
    """The same on a real PostgreSQL server (testbed/postgres.py), in a database of its own."""
    name = f"people_{secrets.token_hex(4)}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = dataclasses.replace(postgres, dbname=name).url
    assert migrated_and_checked(tmp_path, url) == "ok 2"


def test_no_migration_is_missing(tmp_path: Path) -> None:
    """The models and the migrations say the same (makemigrations --check)."""
    result = subprocess.run(
        [sys.executable, "-m", "django", "makemigrations", "--check", "--dry-run"],
        env=django_env(tmp_path, f"sqlite:///{tmp_path / 'web.sqlite3'}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def django_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    check = [sys.executable, "-m", "django", "check"]
    return subprocess.run(check, env=env, capture_output=True, text=True, timeout=120)


def test_the_web_settings_refuse_to_start_without_a_secret(tmp_path: Path) -> None:
    env = django_env(tmp_path, f"sqlite:///{tmp_path / 'web.sqlite3'}")
    (tmp_path / "keys" / "web-secret").unlink()
    result = django_check(env)
    assert result.returncode != 0 and "`centre migrate` makes it" in result.stderr
    # What it says to do works: the secret is made, and the web's settings take it.
    config = env["DHO_CENTRE_CONFIG"]
    migrate = [sys.executable, "-m", "centre.cli", "--config", config, "migrate"]
    made = subprocess.run(migrate, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert len((tmp_path / "keys" / "web-secret").read_text().strip()) >= 50
    checked = django_check(env)
    assert checked.returncode == 0, checked.stderr
