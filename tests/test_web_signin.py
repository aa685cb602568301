"""Signing in to the centre's web (issue 13): a password, then the code from the nurse's app;
throttled after five wrong passwords; sessions that end; a strict Content-Security-Policy on
every page; the audit log for administrators only. Django's test client on SQLite and
PostgreSQL."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from centre.people.models import AuditEntry, Municipality, Team
from centre.web.accounts import NewUser, add_user

PASSWORD = "correct horse battery staple"


@pytest.fixture
def nurse(centre_db: str) -> NewUser:
    oslo = Municipality.objects.create(name="Oslo", number="0301")
    Team.objects.create(name="Øst", municipality=oslo)
    return add_user("kari", "nurse", ["Øst"], PASSWORD, "Kari Nordmann")


def code_for(username: str) -> str:
    """The code her app shows now."""
    device = TOTPDevice.objects.get(user__username=username)
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{code:06d}"


def sign_in(client: Client, username: str, password: str = PASSWORD) -> None:
    client.post("/login/", {"username": username, "password": password})
    response = client.post("/login/code/", {"otp_token": code_for(username)})
    assert response.status_code == 302, response.content[:500]


def test_a_password_alone_opens_nothing_and_the_code_opens_the_worklist(nurse: NewUser) -> None:
    client = Client()
    assert client.get("/").status_code == 302  # to the login
    response = client.post("/login/", {"username": "kari", "password": PASSWORD})
    assert response.status_code == 302 and "/login/code/" in response["Location"]
    assert client.get("/").status_code == 302, "no page before the second factor"
    wrong = client.post(
        "/login/code/", {"otp_token": "000000" if code_for("kari") != "000000" else "111111"}
    )
    assert wrong.status_code == 200 and "ikke riktig" in wrong.content.decode()
    # Right after a wrong code even the right one waits (django-otp's pause against guessing),
    # and the page says so rather than calling it wrong.
    paused = client.post("/login/code/", {"otp_token": code_for("kari")})
    assert paused.status_code == 200 and 'id="code-wait"' in paused.content.decode()
    assert client.get("/").status_code == 302
    TOTPDevice.objects.get(user__username="kari").throttle_reset()  # the pause has passed
    response = client.post("/login/code/", {"otp_token": code_for("kari")})
    assert response.status_code == 302
    page = client.get("/")
    assert page.status_code == 200 and "Arbeidsliste" in page.content.decode()
    assert AuditEntry.objects.filter(user="kari", action="login").count() == 1
    assert AuditEntry.objects.filter(user="kari", action="view", what="arbeidsliste").exists()


def test_five_wrong_passwords_lock_that_user_from_that_address_not_from_another(
    nurse: NewUser,
) -> None:
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(5):
        attacker.post("/login/", {"username": "kari", "password": "wrong"})
    locked = attacker.post("/login/", {"username": "kari", "password": PASSWORD})
    assert locked.status_code == 429 and "15 minutter" in locked.content.decode()
    sign_in(Client(REMOTE_ADDR="192.0.2.4"), "kari")  # the nurse at her desk is not locked out


def test_an_idle_session_ends(nurse: NewUser) -> None:
    client = Client()
    sign_in(client, "kari")
    session = client.session
    session["active_at"] = time.time() - 31 * 60
    session.save()
    response = client.get("/")
    assert response.status_code == 302 and "expired=1" in response["Location"]
    assert client.get("/").status_code == 302, "signed out for good"


def test_a_session_ends_after_a_shift_however_busy(nurse: NewUser) -> None:
    client = Client()
    sign_in(client, "kari")
    session = client.session
    session["signed_in_at"] = time.time() - 12 * 3600 - 1
    session.save()
    assert client.get("/").status_code == 302


def test_every_page_has_a_strict_content_security_policy(nurse: NewUser) -> None:
    for response in (Client().get("/login/"), Client().get("/no/such/page/")):
        policy = response["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "http" not in policy
    client = Client()
    sign_in(client, "kari")
    page = client.get("/")
    assert page["Cache-Control"] == "no-store"
    assert "<script>" not in page.content.decode() and " style=" not in page.content.decode()


def test_the_audit_log_is_for_administrators_and_reading_it_is_logged(nurse: NewUser) -> None:
    client = Client()
    sign_in(client, "kari")
    assert client.get("/audit/").status_code == 403
    add_user("admin", "administrator", [], PASSWORD)
    admin = Client()
    sign_in(admin, "admin")
    page = admin.get("/audit/", {"user": "kari"})
    assert page.status_code == 200 and "kari" in page.content.decode()
    assert AuditEntry.objects.filter(user="admin", what="revisjonslogg").exists()
    for wrong in ({"day_from": "not a date"}, {"day_to": "9999-12-31"}, {"day_from": "0001-01-01"}):
        assert admin.get("/audit/", wrong).status_code == 200, wrong  # refused, never a 500


def test_signing_out_needs_a_post_with_the_csrf_token(nurse: NewUser) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    token = client.cookies["csrftoken"].value
    client.post("/login/", {"username": "kari", "password": PASSWORD, "csrfmiddlewaretoken": token})
    client.post(
        "/login/code/",
        {"otp_token": code_for("kari"), "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
    )
    assert client.get("/").status_code == 200
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 403, "no token, no sign-out (CSRF)"
    client.post("/logout/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert client.get("/").status_code == 302
    assert User.objects.get(username="kari").is_active


def test_the_code_alone_never_reopens_an_expired_session(nurse: NewUser) -> None:
    """Attacker review: after 31 idle minutes the code page must not take a new code."""
    client = Client()
    sign_in(client, "kari")
    session = client.session
    session["active_at"] = time.time() - 31 * 60
    session.save()
    TOTPDevice.objects.get(user__username="kari").throttle_reset()
    again = client.post("/login/code/", {"otp_token": code_for("kari")})
    assert again.status_code == 302 and again["Location"].startswith("/login/")
    assert client.get("/").status_code == 302, "the password again"


def test_a_password_typed_long_ago_needs_typing_again(nurse: NewUser) -> None:
    client = Client()
    client.post("/login/", {"username": "kari", "password": PASSWORD})
    session = client.session
    session["signed_in_at"] = time.time() - 13 * 3600
    session.save()
    late = client.post("/login/code/", {"otp_token": code_for("kari")})
    assert late.status_code == 302 and late["Location"].startswith("/login/")
    assert client.get("/").status_code == 302


def test_the_session_id_is_new_once_fully_signed_in_and_a_half_signed_in_user_can_leave(
    nurse: NewUser,
) -> None:
    client = Client()
    client.post("/login/", {"username": "kari", "password": PASSWORD})
    after_password = client.cookies["sessionid"].value
    client.post("/logout/")
    assert client.get("/login/code/").status_code == 302, "signed out from the code step"
    client.post("/login/", {"username": "kari", "password": PASSWORD})
    half = client.cookies["sessionid"].value
    client.post("/login/code/", {"otp_token": code_for("kari")})
    assert client.cookies["sessionid"].value not in (half, after_password)
    assert client.get("/").status_code == 200
