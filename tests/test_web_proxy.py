"""`centre web` behind the TLS proxy docs/operations.md asks for (attacker review, issue 13): with
`[web] trusted_proxy` set, each browser's own address (X-Forwarded-For) is what login throttling
counts, so nobody can lock a nurse out from elsewhere, and X-Forwarded-Proto makes the web know
it is reached over https (cookies and the CSRF origin check). The real waitress server, in a
thread, on the test's database."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from django.core.wsgi import get_wsgi_application
from waitress.server import create_server

from centre.config import WebSettings
from centre.people.models import Municipality, Team
from centre.web.accounts import add_user
from centre.web.serve import server_options
from tests.test_web_signin import PASSWORD


@pytest.fixture
def proxied(centre_db: str) -> Iterator[str]:
    oslo = Municipality.objects.create(name="Oslo", number="0301")
    Team.objects.create(name="Øst", municipality=oslo)
    add_user("kari", "nurse", ["Øst"], PASSWORD)
    options = server_options(WebSettings(trusted_proxy="127.0.0.1"), 0)
    options["host"] = "127.0.0.1"
    server = create_server(get_wsgi_application(), **options)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        server.task_dispatcher.shutdown()  # its worker threads too, not only the socket
        thread.join(timeout=10)


def browser_behind_proxy(
    address: str, client_ip: str
) -> tuple[urllib.request.OpenerDirector, dict[str, str]]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    host = urllib.parse.urlsplit(address).netloc
    headers = {
        "X-Forwarded-For": client_ip,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "localhost",
        "Origin": "https://localhost",
        "Referer": "https://localhost/login/",
        "Host": host,
    }
    return opener, headers


def try_password(address: str, client_ip: str, password: str) -> str:
    """What the browser ends on: "code" (the password was taken), "form" or "locked"."""
    opener, headers = browser_behind_proxy(address, client_ip)
    page = opener.open(urllib.request.Request(f"{address}/login/", headers=headers))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())
    assert token is not None
    form = urllib.parse.urlencode(
        {"username": "kari", "password": password, "csrfmiddlewaretoken": token.group(1)}
    ).encode()
    request = urllib.request.Request(f"{address}/login/", data=form, headers=headers)
    try:
        answer = opener.open(request)
    except urllib.error.HTTPError as refused:
        return "locked" if refused.code == 429 else f"refused {refused.code}"
    return "code" if "/login/code/" in answer.geturl() else "form"


def test_behind_the_proxy_a_stranger_s_wrong_passwords_lock_only_the_stranger(
    proxied: str,
) -> None:
    for _ in range(4):
        assert try_password(proxied, "203.0.113.9", "wrong") == "form"
    assert try_password(proxied, "203.0.113.9", "wrong") == "locked"  # the fifth locks
    assert try_password(proxied, "203.0.113.9", PASSWORD) == "locked"
    # The nurse at her desk, through the same proxy: her own address, not locked; the CSRF
    # origin check takes the https the proxy reports.
    assert try_password(proxied, "192.0.2.4", PASSWORD) == "code"


def test_forwarded_headers_are_believed_from_the_trusted_proxy_only() -> None:
    assert "trusted_proxy" not in server_options(WebSettings(), 8000)
    options = server_options(WebSettings(trusted_proxy="10.0.0.5"), 8000)
    assert options["trusted_proxy"] == "10.0.0.5" and options["clear_untrusted_proxy_headers"]
    assert options["trusted_proxy_headers"] == {
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
    }
