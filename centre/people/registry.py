"""Registering the people a centre follows, for administrators at the command line: a team in
its municipality, a patient with her hub (a care episode starting now), the end of an episode."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from centre.errors import CentreError
from centre.people.national_id import NationalIdError, birth_date, check_national_id

TEAM_NAME_LONGEST = 100  # centre.people.models.Team.name

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from centre.people.models import Team


class RegistryError(CentreError, ValueError):
    """Something the registry refuses, in words an administrator can act on."""


def add_team(municipality: str, number: str, team: str) -> int:
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from centre.people.models import Municipality, Team

    _check_number(number)
    with transaction.atomic():
        place = Municipality.objects.filter(number=number).first()
        if place is None:
            named = Municipality.objects.filter(name=municipality).first()
            if named is not None:
                raise RegistryError(
                    f"{named.name} is municipality {named.number}, not {number}: check the "
                    "number (Statistics Norway's kommunenummer)"
                )
            place = Municipality(number=number, name=municipality)
        elif place.name != municipality:
            raise RegistryError(
                f"municipality number {number} is {place.name}, not {municipality[:100]}: check "
                "the name (as Statistics Norway writes it) and the number"
            )
        if Team.objects.filter(name=team, municipality__number=number).exists():
            raise RegistryError(f"{place.name} has a team named {team!r} already")
        try:
            place.full_clean(validate_unique=place.pk is None)
            place.save()
            made = Team(name=team, municipality=place)
            made.full_clean()
        except ValidationError as exc:
            raise RegistryError("; ".join(exc.messages)) from None
        made.save()
    return made.pk


def find_team(name: str, municipality_number: str | None = None) -> Team:
    """The one team of that name (in that municipality, when given). A name no team can have
    (empty, longer than the model's 100 characters, or with a NUL, which PostgreSQL refuses in
    a query) and a municipality number that is not four digits are refused unasked."""
    from centre.people.models import Team

    if municipality_number is not None:
        _check_number(municipality_number)
    teams = Team.objects.filter(name=name)
    if municipality_number is not None:
        teams = teams.filter(municipality__number=municipality_number)
    possible = 0 < len(name) <= TEAM_NAME_LONGEST and "\x00" not in name
    found = list(teams.select_related("municipality")[:10]) if possible else []
    if not found:
        raise RegistryError(
            f"there is no team {name[:TEAM_NAME_LONGEST]!r}{_in(municipality_number)}: check "
            "its name (case-sensitive), or make it with `centre add-team`"
        )
    if len(found) > 1:
        places = ", ".join(f"{t.municipality.name} ({t.municipality.number})" for t in found)
        raise RegistryError(
            f"teams named {name!r} are in {places}: give the municipality's number too "
            "(--municipality-number)"
        )
    return found[0]


def list_teams() -> list[dict[str, object]]:
    """Every team, by municipality number and name, with its municipality and its members'
    usernames and roles: what `centre list-teams` prints (the web's audit log, which says who
    was put where, is for administrators only)."""
    from centre.people.models import Team

    teams = (
        Team.objects.select_related("municipality")
        .prefetch_related("members__groups")
        .order_by("municipality__number", "name", "pk")
    )
    return [
        {
            "team": team.name,
            "municipality": team.municipality.name,
            "number": team.municipality.number,
            "members": [
                {"username": user.username, "role": role_of(user)}
                for user in sorted(team.members.all(), key=lambda user: user.username)
            ],
        }
        for team in teams
    ]


def role_of(user: User) -> str | None:
    """The user's role (the group `centre add-user --role` put her in); roles given besides
    it in Django's admin are named too, comma-separated, rather than hidden. None: no role."""
    from centre.people.access import ROLES

    groups = {group.name for group in user.groups.all()}  # all(): a prefetch is used
    roles = [role for role in ROLES if role in groups]
    if user.is_superuser:  # made by Django's createsuperuser, not by `centre add-user`
        roles.append("superuser")
    return ", ".join(roles) or None


def _check_number(number: str) -> None:
    if not re.fullmatch(r"[0-9]{4}", number):
        raise RegistryError(
            f"the municipality number {number[:20]!r} is refused: four digits "
            "(Statistics Norway's kommunenummer)"
        )


def _in(number: str | None) -> str:
    return f" in municipality {number}" if number else ""


def add_patient(
    name: str,
    born: date,
    national_id: str,
    diagnosis: str,
    team: Team,
    hub_id: str | None = None,
    relatives: str = "",
) -> int:
    """A patient in a team; with `hub_id`, her care episode with that hub starts now."""
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from centre.people.models import Diagnosis, Patient

    number = national_id.replace(" ", "")
    try:
        if birth_date(check_national_id(number)) != born:
            raise RegistryError(
                f"the national identity number says born {birth_date(number):%d.%m.%Y}, "
                f"not {born:%d.%m.%Y}: check both"
            )
    except NationalIdError as exc:
        raise RegistryError(f"national identity number: {exc}") from None
    if diagnosis not in Diagnosis.values:
        raise RegistryError(
            f"diagnosis {diagnosis[:40]!r} is not one of {', '.join(Diagnosis.values)}"
        )
    if Patient.objects.filter(national_id=number).exists():
        raise RegistryError("a patient with this national identity number is registered already")
    patient = Patient(
        name=name,
        birth_date=born,
        national_id=number,
        diagnosis=diagnosis,
        team=team,
        relatives=relatives,
    )
    try:
        patient.full_clean()
        with transaction.atomic():
            patient.save()
            if hub_id is not None:
                start_episode(patient.pk, hub_id)
    except ValidationError as exc:
        raise RegistryError("; ".join(exc.messages)) from None
    return patient.pk


def start_episode(patient_id: int, hub_id: str) -> int:
    from django.core.exceptions import ValidationError

    from centre.people.models import CareEpisode
    from centre.records.models import Hub

    if not Hub.objects.filter(hub_id=hub_id).exists():
        raise RegistryError(
            f"hub {hub_id} is not enrolled at this centre: check the hub id, or enrol it first "
            "(`centre enrol`)"
        )
    if CareEpisode.objects.filter(hub_id=hub_id, ended=None).exists():
        raise RegistryError(
            f"hub {hub_id} is with another patient: end that care episode first "
            "(centre end-episode)"
        )
    episode = CareEpisode(patient_id=patient_id, hub_id=hub_id, started=datetime.now(UTC))
    try:
        episode.full_clean()
    except ValidationError as exc:
        raise RegistryError("; ".join(exc.messages)) from None
    episode.save()
    return episode.pk


def end_episode(hub_id: str) -> int:
    """End the open care episode of a hub (the patient gives the hub back); returns its id.
    Her readings stay hers; the hub's next readings belong to its next episode."""
    from centre.people.models import CareEpisode

    episode = CareEpisode.objects.filter(hub_id=hub_id, ended=None).first()
    if episode is None:
        raise RegistryError(f"hub {hub_id} is with no patient now: nothing to end")
    now = datetime.now(UTC)
    if now <= episode.started:
        raise RegistryError("the episode started this very moment: try again in a second")
    episode.ended = now
    episode.save(update_fields=["ended"])
    return episode.pk
