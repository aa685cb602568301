"""What every page of the centre's web gets: a strict Content-Security-Policy (nothing from
elsewhere, no inline script or style), and the rule that every page but the login's needs a user
signed in with her second factor (or through the OIDC provider, which asked for its own), whose
session has not been idle too long or lasted longer than a shift."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import resolve
from django.urls.exceptions import Resolver404

Handler = Callable[[HttpRequest], HttpResponse]

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
PERMISSIONS = "camera=(), microphone=(), geolocation=()"
OPEN_PAGES = frozenset(
    {"login", "second_factor", "oidc_start", "oidc_callback", "set_language", "sign_out"}
)
"""Pages a visitor reaches before she is fully signed in."""
QUIET_PAGES = frozenset({"worklist_rows"})
"""Pages a browser asks for by itself (the live refresh): not a sign that someone is there."""


def content_security_policy(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        if request.user.is_authenticated if hasattr(request, "user") else False:
            response.headers["Cache-Control"] = "no-store"  # health data stays off the disk
        return response

    return middleware


def signed_in_with_second_factor(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        name = _page(request)
        if name in OPEN_PAGES or request.path.startswith(settings.STATIC_URL):
            return get_response(request)
        if not request.user.is_authenticated:
            return redirect(f"{_login_url()}?next={request.path}")
        if not _verified(request):
            return redirect("web:second_factor")
        if _expired(request):
            logout(request)
            return redirect(f"{_login_url()}?expired=1")
        if name not in QUIET_PAGES:
            request.session["active_at"] = time.time()
        return get_response(request)

    return middleware


def _page(request: HttpRequest) -> str | None:
    try:
        return resolve(request.path_info).url_name
    except Resolver404:
        return None


def _login_url() -> str:
    from django.urls import reverse

    return reverse("web:login")


def _verified(request: HttpRequest) -> bool:
    """Her TOTP code was right, or the OIDC provider (HelseID asks for its own second factor)
    vouched for her while [web.oidc] is still configured."""
    is_verified = getattr(request.user, "is_verified", None)
    if is_verified and is_verified():
        return True
    from centre.web.oidc import SIGNED_IN_BY

    return (
        request.session.get(SIGNED_IN_BY) == "oidc"
        and getattr(settings, "CENTRE_OIDC", None) is not None
    )


def _expired(request: HttpRequest) -> bool:
    now = time.time()
    started = request.session.setdefault("signed_in_at", now)
    active = request.session.get("active_at", started)
    return (
        now - float(active) > settings.SESSION_COOKIE_AGE
        or now - float(started) > settings.SESSION_LONGEST_S
    )


def navigation(request: HttpRequest) -> dict[str, Any]:
    """What the page header shows: who is signed in and what she may open."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    groups = set(user.groups.values_list("name", flat=True))
    return {
        "may_read_audit": "administrator" in groups or user.is_superuser,
        "roles": sorted(groups),
    }
