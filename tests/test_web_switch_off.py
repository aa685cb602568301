"""Switching a user off (`centre disable-user`): a nurse who left the centre, or whose account
was misused, is shut out at once, by password and by every session she had, without touching
anyone else; her name stays on what she did. `centre enable-user` lets her in again."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from centre.people.models import AuditEntry, Municipality, Team
from centre.web.accounts import AccountError, add_user, link_oidc, switch_off, switch_on
from tests.conftest import centre_cli
from tests.test_web_signin import PASSWORD, code_for, sign_in


@pytest.fixture
def nurses(centre_db: str) -> None:
    oslo = Municipality.objects.create(name="Oslo", number="0301")
    Team.objects.create(name="Øst", municipality=oslo)
    add_user("kari", "nurse", ["Øst"], PASSWORD, "Kari Nordmann")
    add_user("ola", "nurse", ["Øst"], PASSWORD, "Ola Nordmann")


def signed_in(username: str) -> Client:
    # A code is taken once (django-otp): a second sign-in waits for the next one, as if
    # 30 seconds had passed.
    TOTPDevice.objects.filter(user__username=username).update(last_t=-1)
    client = Client()
    sign_in(client, username)
    assert client.get("/").status_code == 200
    return client


@pytest.mark.usefixtures("nurses")
def test_a_user_switched_off_is_out_of_every_session_at_once_and_no_one_else() -> None:
    at_desk, at_home, colleague = signed_in("kari"), signed_in("kari"), signed_in("ola")
    assert switch_off("kari") == 2
    for her in (at_desk, at_home):
        page = her.get("/")
        assert page.status_code == 302 and "/login/" in page["Location"]
    assert colleague.get("/").status_code == 200
    (entry,) = AuditEntry.objects.filter(what__contains="switched off")
    assert entry.action == "change" and "kari" in entry.what and "2 session(s)" in entry.what


@pytest.mark.usefixtures("nurses")
def test_a_user_switched_off_cannot_sign_in_until_switched_on() -> None:
    switch_off("kari")
    client = Client()
    refused = client.post("/login/", {"username": "kari", "password": PASSWORD})
    assert refused.status_code == 200, "the password is not taken"
    code = client.post("/login/code/", {"otp_token": code_for("kari")})
    assert code.status_code == 302 and code["Location"] == "/login/", "back to the password"
    assert client.get("/").status_code == 302
    switch_on("kari")
    signed_in("kari")
    assert AuditEntry.objects.filter(what__contains="kari switched on again").count() == 1


@pytest.mark.usefixtures("nurses")
@pytest.mark.parametrize("username", ["nobody", "KARI", "", "kari\x00", "k" * 10_000])
def test_switching_off_a_user_who_is_not_there_says_so_and_changes_nothing(username: str) -> None:
    with pytest.raises(AccountError, match="there is no user"):
        switch_off(username)
    with pytest.raises(AccountError, match="there is no user"):
        switch_on(username)
    assert not AuditEntry.objects.filter(action="change").exists()
    signed_in("kari")


def test_the_command_line_switches_a_user_off_and_on(tmp_path: Path) -> None:
    from centre.admin import init_centre

    config = tmp_path / "centre.toml"
    init_centre(config, tmp_path / "state", "127.0.0.1", 8884, "127.0.0.1", 8883)

    def centre(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return centre_cli(config, *args, stdin=stdin)

    made = centre("add-team", "Øst", "--municipality", "Oslo", "--number", "0301")
    assert made.returncode == 0, made.stderr
    user = ("add-user", "kari", "--role", "nurse", "--team", "Øst", "--password-stdin")
    made = centre(*user, stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    off = centre("disable-user", "kari")
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout) == {"username": "kari", "active": False, "sessions_ended": 0}
    on = centre("enable-user", "kari")
    assert json.loads(on.stdout) == {"username": "kari", "active": True}
    missing = centre("disable-user", "nobody")
    assert missing.returncode == 2
    assert "centre: there is no user 'nobody'" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.usefixtures("nurses")
@pytest.mark.parametrize("username", ["", "kari nordmann", "kari\x00", "<b>kari</b>", "k" * 151])
def test_a_username_django_would_not_take_is_refused_saying_what_it_may_hold(
    username: str,
) -> None:
    with pytest.raises(AccountError, match=re.escape("letters, digits and @.+-_")) as refused:
        add_user(username, "nurse", ["Øst"], PASSWORD)
    assert len(str(refused.value)) < 250
    with pytest.raises(AccountError, match="there is no user"):
        link_oidc(username, "a-subject")


@pytest.mark.usefixtures("nurses")
def test_a_session_made_while_she_was_switched_off_does_not_come_back_with_enable_user() -> None:
    """Her code typed while `disable-user` ran: the session is stored after its scan. Refused
    while she is off (Django checks is_active on every request), it must not come back to life
    when she is let in again (second outsider review)."""
    from django.contrib.sessions.models import Session

    racing = signed_in("kari")
    stored = Session.objects.get(session_key=racing.session.session_key)
    switch_off("kari")
    Session.objects.create(
        session_key=stored.session_key,
        session_data=stored.session_data,
        expire_date=stored.expire_date,
    )  # committed after switch_off looked
    assert racing.get("/").status_code == 302
    switch_on("kari")
    page = racing.get("/")
    assert page.status_code == 302 and "/login/" in page["Location"]
    signed_in("kari")  # she signs in anew
