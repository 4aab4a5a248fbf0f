"""API token rules: issue, authenticate, revoke. Views, the API and the commands call only these."""

from datetime import timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from webapp import models
from webapp.models import ApiToken, hash_token

MAX_EXPIRES_DAYS = 3650
NAME_MAX = models.NAME_MAX


@transaction.atomic
def issue_token(user: User, name: str = "", expires_days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`, valid for `expires_days` days (None: until revoked).

    Returns the row and the secret; the secret is shown once and only its sha256 is stored.
    Raises ValidationError naming the field for a bad name or expiry.
    """
    name = (name or "").strip()
    if len(name) > NAME_MAX:
        raise ValidationError({"name": f"name: at most {NAME_MAX} characters"})
    expires_at = None
    if expires_days is not None:
        if (
            not isinstance(expires_days, int)
            or isinstance(expires_days, bool)
            or not 1 <= expires_days <= MAX_EXPIRES_DAYS
        ):
            raise ValidationError(
                {"expires_days": f"expires_days: a whole number of days from 1 to {MAX_EXPIRES_DAYS}"}
            )
        expires_at = timezone.now() + timedelta(days=expires_days)
    return ApiToken.issue(user, name=name, expires_at=expires_at)


def authenticate_token(secret: str) -> User | None:
    """The active user a usable token belongs to, or None (unknown, revoked or expired token, inactive user)."""
    now = timezone.now()
    row = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_token(secret), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if row is None or not row.user.is_active:
        return None
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user


@transaction.atomic
def revoke_token(user: User, token_id: int) -> ApiToken:
    """Revoke one of `user`'s tokens (idempotent). Raises ApiToken.DoesNotExist for anyone else's token."""
    row = ApiToken.objects.select_for_update().get(pk=token_id, user=user)
    if row.revoked_at is None:
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
    return row


def revoke_tokens(user: User) -> int:
    """Revoke every token of `user` that is not revoked yet; returns how many were revoked."""
    return revoke_selected(ApiToken.objects.filter(user=user))


@transaction.atomic
def revoke_selected(tokens: QuerySet[ApiToken]) -> int:
    """Revoke the not yet revoked tokens among `tokens` (the admin's action); returns how many."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
