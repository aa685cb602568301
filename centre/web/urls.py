"""The centre's pages. Each part of a nurse's work keeps its own routes in its view module."""

from __future__ import annotations

from django.urls import include, path

from centre.web.views import audit_log, patient, signin, worklist

app_name = "web"

urlpatterns = [
    path("login/", signin.SignIn.as_view(), name="login"),
    path("login/code/", signin.second_factor, name="second_factor"),
    path("login/oidc/", signin.oidc_start, name="oidc_start"),
    path("login/oidc/callback/", signin.oidc_callback, name="oidc_callback"),
    path("logout/", signin.sign_out, name="sign_out"),
    path("audit/", audit_log.audit_log, name="audit_log"),
    path("", include(worklist.urlpatterns)),
    path("patients/", include(patient.urlpatterns)),
    path("reports/", include("centre.web.views.reports")),
    path("equipment/", include("centre.web.views.equipment")),
    path("technician/", include("centre.web.views.technician")),
    path("technician/", include("centre.web.views.hub_enrolment")),
    path("patients/<int:pk>/care-plan/", include("centre.web.views.care_plan")),
]
