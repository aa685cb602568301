"""Signing in: a password (throttled by django-axes), then the code from the nurse's
authenticator app (TOTP, django-otp); or, where [web.oidc] is configured, through the OpenID
Connect provider (HelseID: centre/web/oidc.py); signing out."""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import devices_for_user, match_token
from django_otp import login as otp_login

from centre.people.models import AuditEntry
from centre.web import oidc
from centre.web.audit import audit


def oidc_login() -> oidc.OidcLogin | None:
    login_config: oidc.OidcLogin | None = getattr(settings, "CENTRE_OIDC", None)
    return login_config


def password_login_allowed() -> bool:
    configured = oidc_login()
    return configured is None or configured.password_login


class SignIn(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = False

    def post(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not password_login_allowed():  # [web.oidc] password_login = false
            return self.render_to_response(self.get_context_data(), status=403)
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        configured = oidc_login()
        context["oidc_provider"] = configured.provider_name if configured else ""
        context["password_login"] = password_login_allowed()
        return context

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        response = super().form_valid(form)
        self.request.session["signed_in_at"] = time.time()
        return response

    def get_success_url(self) -> str:
        from django.urls import reverse

        url = super().get_success_url()
        return f"{reverse('web:second_factor')}?next={url}"


PASSWORD_THEN_CODE_S = 10 * 60  # the code must follow the password within this


class CodeForm(forms.Form):
    otp_token = forms.RegexField(regex=r"^[0-9]{6}$", max_length=6, strip=True)


def second_factor(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated or _stale(request) or not password_login_allowed():
        logout(request)  # the code alone never reopens a session: the password again
        return redirect("web:login")
    form = CodeForm(request.POST or None)
    problem = ""
    if request.method == "POST":
        problem = "wrong"
        if _throttled(request.user):
            problem = "wait"  # django-otp's pause after a wrong code: even a right one waits
        elif form.is_valid():
            device = match_token(request.user, form.cleaned_data["otp_token"])
            if device is not None:
                otp_login(request, device)
                request.session.cycle_key()  # a new session id once fully signed in
                request.session["active_at"] = time.time()
                audit(request, "login", _("signed in with password and code"))
                return redirect(_safe_next(request, request.GET.get("next", "")))
    return render(request, "web/second_factor.html", {"form": form, "problem": problem})


def _stale(request: HttpRequest) -> bool:
    """Signed in with the code already, or the password was typed too long ago (the code step
    follows the password within minutes; an old session must start from the password)."""
    if getattr(request.user, "is_verified", lambda: False)():
        return True
    started = float(request.session.get("signed_in_at", 0))
    return time.time() - started > PASSWORD_THEN_CODE_S


def _throttled(user: Any) -> bool:
    """True while every one of her devices is paused after wrong codes."""
    devices = list(devices_for_user(user))
    return bool(devices) and all(not d.verify_is_allowed()[0] for d in devices)


def _safe_next(request: HttpRequest, wanted: str) -> str:
    """Where to go once signed in: a page of this site, never another's."""
    from django.utils.http import url_has_allowed_host_and_scheme

    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return "/"


@require_POST
def oidc_start(request: HttpRequest) -> HttpResponse:
    """The button on the login page: off to the provider (a POST, so no link or prefetch
    starts a sign-in)."""
    configured = oidc_login()
    if configured is None:
        return redirect("web:login")
    request.session["oidc_next"] = _safe_next(request, request.POST.get("next", ""))
    try:
        return oidc.start(request, configured)
    except oidc.OidcRefused as refused:
        return _refused(request, refused)


def oidc_callback(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the browser back: the user an administrator linked to the
    person it vouched for is signed in, or the sign-in is refused, logged and audited."""
    configured = oidc_login()
    if configured is None:
        return redirect("web:login")
    try:
        user = oidc.finish(request, configured)
    except oidc.OidcRefused as refused:
        return _refused(request, refused)
    wanted = request.session.pop("oidc_next", "/")
    if request.user.is_authenticated:
        logout(request)  # whoever was half signed in in this browser is not any more
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session.cycle_key()  # a new session id once fully signed in (login did too)
    request.session[oidc.SIGNED_IN_BY] = "oidc"
    request.session["signed_in_at"] = request.session["active_at"] = time.time()
    audit(request, "login", _("signed in through %(name)s") % {"name": configured.provider_name})
    return redirect(wanted)


def _refused(request: HttpRequest, refused: oidc.OidcRefused) -> HttpResponse:
    oidc.log.warning("OIDC sign-in refused (%s): %s", type(refused).__name__, refused)
    AuditEntry.objects.create(
        user="",
        action="login",
        what=(_("sign-in through the provider refused: %(why)s") % {"why": refused})[:500],
    )
    configured = oidc_login()
    context = {
        "refused": refused.message,
        "oidc_provider": configured.provider_name if configured else "",
        "password_login": password_login_allowed(),
    }
    return render(request, "web/login.html", context, status=400)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("web:login")
