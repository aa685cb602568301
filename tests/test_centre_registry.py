"""Registering teams, patients and care episodes (centre/people/registry.py, the `centre
add-team`, `add-patient`, `end-episode` commands): what an administrator types wrong is refused
with what to check; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from centre.people.models import CareEpisode
from centre.people.registry import (
    RegistryError,
    add_patient,
    add_team,
    end_episode,
    find_team,
    start_episode,
)
from centre.store import CentreStore

KARI = ("Kari Nordmann", date(1965, 7, 15), "15076500565", "copd")


@pytest.fixture
def hubs(centre_db: str) -> CentreStore:
    store = CentreStore(centre_db)
    for hub in ("hub-0001", "hub-0002"):
        store.enrol(hub, "a signing key")
    return store


def test_a_patient_is_registered_with_her_hub_and_the_episode_ends(hubs: CentreStore) -> None:
    add_team("Bergen", "4601", "Oppfølging")
    patient = add_patient(*KARI, find_team("Oppfølging"), "hub-0001")
    episode = CareEpisode.objects.get(patient_id=patient)
    assert episode.hub_id == "hub-0001" and episode.ended is None
    with pytest.raises(RegistryError, match="with another patient: end that care episode"):
        start_episode(patient, "hub-0001")
    end_episode("hub-0001")
    assert CareEpisode.objects.get(pk=episode.pk).ended is not None
    start_episode(patient, "hub-0001")  # the hub is free again
    with pytest.raises(RegistryError, match="nothing to end"):
        end_episode("hub-0002")


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"born": date(1970, 1, 1)}, "says born 15.07.1965, not 01.01.1970"),
        ({"national_id": "15076500566"}, "check digits"),
        ({"diagnosis": "kols"}, "not one of copd, heart_failure"),
        (
            {"hub": "hub-9999"},
            "hub hub-9999 is not enrolled at this centre: check the hub id, or enrol it first",
        ),
    ],
)
def test_what_an_administrator_types_wrong_is_refused(
    hubs: CentreStore, changes: dict[str, object], why: str
) -> None:
    add_team("Bergen", "4601", "Oppfølging")
    fields: dict[str, object] = dict(
        name=KARI[0], born=KARI[1], national_id=KARI[2], diagnosis=KARI[3], hub="hub-0001"
    )
    fields.update(changes)
    hub = fields.pop("hub")
    with pytest.raises(RegistryError, match=why):
        add_patient(team=find_team("Oppfølging"), hub_id=hub, **fields)  # type: ignore[arg-type]
    assert not CareEpisode.objects.exists(), "nothing half-made"


def test_teams_of_one_name_in_two_municipalities_are_told_apart(hubs: CentreStore) -> None:
    add_team("Bergen", "4601", "Oppfølging")
    add_team("Askøy", "4627", "Oppfølging")
    with pytest.raises(RegistryError, match="give the municipality's number"):
        find_team("Oppfølging")
    assert find_team("Oppfølging", "4627").municipality.name == "Askøy"
    with pytest.raises(RegistryError, match="has a team named"):
        add_team("Bergen", "4601", "Oppfølging")
    with pytest.raises(RegistryError, match="4601 is Bergen, not Oslo"):
        add_team("Oslo", "4601", "Øst")
    with pytest.raises(RegistryError, match="Bergen is municipality 4601, not 4602"):
        add_team("Bergen", "4602", "Øst")
    with pytest.raises(RegistryError, match="the municipality number '46' is refused: four"):
        add_team("Bergen", "46", "Øst")
    with pytest.raises(RegistryError, match="there is no team 'Vest'"):
        find_team("Vest")


@pytest.mark.parametrize(
    ("name", "number", "said"),
    [
        ("Oppfølging\x00", None, "there is no team"),  # PostgreSQL refuses a NUL in a query
        ("O" * 100_000, None, "there is no team 'OOO"),
        ("", None, "there is no team ''"),
        ("x' OR '1'='1", None, "there is no team"),
        ("Oppfølging", "46\x0001", "is refused: four digits"),
        ("Oppfølging", "9" * 5_000, "is refused: four digits"),
    ],
)
def test_a_team_no_one_can_have_is_refused_in_words(
    hubs: CentreStore, name: str, number: str | None, said: str
) -> None:
    """`add-user --team` and `add-patient --team` look teams up here: hostile names end in a
    refusal that says what to do, short, on both databases; never a database error."""
    add_team("Bergen", "4601", "Oppfølging")
    with pytest.raises(RegistryError, match=said) as refused:
        find_team(name, number)
    assert len(str(refused.value)) < 300


def test_a_national_identity_number_is_registered_once(hubs: CentreStore) -> None:
    add_team("Bergen", "4601", "Oppfølging")
    add_patient(*KARI, find_team("Oppfølging"))
    with pytest.raises(RegistryError, match="registered already"):
        add_patient(*KARI, find_team("Oppfølging"))
