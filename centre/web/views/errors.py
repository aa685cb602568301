"""Pages for what went wrong, in the centre's look and under its CSP (Django's own error pages
carry inline styles, which the policy blocks)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "web/csrf_failure.html", status=403)
