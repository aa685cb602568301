"""What the web keeps of its own: which person at the OIDC provider (HelseID) each user is."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class OidcIdentity(models.Model):
    """An administrator links a user to the person the provider names (`centre add-user
    --oidc-subject`): signing in through the provider opens that user's account and no other.
    There is no self-registration; roles and teams stay the centre's own."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identity"
    )
    # The value of the configured claim ([web.oidc] subject_claim): `sub`, or HelseID's pid.
    subject = models.CharField(_("OIDC subject"), max_length=255, unique=True)

    def __str__(self) -> str:
        return f"{self.user} = {self.subject}"
