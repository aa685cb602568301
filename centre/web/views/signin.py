"""Signing in: a password (throttled by django-axes), then the code from the nurse's
authenticator app (TOTP, django-otp); signing out."""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import devices_for_user, match_token
from django_otp import login as otp_login

from centre.web.audit import audit


class SignIn(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = False

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
    if not request.user.is_authenticated or _stale(request):
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
                return redirect(_safe_next(request))
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


def _safe_next(request: HttpRequest) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    wanted = request.GET.get("next", "")
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return "/"


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("web:login")
