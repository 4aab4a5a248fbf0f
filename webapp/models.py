"""API tokens: a user's key for the REST API (only its sha256 is stored).

A token is usable while it is neither revoked (`revoked_at`) nor past `expires_at`; the rules
live in webapp/services.py (issue_token, authenticate_token, revoke_token, revoke_tokens).
"""

import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone

NAME_MAX = 100


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active"
        EXPIRED = "expired"
        REVOKED = "revoked"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=NAME_MAX, blank=True)
    prefix = models.CharField(
        max_length=8, editable=False, help_text="The token's first characters, to tell tokens apart."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    def state(self, now: datetime | None = None) -> "ApiToken.State":
        if self.revoked_at is not None:
            return self.State.REVOKED
        if self.expires_at is not None and self.expires_at <= (now or timezone.now()):
            return self.State.EXPIRED
        return self.State.ACTIVE

    @property
    def is_usable(self) -> bool:
        return self.state() == self.State.ACTIVE

    @classmethod
    def issue(cls, user: User, name: str = "", expires_at: datetime | None = None) -> tuple["ApiToken", str]:
        """A new token for `user`: returns the row and the secret, which is shown once and never stored."""
        secret = secrets.token_urlsafe(32)
        row = cls.objects.create(
            user=user, name=name, prefix=secret[:8], key_hash=hash_token(secret), expires_at=expires_at
        )
        return row, secret
