"""Registering the people a centre follows, for administrators at the command line: a team in
its municipality, a patient with her hub (a care episode starting now), the end of an episode."""

from __future__ import annotations

from datetime import UTC, date, datetime

from centre.errors import CentreError


class RegistryError(CentreError, ValueError):
    """Something the registry refuses, in words an administrator can act on."""


def add_team(municipality: str, number: str, team: str) -> int:
    from django.core.exceptions import ValidationError

    from centre.people.models import Municipality, Team

    place, _ = Municipality.objects.get_or_create(number=number, defaults={"name": municipality})
    made = Team(name=team, municipality=place)
    try:
        place.full_clean()
        made.full_clean()
    except ValidationError as exc:
        raise RegistryError("; ".join(exc.messages)) from None
    made.save()
    return made.pk


def add_patient(
    name: str,
    birth_date: date,
    national_id: str,
    diagnosis: str,
    team: str,
    hub_id: str | None = None,
    relatives: str = "",
) -> int:
    """A patient in a team; with `hub_id`, her care episode with that hub starts now."""
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from centre.people.models import Patient, Team

    teams = list(Team.objects.filter(name=team))
    if len(teams) != 1:
        raise RegistryError(f"{len(teams)} teams are named {team!r}: give one that exists once")
    patient = Patient(
        name=name,
        birth_date=birth_date,
        national_id=national_id.replace(" ", ""),
        diagnosis=diagnosis,
        team=teams[0],
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

    if CareEpisode.objects.filter(hub_id=hub_id, ended=None).exists():
        raise RegistryError(f"hub {hub_id} is with another patient: end that care episode first")
    episode = CareEpisode(patient_id=patient_id, hub_id=hub_id, started=datetime.now(UTC))
    try:
        episode.full_clean()
    except ValidationError as exc:
        raise RegistryError("; ".join(exc.messages)) from None
    episode.save()
    return episode.pk
