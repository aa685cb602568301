"""Enrolling, re-enrolling and revoking a hub from the technician's pages (issue 15): the same
functions as `centre enrol` and `centre revoke`, for technicians and administrators only, every
change in the audit log, hostile input refused in words. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from centre.admin import enrol_hub, init_centre, public_keys
from centre.config import CentreConfig
from centre.people.models import AuditEntry
from centre.revocation import centre_crl_path, read_revoked_hubs
from centre.store import CentreStore
from centre.web.accounts import add_user
from hub.wire.enrolment import open_bundle
from hub.wire.pki import serial_text
from testbed.processes import free_port
from tests.test_revocation import bundle_identity, revoked_serials
from tests.test_web_signin import PASSWORD
from tests.test_web_worklist import sign_in

ENROL, HUB = "/technician/enrol/", "hub-0001"


def revoke_page(hub_id: str) -> str:
    return f"/technician/hubs/{hub_id}/revoke/"


@pytest.fixture
def centre(centre_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CentreConfig:
    port = free_port()
    config = init_centre(
        tmp_path / "centre.toml",
        tmp_path / "state",
        "127.0.0.1",
        port,
        "127.0.0.1",
        port + 1,
        database=centre_db,
    )
    monkeypatch.setenv("DHO_CENTRE_CONFIG", str(tmp_path / "centre.toml"))
    add_user("tekla", "technician", [], PASSWORD, "Tekla Tekniker")
    add_user("kari", "nurse", [], PASSWORD, "Kari Nordmann")
    return config


@pytest.fixture
def tekla(centre: CentreConfig) -> Client:
    client = Client()
    sign_in(client, "tekla")
    return client


def store(centre: CentreConfig) -> CentreStore:
    return CentreStore(centre.database_url)


def test_enrolling_gives_the_bundle_once_and_records_the_hub(
    centre: CentreConfig, tekla: Client
) -> None:
    form = tekla.get(ENROL)
    assert form.status_code == 200
    assert public_keys(centre)["fingerprint"] in form.content.decode()
    response = tekla.post(ENROL, {"hub_id": HUB})
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{HUB}.bundle"'
    assert response["Cache-Control"] == "no-store"  # it holds the hub's private keys
    bundle = open_bundle(response.content)
    assert bundle.hub_id == HUB
    assert store(centre).hub_signing_key(HUB) is not None
    assert store(centre).hub_certificate(HUB) == serial_text(bundle_identity(response.content).cert)
    entry = AuditEntry.objects.get(what__contains=HUB)
    assert (entry.user, entry.action) == ("tekla", "change")


def test_enrolling_a_hub_again_must_be_asked_for_and_revokes_its_old_certificate(
    centre: CentreConfig, tekla: Client
) -> None:
    first = bundle_identity(enrol_hub(centre, HUB))
    key = store(centre).hub_signing_key(HUB)
    refused = tekla.post(ENROL, {"hub_id": HUB})
    assert refused.status_code == 200
    assert "Content-Disposition" not in refused
    assert 'class="errorlist' in refused.content.decode()  # says so, in the user's language
    assert store(centre).hub_signing_key(HUB) == key  # nothing changed
    assert revoked_serials(centre) == set()
    again = tekla.post(ENROL, {"hub_id": HUB, "replace": "on"})
    assert again["Content-Disposition"] == f'attachment; filename="{HUB}.bundle"'
    assert store(centre).hub_signing_key(HUB) != key
    assert revoked_serials(centre) == {serial_text(first.cert)}
    assert AuditEntry.objects.filter(what__contains=HUB, action="change").count() == 1


def test_revoking_asks_for_the_id_then_revokes_and_lists_the_hub_for_the_broker(
    centre: CentreConfig, tekla: Client
) -> None:
    serial = serial_text(bundle_identity(enrol_hub(centre, HUB)).cert)
    assert tekla.get(revoke_page(HUB)).status_code == 200
    wrong = tekla.post(revoke_page(HUB), {"hub_id": "hub-0002"})
    assert 'class="errorlist' in wrong.content.decode()
    assert not store(centre).is_revoked(HUB)
    done = tekla.post(revoke_page(HUB), {"hub_id": HUB})
    assert done.status_code == 200
    assert 'id="revoked"' in done.content.decode()
    assert store(centre).is_revoked(HUB)
    assert revoked_serials(centre) == {serial}
    assert read_revoked_hubs(centre_crl_path(centre).with_name("revoked-hubs")) == [HUB]
    entry = AuditEntry.objects.get(what__contains=HUB)
    assert (entry.user, entry.action) == ("tekla", "change")
    # Revoked, the page says so and offers the way back; enrolling again lifts it.
    assert f'href="{ENROL}?hub={HUB}"' in tekla.get(revoke_page(HUB)).content.decode()
    tekla.post(ENROL, {"hub_id": HUB, "replace": "on"})
    assert not store(centre).is_revoked(HUB)
    assert read_revoked_hubs(centre_crl_path(centre).with_name("revoked-hubs")) == []


def test_a_nurse_may_do_neither(centre: CentreConfig) -> None:
    enrol_hub(centre, HUB)
    kari = Client()
    sign_in(kari, "kari")
    assert kari.get(ENROL).status_code == 403
    assert kari.post(ENROL, {"hub_id": "hub-0002"}).status_code == 403
    assert kari.post(revoke_page(HUB), {"hub_id": HUB}).status_code == 403
    assert store(centre).presence("hub-0002") is None
    assert not store(centre).is_revoked(HUB)


def test_someone_not_signed_in_is_sent_to_the_login(centre: CentreConfig) -> None:
    response = Client().post(ENROL, {"hub_id": HUB})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert store(centre).presence(HUB) is None


def test_a_form_without_its_csrf_token_is_refused(centre: CentreConfig) -> None:
    enrol_hub(centre, HUB)
    client = Client(enforce_csrf_checks=True)
    sign_in(client, "tekla")
    assert client.post(revoke_page(HUB), {"hub_id": HUB}).status_code == 403
    assert client.post(ENROL, {"hub_id": "hub-0002"}).status_code == 403
    assert not store(centre).is_revoked(HUB)


@pytest.mark.parametrize(
    "hub_id",
    [
        "",
        "HUB-0001",
        "hub 0001",
        "../../etc/passwd",
        "hub-0001\nhub-0002",
        "hub-0001'; DROP TABLE hubs; --",
        "h" * 64,
        "h" * 100_000,  # the id of the test is cut below
        "hub-ø",
        "hub-\x00",
        "-hub",
    ],
    ids=lambda hub_id: repr(hub_id[:20]),
)
def test_a_bad_hub_id_is_refused_in_words_and_nothing_is_enrolled(
    centre: CentreConfig, tekla: Client, hub_id: str
) -> None:
    response = tekla.post(ENROL, {"hub_id": hub_id})
    assert response.status_code == 200
    assert "Content-Disposition" not in response
    assert 'class="errorlist' in response.content.decode()
    assert store(centre).enrolled_hubs() == []
    assert not AuditEntry.objects.filter(action="change").exists()


@pytest.mark.parametrize(
    "hub_id", ["hub-0404", "HUB-0001", "x" * 300, "hub-%00"], ids=lambda h: repr(h[:20])
)
def test_revoking_a_hub_that_is_not_enrolled_here_is_404(
    centre: CentreConfig, tekla: Client, hub_id: str
) -> None:
    enrol_hub(centre, HUB)
    assert tekla.post(revoke_page(hub_id), {"hub_id": hub_id}).status_code == 404
    assert not store(centre).is_revoked(HUB)


def test_a_revoke_sent_twice_changes_nothing_more(centre: CentreConfig, tekla: Client) -> None:
    enrol_hub(centre, HUB)
    for _ in range(2):
        assert tekla.post(revoke_page(HUB), {"hub_id": HUB}).status_code == 200
    assert store(centre).is_revoked(HUB)
    assert len(revoked_serials(centre)) == 1


def test_only_get_and_post(centre: CentreConfig, tekla: Client) -> None:
    enrol_hub(centre, HUB)
    assert tekla.put(ENROL).status_code == 405
    assert tekla.delete(revoke_page(HUB)).status_code == 405


def test_two_tabs_enrolling_one_new_id_at_once_get_one_bundle(
    centre: CentreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both requests look ("enrolled already?") before either enrols, neither asking to replace:
    one gets the bundle, the other the "enrolled already" words, and the bundle given is the
    hub's (not revoked by the other)."""
    import centre.web.views.hub_enrolment as enrolment

    both_looked = threading.Barrier(2, timeout=30)
    real_store = enrolment._store

    class LookingTogether:
        def __init__(self) -> None:
            self.inner = real_store()

        def presence(self, hub_id: str) -> Any:
            found = self.inner.presence(hub_id)
            both_looked.wait()
            return found

    monkeypatch.setattr(enrolment, "_store", LookingTogether)
    first = Client()
    sign_in(first, "tekla")
    second = Client()
    second.cookies = first.cookies  # two tabs of one browser
    answers: list[Any] = []
    tabs = [
        threading.Thread(target=lambda c=c: answers.append(c.post(ENROL, {"hub_id": HUB})))
        for c in (first, second)
    ]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join(120)
    assert [a.status_code for a in answers] == [200, 200]
    bundles = [a for a in answers if a.get("Content-Disposition")]
    assert len(bundles) == 1
    (refused,) = [a for a in answers if not a.get("Content-Disposition")]
    assert 'class="errorlist' in refused.content.decode()
    serial = serial_text(bundle_identity(bundles[0].content).cert)
    assert store(centre).hub_certificate(HUB) == serial
    assert revoked_serials(centre) == set()
    assert AuditEntry.objects.filter(what__contains=HUB, action="change").count() == 1
