"""Signing in through an OpenID Connect provider (HelseID is one; issue 13), against a real
provider: panva's certified `oidc-provider` as its own process (testbed/oidc_provider.py), its
sign-in and consent pages walked as a browser would, the centre as Django's test client on
SQLite and PostgreSQL. The hostile cases: a replayed, forged or foreign callback, a forged code,
an ID token signed with another key or already expired, a person nobody linked, claims of the
wrong kind, a provider that says no or is gone, and a `next` that leads elsewhere."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, override_settings

from centre.config import CentreConfig, load_centre_config
from centre.people.models import AuditEntry, Municipality, Team
from centre.web.accounts import AccountError, NewUser, add_user, link_oidc
from centre.web.oidc import OidcConfigError, OidcLogin, forget_clients, oidc_login_from
from hub.config import ConfigError
from testbed.oidc_provider import (
    LEVEL_CLAIM,
    LEVEL_SCOPE,
    PID_CLAIM,
    PID_SCOPE,
    OidcProvider,
    new_rsa_key,
    running_oidc_provider,
)

PUBLIC_URL = "http://127.0.0.1:8000"
CALLBACK = f"{PUBLIC_URL}/login/oidc/callback/"
KARI_PID = "13116900216"
HIGH = {LEVEL_CLAIM: "4"}  # HelseID's security level of BankID and the like
ACCOUNTS: dict[str, dict[str, Any]] = {
    "kari": {PID_CLAIM: KARI_PID, "name": "Kari Nordmann", **HIGH},
    "kari-level-3": {PID_CLAIM: KARI_PID, LEVEL_CLAIM: "3"},
    "kari-no-level": {PID_CLAIM: KARI_PID},
    "kari-level-list": {PID_CLAIM: KARI_PID, LEVEL_CLAIM: ["4"]},
    "stranger": {PID_CLAIM: "01010150000", **HIGH},
    "no-pid": {**HIGH},
    "list-pid": {PID_CLAIM: [KARI_PID], **HIGH},
    "number-pid": {PID_CLAIM: 13116900216, **HIGH},
    "huge-pid": {PID_CLAIM: "1" * 100_000, **HIGH},
    "script-pid": {PID_CLAIM: "<script>alert(1)</script>", **HIGH},
}
PASSWORD = "correct horse battery staple"


def login_for(provider: OidcProvider, folder: Path, **oidc: Any) -> OidcLogin:
    """[web.oidc] for this provider, through the centre's own config model, as HelseID's."""
    settings: dict[str, Any] = {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "key_file": str(provider.client_key_path),
        "scopes": ["openid", "profile", PID_SCOPE, LEVEL_SCOPE],
        "subject_claim": PID_CLAIM,
        "required_claims": HIGH,
        **oidc,
    }
    config = CentreConfig.model_validate(
        {"state_dir": str(folder), "web": {"public_url": PUBLIC_URL, "oidc": settings}}
    )
    login = oidc_login_from(config)
    assert login is not None
    return login


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[OidcProvider]:
    with running_oidc_provider(tmp_path / "provider", CALLBACK, ACCOUNTS) as started:
        yield started
        if started.process.alive():
            print(started.process.tail(20))


@pytest.fixture
def kari(centre_db: str) -> NewUser:
    oslo = Municipality.objects.create(name="Oslo", number="0301")
    Team.objects.create(name="Øst", municipality=oslo)
    return add_user("kari", "nurse", ["Øst"], PASSWORD, "Kari Nordmann", oidc_subject=KARI_PID)


@pytest.fixture
def centre(provider: OidcProvider, kari: NewUser, tmp_path: Path) -> Iterator[OidcLogin]:
    """The centre's web with [web.oidc] configured for the provider."""
    login = login_for(provider, tmp_path)
    with override_settings(CENTRE_OIDC=login):
        yield login
    forget_clients()


def start(client: Client, next_page: str = "/") -> str:
    """The person presses the provider's button on the login page; returns where the centre
    sends her browser (the provider's authorization endpoint)."""
    page = client.get("/login/")
    assert page.status_code == 200 and 'id="oidc-start"' in page.content.decode()
    response = client.post("/login/oidc/", {"next": next_page})
    assert response.status_code == 302, response.content[:300]
    return str(response["Location"])


def back(client: Client, url: str) -> Any:
    """The provider's redirect arriving at the centre."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return client.get(f"{parts.path}?{parts.query}")


def pending_sign_in(client: Client) -> dict[str, Any]:
    """What the session keeps of the sign-in it started (Authlib's state data)."""
    (key,) = [k for k, _ in client.session.items() if k.startswith("_state_oidc_")]
    data: dict[str, Any] = client.session[key]["data"]
    return {"state": key.removeprefix("_state_oidc_"), **data}


def signed_in(client: Client) -> bool:
    return client.get("/").status_code == 200


def refusals() -> list[str]:
    return list(
        AuditEntry.objects.filter(user="", what__contains="avvist").values_list("what", flat=True)
    )


def test_the_provider_signs_her_in_without_the_code_and_the_session_id_is_new(
    centre: OidcLogin, provider: OidcProvider
) -> None:
    client = Client()
    assert not signed_in(client)
    authorize = start(client)
    # The request was pushed to the provider (PAR, as HelseID requires): the browser carries
    # a reference only. The provider requires PKCE with S256, and the session keeps the
    # verifier and nonce under the state, for one use.
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{provider.issuer}/")
    assert set(query) == {"client_id", "request_uri"} and query["client_id"] == ["centre"]
    kept = pending_sign_in(client)
    assert kept["redirect_uri"] == CALLBACK and kept["nonce"] and len(kept["code_verifier"]) >= 43
    before = client.cookies["sessionid"].value
    response = back(client, provider.sign_in(authorize, "kari"))
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.cookies["sessionid"].value != before, "session key cycled at sign-in"
    page = client.get("/")
    assert page.status_code == 200 and "Arbeidsliste" in page.content.decode()
    entry = AuditEntry.objects.get(user="kari", action="login")
    assert "HelseID" in entry.what
    # Without [web.oidc] such a session is worth nothing: the code is asked for.
    with override_settings(CENTRE_OIDC=None):
        assert client.get("/")["Location"] == "/login/code/"


def test_a_replayed_callback_is_refused_logged_and_audited(
    centre: OidcLogin, provider: OidcProvider, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    callback = provider.sign_in(start(client), "kari")
    assert back(client, callback).status_code == 302
    client.post("/logout/")
    caplog.set_level(logging.WARNING, "centre.web.oidc")
    for browser in (client, Client()):  # the same browser, and someone who copied the URL
        again = back(browser, callback)
        assert again.status_code == 400
        assert 'id="oidc-refused"' in again.content.decode()
        assert "allerede brukt" in again.content.decode()
        assert not signed_in(browser)
    assert "ForgedCallback" in caplog.text
    assert len(refusals()) == 2


def test_a_callback_another_browser_started_is_refused(
    centre: OidcLogin, provider: OidcProvider
) -> None:
    """Login CSRF: the attacker signs in at the provider and sends his callback to a nurse;
    her browser did not start that sign-in, so it signs her in as nobody."""
    attacker = Client()
    callback = provider.sign_in(start(attacker), "kari")
    nurse = Client()
    nurse.get("/login/")
    assert back(nurse, callback).status_code == 400
    assert not signed_in(nurse)
    assert back(attacker, callback).status_code == 302, "the code was not spent by the refusal"


@pytest.mark.parametrize(
    "query",
    [
        "code=forged",
        "state=made-up&code=forged",
        "",
        "state=" + "x" * 5000 + "&code=y",
        "state=%00%FF&code=<script>",
        "error=access_denied&state=made-up",
    ],
)
def test_a_forged_callback_is_refused_never_a_500(
    centre: OidcLogin, provider: OidcProvider, query: str
) -> None:
    client = Client()
    start(client)
    response = client.get(f"/login/oidc/callback/?{query}")
    assert response.status_code == 400 and "<script>" not in response.content.decode()
    assert not signed_in(client)
    assert len(refusals()) == 1


def test_a_forged_code_with_the_right_state_is_refused_by_the_provider(
    centre: OidcLogin, provider: OidcProvider, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    start(client)
    state = pending_sign_in(client)["state"]
    caplog.set_level(logging.WARNING, "centre.web.oidc")
    response = client.get("/login/oidc/callback/", {"state": state, "code": "forged"})
    assert response.status_code == 400 and "invalid_grant" in caplog.text
    assert "ProviderSaidNo" in caplog.text
    assert not signed_in(client)


def test_a_callback_naming_another_issuer_is_refused(
    centre: OidcLogin, provider: OidcProvider
) -> None:
    """RFC 9207: the provider names itself in the callback; one naming another provider (a
    mix-up attack) is not taken, even with this session's state."""
    client = Client()
    callback = provider.sign_in(start(client), "kari")
    assert parse_qs(urlsplit(callback).query)["iss"] == [provider.issuer]
    forged = callback.replace("iss=http", "iss=https%3A%2F%2Fevil.example%2F&was=http")
    assert back(client, forged).status_code == 400
    assert not signed_in(client)


def test_a_person_nobody_linked_is_refused_with_words_and_audited(
    centre: OidcLogin, provider: OidcProvider
) -> None:
    client = Client()
    response = back(client, provider.sign_in(start(client), "stranger"))
    assert response.status_code == 400
    assert "ingen bruker" in response.content.decode()
    assert not signed_in(client)
    assert any("01010150000" in what for what in refusals()), "the admin sees whom to add"


@pytest.mark.parametrize("login", ["no-pid", "list-pid", "number-pid", "huge-pid", "script-pid"])
def test_a_subject_claim_of_the_wrong_kind_is_refused(
    centre: OidcLogin, provider: OidcProvider, login: str
) -> None:
    client = Client()
    response = back(client, provider.sign_in(start(client), login))
    assert response.status_code == 400
    assert "<script>alert" not in response.content.decode()
    assert not signed_in(client)
    assert all(len(what) <= 500 for what in refusals()) and len(refusals()) == 1


@pytest.mark.parametrize("login", ["kari-level-3", "kari-no-level", "kari-level-list"])
def test_a_sign_in_below_the_required_security_level_is_refused(
    centre: OidcLogin, provider: OidcProvider, login: str
) -> None:
    client = Client()
    response = back(client, provider.sign_in(start(client), login))
    assert response.status_code == 400 and "ikke sterk nok" in response.content.decode()
    assert not signed_in(client)
    assert any("security_level" in what for what in refusals())


def test_an_inactive_user_is_refused(centre: OidcLogin, provider: OidcProvider) -> None:
    from django.contrib.auth.models import User

    User.objects.filter(username="kari").update(is_active=False)
    client = Client()
    assert back(client, provider.sign_in(start(client), "kari")).status_code == 400
    assert not signed_in(client)


def test_cancelling_at_the_provider_is_a_plain_message(
    centre: OidcLogin, provider: OidcProvider
) -> None:
    client = Client()
    response = back(client, provider.abort(start(client)))
    assert response.status_code == 400
    assert "logget deg ikke inn" in response.content.decode()
    assert not signed_in(client)


def test_a_provider_that_is_gone_is_a_plain_message(
    centre: OidcLogin, provider: OidcProvider
) -> None:
    client = Client()
    callback = provider.sign_in(start(client), "kari")
    provider.stop()
    assert back(client, callback).status_code == 400, "its token endpoint is gone"
    forget_clients()  # a fresh process: not even the discovery document can be read
    response = Client().post("/login/oidc/", {"next": "/"})
    assert response.status_code == 400
    assert "logget deg ikke inn" in response.content.decode()


def test_an_id_token_signed_with_another_key_is_refused(
    centre: OidcLogin, provider: OidcProvider, tmp_path: Path
) -> None:
    """The centre has the provider's keys; a provider at the same address signing with
    another key under the same key id (an impostor) is not believed."""
    first = Client()
    assert back(first, provider.sign_in(start(first), "kari")).status_code == 302
    provider.stop()
    port = int(urlsplit(provider.issuer).port or 0)
    with running_oidc_provider(
        tmp_path / "impostor",
        CALLBACK,
        ACCOUNTS,
        port=port,
        client_key=provider.client_key_path.read_text(),
    ) as impostor:
        client = Client()
        response = back(client, impostor.sign_in(start(client), "kari"))
        assert response.status_code == 400
        assert not signed_in(client)
        assert any("BadSignatureError" in what for what in refusals())


def test_an_expired_id_token_is_refused(kari: NewUser, tmp_path: Path) -> None:
    """A provider whose clock is 20 minutes behind issues ID tokens that expired (10-minute
    life) before they arrive."""
    with running_oidc_provider(tmp_path / "late", CALLBACK, ACCOUNTS, clock_offset_s=-1200) as late:
        # The secret client: our signed assertion would be refused first, "not yet valid".
        secret: dict[str, Any] = {"client_id": late.secret_client_id, "key_file": None}
        secret.update(client_auth="client_secret", secret_file=str(late.secret_path))
        with override_settings(CENTRE_OIDC=login_for(late, tmp_path, **secret)):
            client = Client()
            response = back(client, late.sign_in(start(client), "kari"))
            assert response.status_code == 400
            assert not signed_in(client)
            assert any("ExpiredTokenError" in what for what in refusals())
        forget_clients()


def test_a_provider_naming_another_issuer_is_not_believed(
    provider: OidcProvider, kari: NewUser, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """[web.oidc] issuer says localhost; the discovery document found there names another
    issuer (OpenID Connect Discovery 4.3: they must be the same)."""
    elsewhere = provider.issuer.replace("127.0.0.1", "localhost")
    with override_settings(CENTRE_OIDC=login_for(provider, tmp_path, issuer=elsewhere)):
        response = Client().post("/login/oidc/", {"next": "/"})
        assert response.status_code == 400 and 'id="oidc-refused"' in response.content.decode()
        assert "names issuer" in caplog.text
    forget_clients()


def test_a_client_secret_works_for_providers_that_take_one(
    provider: OidcProvider, kari: NewUser, tmp_path: Path
) -> None:
    login = login_for(
        provider,
        tmp_path,
        client_id=provider.secret_client_id,
        client_auth="client_secret",
        key_file=None,
        secret_file=str(provider.secret_path),
    )
    with override_settings(CENTRE_OIDC=login):
        client = Client()
        assert back(client, provider.sign_in(start(client), "kari")).status_code == 302
        assert signed_in(client)
    forget_clients()


def test_a_jwk_key_file_signs_in_and_names_its_key(
    provider: OidcProvider, kari: NewUser, tmp_path: Path
) -> None:
    """HelseID's self-service hands the client's key out as a JWK with a key id; the provider
    finds the key by that id in the assertion's header."""
    import json

    from testbed.oidc_provider import jwk_of

    key_file = tmp_path / "helseid.jwk"
    key_file.write_text(
        json.dumps(jwk_of(provider.client_key_path.read_text(), "centre-key", private=True))
    )
    with override_settings(CENTRE_OIDC=login_for(provider, tmp_path, key_file=str(key_file))):
        client = Client()
        assert back(client, provider.sign_in(start(client), "kari")).status_code == 302
        assert signed_in(client)
    forget_clients()


def test_the_client_assertion_lives_a_minute_names_the_issuer_and_is_never_reused() -> None:
    """HelseID's profile for client assertions: exp at most 60 s after iat, a new jti each
    time, the key's id in the header; its audience is the issuer."""
    from types import SimpleNamespace

    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from centre.web.oidc import _short_lived_assertion
    from testbed.oidc_provider import jwk_of

    key = RSAKey.import_key(jwk_of(new_rsa_key(), "k1", private=True))
    method = _short_lived_assertion("https://helseid-sts.test.nhn.no", "RS256")
    auth = SimpleNamespace(client_id="centre", client_secret=key)
    bodies = [method(auth, "POST", "https://sts.example/connect/par", {}, "")[2] for _ in "ab"]
    first, second = (jwt.decode(parse_qs(body)["client_assertion"][0], key) for body in bodies)
    assert first.header["kid"] == "k1" and first.header["typ"] == "JWT"
    claims = first.claims
    assert claims["aud"] == "https://helseid-sts.test.nhn.no"
    assert claims["iss"] == claims["sub"] == "centre"
    assert claims["exp"] - claims["iat"] == 60 and claims["nbf"] == claims["iat"]
    assert claims["jti"] != second.claims["jti"]


def test_the_next_nurse_at_a_shared_computer_signs_in_as_herself(
    centre: OidcLogin, provider: OidcProvider
) -> None:
    """Kari signs out of the centre; her session at the provider is still open in this
    browser. The next one to press the button is asked to sign in at the provider (prompt=
    login), and gets her own sign-in (here a person nobody linked), not Kari's."""
    import requests

    browser = requests.Session()  # the provider's cookies, kept as a browser keeps them
    client = Client()
    assert back(client, provider.sign_in(start(client), "kari", browser)).status_code == 302
    client.post("/logout/")
    assert not signed_in(client)
    next_nurse = back(client, provider.sign_in(start(client), "stranger", browser))
    assert next_nurse.status_code == 400 and not signed_in(client)


def test_next_never_leads_off_the_site(centre: OidcLogin, provider: OidcProvider) -> None:
    client = Client()
    response = back(client, provider.sign_in(start(client, "https://evil.example/"), "kari"))
    assert response.status_code == 302 and response["Location"] == "/"
    other = Client()
    response = back(other, provider.sign_in(start(other, "/audit/"), "kari"))
    assert response["Location"] == "/audit/"


def test_an_oidc_session_still_ends_when_idle_and_after_a_shift(
    centre: OidcLogin, provider: OidcProvider
) -> None:
    for key, age in (("active_at", 31 * 60), ("signed_in_at", 12 * 3600 + 1)):
        client = Client()
        back(client, provider.sign_in(start(client), "kari"))
        assert signed_in(client)
        session = client.session
        session[key] = time.time() - age
        session.save()
        assert client.get("/").status_code == 302
        assert not signed_in(client), key


def test_password_login_can_be_switched_off(
    provider: OidcProvider, kari: NewUser, tmp_path: Path
) -> None:
    with override_settings(CENTRE_OIDC=login_for(provider, tmp_path, password_login=False)):
        client = Client()
        page = client.get("/login/").content.decode()
        assert 'id="password-off"' in page and 'name="password"' not in page
        refused = client.post("/login/", {"username": "kari", "password": PASSWORD})
        assert refused.status_code == 403
        assert client.get("/login/code/")["Location"] == "/login/"
        assert not signed_in(client)
        back(client, provider.sign_in(start(client), "kari"))
        assert signed_in(client), "the provider still signs her in"
    forget_clients()


def test_with_oidc_the_password_and_code_still_work_by_default(
    centre: OidcLogin, provider: OidcProvider
) -> None:
    from tests.test_web_signin import sign_in

    client = Client()
    page = client.get("/login/").content.decode()
    assert 'name="password"' in page and "HelseID" in page
    sign_in(client, "kari")
    assert signed_in(client)


# Configuration: what a technician gets wrong, and what the centre says.


@pytest.mark.parametrize(
    ("web", "says"),
    [
        ({"oidc": {"issuer": "https://a.no", "client_id": "c", "key_file": "/k"}}, "public_url"),
        (
            {"public_url": "https://c.no", "oidc": {"issuer": "http://a.no", "client_id": "c"}},
            "https://",
        ),
        (
            {"public_url": "https://c.no", "oidc": {"issuer": "https://a.no", "client_id": "c"}},
            "key_file",
        ),
        (
            {
                "public_url": "https://c.no",
                "oidc": {
                    "issuer": "https://a.no",
                    "client_id": "c",
                    "client_auth": "client_secret",
                },
            },
            "secret_file",
        ),
        (
            {
                "public_url": "https://c.no",
                "oidc": {
                    "issuer": "https://a.no",
                    "client_id": "c",
                    "key_file": "/k",
                    "scopes": ["profile"],
                },
            },
            "openid",
        ),
        (
            {
                "public_url": "https://c.no",
                "oidc": {"issuer": "https://a.no", "client_id": "c", "key_file": "/k", "x": 1},
            },
            "web.oidc.x",
        ),
        ({"public_url": "javascript:alert(1)"}, "https://"),
        ({"public_url": "https://c.no/?next=evil"}, "plain address"),
    ],
)
def test_a_wrong_oidc_config_says_what_to_fix(
    tmp_path: Path, web: dict[str, Any], says: str
) -> None:
    path = tmp_path / "centre.toml"
    lines = [f'state_dir = "{tmp_path}"', "[web]"]
    lines += [f"{k} = {_toml(v)}" for k, v in web.items() if k != "oidc"]
    if "oidc" in web:
        lines += ["[web.oidc]", *(f"{k} = {_toml(v)}" for k, v in web["oidc"].items())]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="invalid") as raised:
        load_centre_config(path)
    assert says in str(raised.value)


def _toml(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value) if isinstance(value, int) else f'"{value}"'


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read"),
        ("", "not an RSA or EC private key"),
        ("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----", "not an RSA"),
        ("{not json", "neither a PEM key nor a JWK"),
        ("public", "public key"),
        (b"\xff\xfe binary", "cannot read"),
    ],
)
def test_a_key_file_that_cannot_be_used_stops_the_web_with_its_name(
    tmp_path: Path, content: str | bytes | None, says: str
) -> None:
    from cryptography.hazmat.primitives import serialization

    key_file = tmp_path / "helseid.pem"
    if content == "public":
        private = serialization.load_pem_private_key(new_rsa_key().encode(), None)
        key_file.write_bytes(
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    elif isinstance(content, bytes):
        key_file.write_bytes(content)
    elif content is not None:
        key_file.write_text(content)
    config = CentreConfig.model_validate(
        {
            "state_dir": str(tmp_path),
            "web": {
                "public_url": PUBLIC_URL,
                "oidc": {"issuer": "https://a.no", "client_id": "c", "key_file": str(key_file)},
            },
        }
    )
    with pytest.raises(OidcConfigError, match=says) as raised:
        oidc_login_from(config)
    assert str(key_file) in str(raised.value)


def test_a_jwk_key_file_as_helseid_hands_it_out_is_taken(tmp_path: Path) -> None:
    import json

    from testbed.oidc_provider import jwk_of

    key_file = tmp_path / "helseid.jwk"
    key_file.write_text(json.dumps(jwk_of(new_rsa_key(), "k1", private=True)))
    config = CentreConfig.model_validate(
        {
            "state_dir": str(tmp_path),
            "web": {
                "public_url": PUBLIC_URL + "/",
                "oidc": {"issuer": "https://a.no/", "client_id": "c", "key_file": str(key_file)},
            },
        }
    )
    login = oidc_login_from(config)
    assert login is not None and login.redirect_uri == CALLBACK
    assert login.discovery_url == "https://a.no/.well-known/openid-configuration"
    assert "PRIVATE" not in repr(login) and '"d"' not in repr(login)


def test_an_existing_user_is_linked_later_and_one_person_stays_one_user(kari: NewUser) -> None:
    from centre.web.models import OidcIdentity

    add_user("ola", "nurse", [], PASSWORD)  # made before the centre used a provider
    link_oidc("ola", " 01017012345 ")
    assert OidcIdentity.objects.get(user__username="ola").subject == "01017012345"
    link_oidc("ola", "01017054321")  # a new link replaces hers
    assert list(OidcIdentity.objects.filter(user__username="ola").values_list("subject")) == [
        ("01017054321",)
    ]
    with pytest.raises(AccountError, match="linked to another user"):
        link_oidc("ola", KARI_PID)
    with pytest.raises(AccountError, match="there is no user"):
        link_oidc("nobody", "01017099999")
    with pytest.raises(AccountError, match="printable"):
        link_oidc("ola", "line\nbreak")
    assert OidcIdentity.objects.get(subject=KARI_PID).user.username == "kari"


def test_add_user_links_one_person_to_one_user(kari: NewUser) -> None:
    from centre.web.models import OidcIdentity

    assert OidcIdentity.objects.get(subject=KARI_PID).user.username == "kari"
    with pytest.raises(AccountError, match="linked to another user"):
        add_user("kari2", "nurse", [], PASSWORD, oidc_subject=f" {KARI_PID} ")
    for bad in ("", "   ", "x" * 256, "line\nbreak"):
        with pytest.raises(AccountError, match="printable"):
            add_user("ola", "nurse", [], PASSWORD, oidc_subject=bad)
