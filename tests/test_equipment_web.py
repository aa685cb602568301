"""The equipment pages (issue 15) with Django's test client, on SQLite and PostgreSQL: every change
of state through the forms, a refused change showing its reason in the page's language, who may
open the pages and deploy to whom, hostile input never a 500, a form sent twice refused, every
change audited; and `centre equipment` at the command line."""

from __future__ import annotations

import html
import os
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone, translation

from centre.equipment import service
from centre.equipment.lifecycle import REASONS, Refused
from centre.equipment.models import Equipment, EquipmentUse
from centre.people.models import AuditEntry, CareEpisode, Municipality, Patient, Team
from centre.records.models import Hub
from centre.web.accounts import add_user
from centre.web.views.equipment import CHANGED, REFUSALS
from hub.devices.profiles import BY_NAME
from tests.test_web_signin import PASSWORD, sign_in

CUFF = {
    "kind": "device",
    "model": "A&D UA-651BLE",
    "serial": "5140312",
    "profile": "blood_pressure",
}


@pytest.fixture
def ward(centre_db: str) -> dict[str, Any]:
    """Team Øst with technician Tina, nurse Kari and patient Ola; team Vest with technician
    Vera and patient Eva; administrator Adam in no team. Hubs hub-0001 and hub-0002 enrolled."""
    oslo = Municipality.objects.create(name="Oslo", number="0301")
    east = Team.objects.create(name="Øst", municipality=oslo)
    west = Team.objects.create(name="Vest", municipality=oslo)
    add_user("tina", "technician", ["Øst"], PASSWORD, "Tina Tekniker")
    add_user("vera", "technician", ["Vest"], PASSWORD, "Vera Vest")
    add_user("kari", "nurse", ["Øst"], PASSWORD, "Kari Nordmann")
    add_user("adam", "administrator", [], PASSWORD, "Adam Admin")
    ola = Patient.objects.create(
        name="Ola <b>Nordmann</b>",
        birth_date=date(1965, 7, 15),
        national_id="15076500565",
        diagnosis="heart_failure",
        team=east,
    )
    eva = Patient.objects.create(
        name="Eva Vest",
        birth_date=date(1900, 1, 1),
        national_id="01010012356",
        diagnosis="copd",
        team=west,
    )
    for hub in ("hub-0001", "hub-0002"):
        Hub.objects.create(hub_id=hub, signing_key=f"{hub}-key-1", enrolled_at="2026-01-01T00:00Z")
    return {"ola": ola, "eva": eva, "east": east}


def signed_in(username: str) -> Client:
    client = Client()
    sign_in(client, username)
    return client


def page(response: Any) -> str:
    return html.unescape(response.content.decode())


def reason(code: str, **details: str) -> str:
    """What the page says for a refusal, in bokmål (the default)."""
    with translation.override("nb"):
        return str(REFUSALS[code] % details)


def add(client: Client, **fields: str) -> Equipment:
    response = client.post("/equipment/add/", fields)
    assert response.status_code == 302, page(response)[-3000:]
    return Equipment.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))


def act(client: Client, item: Equipment, action: str, **fields: Any) -> Any:
    item.refresh_from_db()
    return client.post(f"/equipment/{item.pk}/{action}/", {"seen": item.version, **fields})


def state(item: Equipment) -> str:
    item.refresh_from_db()
    return item.state


def test_every_change_through_the_forms(ward: dict[str, Any]) -> None:
    tina = signed_in("tina")
    ola = ward["ola"]
    hub = add(tina, kind="hub", model="Raspberry Pi 5 kit", serial="RPI-0001", hub_id="hub-0001")
    cuff = add(tina, **CUFF, address="00-1a-7d-da-71-13")
    assert cuff.address == "00:1A:7D:DA:71:13", "the address is kept in one spelling"

    # A cuff before her hub: refused, saying what to do.
    refused = act(tina, cuff, "deploy", patient=ola.pk)
    assert refused.status_code == 409
    assert reason("no_episode") in page(refused)
    assert state(cuff) == "in_stock"

    assert act(tina, hub, "deploy", patient=ola.pk).status_code == 302
    episode = CareEpisode.objects.get(patient=ola, ended=None)
    assert episode.hub_id == "hub-0001", "deploying the hub started her care episode with it"
    assert act(tina, cuff, "deploy", patient=ola.pk).status_code == 302
    assert EquipmentUse.objects.get(equipment=cuff, ended=None).episode == episode
    raw = tina.get(f"/equipment/{cuff.pk}/").content.decode()
    assert "Ola &lt;b&gt;Nordmann&lt;/b&gt;" in raw and "<b>" not in raw, "her name, escaped"

    # The hub comes back: her episode ends, the cuff comes back with it.
    back = act(tina, hub, "return", note="patient discharged")
    assert back.status_code == 302
    with translation.override("nb"):
        said = f"{Equipment.States.RETURNED.label}: patient discharged"
    assert said in page(tina.get(f"/equipment/{hub.pk}/")), "the state in her language"
    episode.refresh_from_db()
    assert episode.ended is not None
    assert (state(hub), state(cuff)) == ("returned", "returned")
    assert not EquipmentUse.objects.filter(ended=None).exists()

    # Not in stock again before it is wiped and enrolled again (a new signing key).
    refused = act(tina, hub, "restock")
    assert refused.status_code == 409 and reason("not_wiped", hub_id="hub-0001") in page(refused)
    Hub.objects.filter(hub_id="hub-0001").update(signing_key="hub-0001-key-2")
    assert act(tina, hub, "restock").status_code == 302 and state(hub) == "in_stock"

    refused = act(tina, cuff, "restock")
    assert refused.status_code == 409 and reason("memory_not_cleared") in page(refused)
    assert act(tina, cuff, "restock", memory_cleared="on").status_code == 302

    # Faulty: its page lists who used it.
    assert act(tina, cuff, "faulty", note="cuff leaks").status_code == 302
    shown = page(tina.get(f"/equipment/{cuff.pk}/"))
    with translation.override("nb"):
        from django.utils.translation import gettext

        assert gettext("Patients who used it") in shown
    assert "Ola <b>Nordmann</b>" in shown and "cuff leaks" in shown
    assert act(tina, cuff, "retire").status_code == 302 and state(cuff) == "retired"
    refused = act(tina, cuff, "restock", memory_cleared="on")
    assert refused.status_code == 409 and reason("retired") in page(refused)
    assert state(cuff) == "retired"

    changes = list(AuditEntry.objects.filter(action="change", user="tina").order_by("pk"))
    whats = [entry.what.rsplit(": ", 1)[1] for entry in changes]
    assert whats == [
        "added",
        "added",
        f"deployed in care episode {episode.pk}",
        f"deployed in care episode {episode.pk}",
        "given back with hub hub-0001",
        "given back",
        "back in stock",
        "back in stock",
        "marked faulty",
        "retired",
    ]
    assert [e.patient for e in changes[2:6]] == [ola] * 4, "changes of her care name her"


def test_a_hub_goes_to_her_open_episode_with_it_and_never_to_a_second_patient(
    ward: dict[str, Any],
) -> None:
    tina = signed_in("tina")
    ola = ward["ola"]
    other = Patient.objects.create(
        name="Per Øst",
        birth_date=date(1990, 1, 1),
        national_id="41019012393",
        diagnosis="other",
        team=ward["east"],
    )
    # Registered with `centre add-patient --hub hub-0001`: her episode is there already.
    episode = CareEpisode.objects.create(
        patient=ola, hub_id="hub-0001", started="2026-11-01T00:00Z"
    )
    hub = add(tina, kind="hub", model="Pi", serial="1", hub_id="hub-0001")
    refused = act(tina, hub, "deploy", patient=other.pk)
    assert reason("hub_with_other_patient", hub_id="hub-0001") in page(refused)
    assert act(tina, hub, "deploy", patient=ola.pk).status_code == 302
    assert EquipmentUse.objects.get(equipment=hub).episode == episode
    second = add(tina, kind="hub", model="Pi", serial="2", hub_id="hub-0002")
    refused = act(tina, second, "deploy", patient=ola.pk)
    assert reason("patient_has_other_hub", other="hub-0001") in page(refused)
    assert state(second) == "in_stock"
    unknown = add(tina, kind="hub", model="Pi", serial="3", hub_id="hub-0003")
    refused = act(tina, unknown, "deploy", patient=other.pk)
    assert reason("hub_not_enrolled", hub_id="hub-0003") in page(refused)


def test_a_hub_wiped_and_enrolled_under_a_new_id_goes_back_in_stock_under_it(
    ward: dict[str, Any],
) -> None:
    tina = signed_in("tina")
    hub = add(tina, kind="hub", model="Pi", serial="1", hub_id="hub-0001")
    add(tina, kind="hub", model="Pi", serial="2", hub_id="hub-0002")
    assert act(tina, hub, "deploy", patient=ward["ola"].pk).status_code == 302
    assert act(tina, hub, "return").status_code == 302
    refused = act(tina, hub, "restock", hub_id="hub-0009")  # not enrolled yet
    assert reason("no_key", hub_id="hub-0009") in page(refused)
    refused = act(tina, hub, "restock", hub_id="hub-0002")  # another box's id
    assert refused.status_code == 409 and state(hub) == "returned"
    assert act(tina, hub, "restock", hub_id="../../etc").status_code == 400
    Hub.objects.create(hub_id="hub-0009", signing_key="new key", enrolled_at=timezone.now())
    refused = act(tina, hub, "restock", hub_id="hub-0009")  # its old identity can still send
    assert reason("old_id_not_revoked", hub_id="hub-0009", old="hub-0001") in page(refused)
    assert refused.status_code == 409 and state(hub) == "returned"
    Hub.objects.filter(hub_id="hub-0001").update(revoked_at=timezone.now())
    assert act(tina, hub, "restock", hub_id="hub-0009").status_code == 302
    hub.refresh_from_db()
    assert (hub.state, hub.hub_id) == ("in_stock", "hub-0009")


def test_a_returned_hub_is_not_restocked_under_a_spare_id_enrolled_before_it_came_back(
    ward: dict[str, Any],
) -> None:
    """Review of issue 15: a spare id enrolled on the enrolment page (never provisioned) before
    the hub came back proves nothing of the box; and while its old id is enrolled and not
    revoked, an unwiped box could still send as it from the next patient's home. Either is
    refused, nothing changed."""
    tina = signed_in("tina")
    hub = add(tina, kind="hub", model="Raspberry Pi 5 kit", serial="RPI-0001", hub_id="hub-0001")
    Hub.objects.create(hub_id="hub-0009", signing_key="spare", enrolled_at="2026-01-01T00:00Z")
    assert act(tina, hub, "deploy", patient=ward["ola"].pk).status_code == 302
    assert act(tina, hub, "return", note="discharged").status_code == 302
    refused = act(tina, hub, "restock", hub_id="hub-0009")
    assert refused.status_code == 409 and state(hub) == "returned"
    assert reason("new_id_enrolled_before", hub_id="hub-0009") in page(refused)
    Hub.objects.filter(hub_id="hub-0001").update(revoked_at=timezone.now())
    assert act(tina, hub, "restock", hub_id="hub-0009").status_code == 409, "revoked or not"
    hub.refresh_from_db()
    assert (hub.state, hub.hub_id) == ("returned", "hub-0001")


@pytest.mark.parametrize(("who", "action"), [("vera", "return"), ("adam", "faulty")])
def test_another_teams_technician_cannot_take_back_her_patients_hub(
    ward: dict[str, Any], who: str, action: str
) -> None:
    """docs/security.md: another team's patient is a 404 for every page and action. Vera
    (technician of team Vest) and Adam (administrator in no team) may not see Ola: taking back
    or marking faulty the hub in her home is a 404 (and offered to neither), her care episode
    and the hub unchanged, nothing audited as a change; `centre equipment` stays unlimited."""
    tina = signed_in("tina")
    hub = add(tina, kind="hub", model="Raspberry Pi 5 kit", serial="RPI-0001", hub_id="hub-0001")
    assert act(tina, hub, "deploy", patient=ward["ola"].pk).status_code == 302
    episode = CareEpisode.objects.get(patient=ward["ola"], ended=None)
    changes = AuditEntry.objects.filter(action="change").count()
    other = signed_in(who)
    shown = other.get(f"/equipment/{hub.pk}/").content.decode()
    assert 'id="give-back"' not in shown and 'id="faulty"' not in shown
    assert act(other, hub, action, note="x").status_code == 404
    episode.refresh_from_db()
    assert episode.ended is None and state(hub) == "deployed"
    assert AuditEntry.objects.filter(action="change").count() == changes
    assert act(tina, hub, action, note="x").status_code == 302, "her own team's may"


def test_who_may_open_the_pages_and_deploy_to_whom(ward: dict[str, Any]) -> None:
    assert Client().get("/equipment/").status_code == 302, "to the login"
    kari = signed_in("kari")
    assert kari.get("/equipment/").status_code == 403, "nurses do not"
    assert kari.post("/equipment/add/", {**CUFF, "address": "00:1A:7D:DA:71:13"}).status_code == 403
    tina, vera, adam = signed_in("tina"), signed_in("vera"), signed_in("adam")
    hub = add(tina, kind="hub", model="Pi", serial="1", hub_id="hub-0001")
    assert "Ola" in page(tina.get(f"/equipment/{hub.pk}/")), "her team's patients to choose"
    assert "Ola" not in page(vera.get(f"/equipment/{hub.pk}/"))
    assert 'id="no-patients"' in adam.get(f"/equipment/{hub.pk}/").content.decode()
    assert 'id="no-patients"' not in tina.get(f"/equipment/{hub.pk}/").content.decode()
    for stranger in (vera, adam):  # another team's patient, or no team at all
        refused = act(stranger, hub, "deploy", patient=ward["ola"].pk)
        assert refused.status_code == 400
        assert state(hub) == "in_stock"
    assert act(tina, hub, "deploy", patient=ward["ola"].pk).status_code == 302
    # Vera sees that it is in use, not by whom.
    shown = page(vera.get(f"/equipment/{hub.pk}/"))
    assert "Ola" not in shown and "Øst" in shown
    viewed = AuditEntry.objects.filter(action="view", patient=ward["ola"])
    assert viewed.filter(user="vera").count() == 0
    tina.get(f"/equipment/{hub.pk}/")
    assert viewed.filter(user="tina").exists(), "a page naming her is audited"


@pytest.mark.parametrize(
    "query",
    [
        "?kind=<script>alert(1)</script>",
        "?state=nowhere&kind=hub",
        "?page=abc",
        "?page=99999999999999999999999",
        "?kind=" + "x" * 10_000,
        "?state=in_stock&state=faulty",
    ],
)
def test_hostile_list_filters_are_never_a_500(ward: dict[str, Any], query: str) -> None:
    tina = signed_in("tina")
    add(tina, kind="hub", model="Pi", serial="1", hub_id="hub-0001")
    response = tina.get(f"/equipment/{query}")
    assert response.status_code == 200
    assert "<script>alert" not in response.content.decode()


def test_hostile_forms_are_refused_and_change_nothing(ward: dict[str, Any]) -> None:
    tina = signed_in("tina")
    hub = add(tina, kind="hub", model="Pi", serial="1", hub_id="hub-0001")
    for url in ("/equipment/99999999999999999999999/", "/equipment/0/", "/equipment/x/"):
        assert tina.get(url).status_code == 404
    assert tina.post("/equipment/99999999999999999999999/deploy/", {}).status_code == 404
    for fields in (
        {"patient": "abc", "seen": "0"},
        {"patient": str(2**70), "seen": "0"},
        {"patient": ward["ola"].pk, "seen": "x"},
        {"patient": ward["ola"].pk, "seen": str(2**70)},
        {"patient": ward["ola"].pk},
    ):
        assert tina.post(f"/equipment/{hub.pk}/deploy/", fields).status_code == 400
    assert (
        tina.post(f"/equipment/{hub.pk}/faulty/", {"seen": 0, "note": "x" * 201}).status_code == 400
    )
    for fields in (
        {"kind": "hub", "model": "x" * 100_000, "serial": "2", "hub_id": "hub-0002"},
        {"kind": "hub", "model": "Pi", "serial": "2", "hub_id": "HUB 2!"},
        {"kind": "hub", "model": "Pi", "serial": "1", "hub_id": "hub-0002"},  # serial taken
        {"kind": "hub", "model": "Pi", "serial": "2", "hub_id": "hub-0001"},  # hub id taken
        {"kind": "toaster", "model": "Pi", "serial": "2"},
        {**CUFF, "address": "00:1A:7D:DA:71"},
        {**CUFF, "address": "00:1A:7D:DA:71:13", "profile": "coffee"},
        {**CUFF, "address": "00:1A:7D:DA:71:13", "hub_id": "hub-0002"},
        {"kind": "hub", "model": "Pi", "serial": "2", "hub_id": "hub-0002", "profile": "glucose"},
    ):
        assert tina.post("/equipment/add/", fields).status_code == 400, fields
    assert Equipment.objects.count() == 1
    assert tina.get(f"/equipment/{hub.pk}/deploy/").status_code == 405, "changes are POSTs"
    assert state(hub) == "in_stock"


def test_a_form_sent_again_after_a_change_is_refused(ward: dict[str, Any]) -> None:
    tina = signed_in("tina")
    hub = add(tina, kind="hub", model="Pi", serial="1", hub_id="hub-0001")
    shown = hub.version
    form = {"seen": shown, "patient": ward["ola"].pk}
    assert tina.post(f"/equipment/{hub.pk}/deploy/", form).status_code == 302
    assert act(tina, hub, "return").status_code == 302
    Hub.objects.filter(hub_id="hub-0001").update(signing_key="new")
    assert act(tina, hub, "restock").status_code == 302
    changes = AuditEntry.objects.filter(action="change").count()
    replayed = tina.post(f"/equipment/{hub.pk}/deploy/", form)  # in stock again, as then
    assert replayed.status_code == 409
    with translation.override("nb"):
        assert str(CHANGED) in page(replayed)
    assert state(hub) == "in_stock"
    assert AuditEntry.objects.filter(action="change").count() == changes


def test_of_two_technicians_deploying_one_hub_at_once_one_wins(ward: dict[str, Any]) -> None:
    """The rows are locked (PostgreSQL) or the writers take turns (SQLite, BEGIN IMMEDIATE):
    the second sees it deployed and is told so; one care episode, one use."""
    hub = service.add("hub", "Pi", "1", hub_id="hub-0001", by="tina")
    other = Patient.objects.create(
        name="Per Øst",
        birth_date=date(1990, 1, 1),
        national_id="41019012393",
        diagnosis="other",
        team=ward["east"],
    )
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def deploy(patient: Patient) -> None:
        try:
            start.wait()
            service.deploy(hub.pk, patient.pk, by="tina")
            outcomes.append("won")
        except Refused as refused:
            outcomes.append(refused.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deploy, args=(p,)) for p in (ward["ola"], other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["deployed", "won"], "the loser hears that it is deployed"
    assert CareEpisode.objects.filter(hub_id="hub-0001", ended=None).count() == 1
    assert EquipmentUse.objects.filter(equipment=hub).count() == 1


def test_the_words_and_profiles_match_the_rest_of_the_system() -> None:
    assert set(REFUSALS) == set(REASONS), "every refusal has its words on the web"
    assert set(Equipment.Profiles.values) == set(BY_NAME), "the hub's profiles (profiles.py)"


def test_the_inventory_at_the_command_line(
    ward: dict[str, Any], centre_db: str, tmp_path: Path
) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "web-secret").write_text("x" * 64)
    config = tmp_path / "centre.toml"
    config.write_text(f'state_dir = "{tmp_path}"\ndatabase = "{centre_db}"\n')

    def centre(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "centre.cli", "--config", str(config), "equipment", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "DHO_LOG_LEVEL": "WARNING"},
        )

    made = centre("add", "hub", "--model", "Pi", "--serial", "S1", "--hub-id", "hub-0001")
    assert made.returncode == 0, made.stderr
    made = centre(
        "add", "device", "--model", "UA-651", "--serial", "C1", "--address",
        "00:1a:7d:da:71:13", "--profile", "blood_pressure",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    refused = centre("deploy", "00:1A:7D:DA:71:13", "--national-id", "15076500565")
    assert refused.returncode == 2 and REASONS["no_episode"] in refused.stderr
    for step in (
        ("deploy", "hub-0001", "--national-id", "150765 00565"),
        ("deploy", "00:1A:7D:DA:71:13", "--national-id", "15076500565"),
        ("return", "hub-0001", "--note", "discharged"),
    ):
        done = centre(*step)
        assert done.returncode == 0, done.stderr
    assert '"devices_returned": [' in done.stdout
    refused = centre("restock", "hub-0001")
    assert refused.returncode == 2 and "hub wipe" in refused.stderr
    listed = centre("list", "--state", "returned")
    assert listed.returncode == 0 and listed.stdout.count('"state": "returned"') == 2
    assert AuditEntry.objects.filter(user__startswith="cli:", action="change").count() == 6
