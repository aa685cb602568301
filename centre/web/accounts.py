"""Making the centre's users: a user with a role, in teams, with a second factor (TOTP) whose
secret the new user puts in her authenticator app, and, where the centre signs in through an
OIDC provider (HelseID), the person at the provider she is. Later: putting her in another team
or taking her out of one, switching her off and on."""

from __future__ import annotations

import base64
import getpass
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from centre.errors import CentreError
from centre.people.access import ROLES

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from centre.people.models import Team


class AccountError(CentreError, ValueError):
    """A user that cannot be made as asked; says why."""


@dataclass(frozen=True)
class NewUser:
    username: str
    password: str
    totp_secret: str  # base32, as authenticator apps take it
    otpauth_uri: str


def add_user(
    username: str,
    role: str,
    teams: list[str],
    password: str | None = None,
    full_name: str = "",
    municipality: str | None = None,
    oidc_subject: str | None = None,
) -> NewUser:
    from django.contrib.auth.models import Group, User
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.db import transaction
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from centre.people.registry import find_team
    from centre.web.models import OidcIdentity

    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    _check_username(username)
    if User.objects.filter(username=username).exists():
        raise AccountError(f"user {username!r} exists already")
    if oidc_subject is not None:
        oidc_subject = _checked_subject(oidc_subject)
        if OidcIdentity.objects.filter(subject=oidc_subject).exists():
            raise AccountError(f"the OIDC subject {oidc_subject!r} is linked to another user")
    found = {team.pk: team for team in (find_team(name, municipality) for name in teams)}
    password = password or secrets.token_urlsafe(15)
    first, _, last = full_name.partition(" ")
    user = User(username=username, first_name=first[:150], last_name=last[:150])
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise AccountError("the password is refused: " + " ".join(exc.messages)) from None
    with transaction.atomic():
        user.set_password(password)
        user.save()
        user.groups.add(Group.objects.get(name=role))
        for team in found.values():
            team.members.add(user)
        device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
        if oidc_subject is not None:
            OidcIdentity.objects.create(user=user, subject=oidc_subject)
    secret = base64.b32encode(device.bin_key).decode()
    return NewUser(username, password, secret, device.config_url)


def join_team(username: str, team: str, municipality: str | None = None) -> bool:
    """Put an existing user in a team (a nurse who moves, a technician who should see the names
    of that team's patients): she sees its patients from her next page on. False when she was
    in it already (nothing changes, nothing is logged)."""
    from django.db import transaction

    with transaction.atomic():
        user = _existing(username, "make her with `centre add-user`")
        found = _team(team, municipality)
        if found.members.filter(pk=user.pk).exists():
            return False
        found.members.add(user)
        _audit(f"user {username} put in team {_named(found)} (centre add-team-member)")
    return True


def leave_team(username: str, team: str, municipality: str | None = None) -> bool:
    """Take a user out of a team: from her next page on she no longer sees its patients (every
    page asks centre.people.access). False when she was not in it (nothing changes)."""
    from django.db import transaction

    with transaction.atomic():
        user = _existing(username, "usernames are case-sensitive")
        found = _team(team, municipality)
        if not found.members.filter(pk=user.pk).exists():
            return False
        found.members.remove(user)
        _audit(f"user {username} taken out of team {_named(found)} (centre remove-team-member)")
    return True


def list_users() -> list[dict[str, object]]:
    """Every user, by username: her full name, role, whether she may sign in, her teams, and
    whether she has a second factor (a TOTP device) and a link to the OIDC provider. Never a
    secret: no password hash, no TOTP key, not even the OIDC subject (HelseID's pid is her
    national identity number); what `centre list-users` prints."""
    from django.contrib.auth.models import User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from centre.people.registry import role_of
    from centre.web.models import OidcIdentity

    users = User.objects.prefetch_related("groups", "teams__municipality").order_by("username")
    with_totp = set(TOTPDevice.objects.filter(confirmed=True).values_list("user_id", flat=True))
    with_oidc = set(OidcIdentity.objects.values_list("user_id", flat=True))
    return [
        {
            "username": user.username,
            "name": user.get_full_name(),
            "role": role_of(user),
            "active": user.is_active,
            "teams": sorted(f"{t.name} ({t.municipality.number})" for t in user.teams.all()),
            "second_factor": user.pk in with_totp,
            "oidc_linked": user.pk in with_oidc,
        }
        for user in users
    ]


def _team(name: str, municipality: str | None) -> Team:
    """The team as `add-user --team` finds it (centre.people.registry.find_team)."""
    from centre.people.registry import RegistryError, find_team

    try:
        return find_team(name, municipality)
    except RegistryError as exc:
        raise AccountError(str(exc)) from None


def _named(team: Team) -> str:
    return f"{team.name} ({team.municipality.name}, {team.municipality.number})"


def link_oidc(username: str, subject: str) -> None:
    """Link an existing user to the person the OIDC provider names `subject` (replacing her
    link, if she had one): for users made before the centre signed in through a provider."""
    from django.db import transaction

    from centre.web.models import OidcIdentity

    subject = _checked_subject(subject)
    with transaction.atomic():
        user = _existing(username, "make her with `centre add-user`")
        taken = OidcIdentity.objects.filter(subject=subject).exclude(user=user).exists()
        if taken:
            raise AccountError(f"the OIDC subject {subject!r} is linked to another user")
        OidcIdentity.objects.filter(user=user).delete()
        OidcIdentity.objects.create(user=user, subject=subject)


def switch_off(username: str) -> int:
    """Shut a user out of the web (she left the centre, her account was misused): she can no
    longer sign in, by password or through the OIDC provider, and her sessions end at once. Her
    name stays on what she did and in the audit log; `switch_on` lets her in again. Returns
    how many of her sessions were ended."""
    from django.db import transaction

    with transaction.atomic():
        user = _existing(username)
        user.is_active = False
        user.save(update_fields=["is_active"])
        ended = _end_sessions(user)
        _audit(f"user {username} switched off (centre disable-user): {ended} session(s) ended")
    return ended


def switch_on(username: str) -> None:
    """Let a user switched off sign in again, with the password and code she had. Any session
    of hers still stored is ended first: one made while she was being switched off (her code
    typed as the command ran) must not come back to life now."""
    from django.db import transaction

    with transaction.atomic():
        user = _existing(username)
        _end_sessions(user)
        user.is_active = True
        user.save(update_fields=["is_active"])
        _audit(f"user {username} switched on again (centre enable-user)")


def _end_sessions(user: User) -> int:
    """Delete the user's stored sessions; how many."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    hers = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now())
        if session.get_decoded().get("_auth_user_id") == str(user.pk)
    ]
    Session.objects.filter(pk__in=hers).delete()
    return len(hers)


def _existing(username: str, then: str = "usernames are case-sensitive") -> User:
    from django.contrib.auth.models import User

    user = None
    if _username_allowed(username):  # else no user has it (and no query: a NUL fails on PostgreSQL)
        user = User.objects.select_for_update().filter(username=username).first()
    if user is None:
        raise AccountError(f"there is no user {username[:150]!r}: {then}")
    return user


def _check_username(username: str) -> None:
    if not _username_allowed(username):
        raise AccountError(
            f"the username {username[:150]!r} is refused: 1 to 150 letters, digits and @.+-_"
        )


def _username_allowed(username: str) -> bool:
    """Whether it is a username as Django's own forms take it: 1 to 150 letters, digits and
    @.+-_."""
    from django.contrib.auth.validators import UnicodeUsernameValidator
    from django.core.exceptions import ValidationError

    try:
        UnicodeUsernameValidator()(username)
    except ValidationError:
        return False
    return 0 < len(username) <= 150


def _audit(what: str) -> None:
    """A change to who may sign in, in the audit log under the system user that made it."""
    from centre.people.models import AuditEntry

    AuditEntry.objects.create(
        user=f"{getpass.getuser()} (command line)"[:150], action="change", what=what[:500]
    )


def _checked_subject(subject: str) -> str:
    """The value the provider's claim will hold for her, as the administrator typed it."""
    subject = subject.strip()
    if not subject or len(subject) > 255 or not subject.isprintable():
        raise AccountError("the OIDC subject must be 1 to 255 printable characters")
    return subject
