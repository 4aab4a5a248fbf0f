"""API tokens: a user lists, creates and revokes their own; revoked and expired tokens get 401;
the commands issue (with an expiry) and revoke; staff manage every token in the admin."""

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from webapp.models import ApiToken, hash_token
from webapp.services import authenticate_token, issue_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def researcher(make_user, make_project):
    user = make_user(username="rita")
    make_project(n_items=0, members={user: "researcher"})
    return user


def api_status(client, secret: str) -> int:
    return client.get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code


def test_a_user_creates_a_token_on_the_page_and_sees_its_secret_only_once(client, researcher):
    client.force_login(researcher)
    response = client.post("/account/tokens/", {"name": "laptop", "expires_days": "30"})
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    assert secret in response.content.decode()
    token = ApiToken.objects.get(user=researcher)
    assert (
        token.name == "laptop" and token.key_hash == hash_token(secret) and secret not in (token.key_hash, token.prefix)
    )
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert api_status(client, secret) == 200

    page = client.get("/account/tokens/").content.decode()
    assert secret not in page
    assert "laptop" in page and f"{token.prefix}…" in page and "active" in page
    assert token.expires_at.strftime("%Y-%m-%d") in page
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at.strftime("%Y-%m-%d %H:%M") in page


def test_a_revoked_token_gets_401_and_the_page_says_it_is_revoked(client, researcher):
    token, secret = issue_token(researcher, name="ci")
    assert api_status(client, secret) == 200
    client.force_login(researcher)
    response = client.post(f"/account/tokens/{token.pk}/revoke", follow=True)
    assert f"Token {token.prefix}… is revoked" in response.content.decode()
    assert "revoked" in response.content.decode()
    assert api_status(client, secret) == 401
    token.refresh_from_db()
    assert token.state() == ApiToken.State.REVOKED


def test_an_expired_token_gets_401(client, researcher):
    token, secret = issue_token(researcher, expires_days=1)
    assert api_status(client, secret) == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api_status(client, secret) == 401
    token.refresh_from_db()
    assert token.state() == ApiToken.State.EXPIRED
    assert authenticate_token(secret) is None


def test_nobody_revokes_or_sees_another_users_tokens(client, researcher, make_user):
    token, secret = issue_token(researcher, name="ritas-secret-name")
    mallory = make_user(username="mallory")
    client.force_login(mallory)
    assert "ritas-secret-name" not in client.get("/account/tokens/").content.decode()
    assert client.post(f"/account/tokens/{token.pk}/revoke").status_code == 404
    assert api_status(client, secret) == 200


def test_the_token_page_needs_a_login_and_revoking_needs_a_post(client, researcher):
    token, _ = issue_token(researcher)
    assert client.get("/account/tokens/").status_code == 302
    client.force_login(researcher)
    assert client.get(f"/account/tokens/{token.pk}/revoke").status_code == 405


def test_a_bad_expiry_on_the_page_is_an_error_naming_the_field(client, researcher):
    client.force_login(researcher)
    response = client.post("/account/tokens/", {"name": "x", "expires_days": "0"})
    assert response.status_code == 400
    assert "greater than or equal to 1" in str(response.context["form"].errors["expires_days"])
    response = client.post("/account/tokens/", {"name": "n" * 101})
    assert response.status_code == 400 and "name" in response.context["form"].errors
    assert not ApiToken.objects.exists()


def test_create_api_token_prints_only_the_secret_and_takes_an_expiry(researcher, capsys):
    call_command("create_api_token", "rita", "--name", "cron", "--expires-days", "7")
    secret = capsys.readouterr().out.strip()
    assert "\n" not in secret and len(secret) >= 40
    token = ApiToken.objects.get(key_hash=hash_token(secret))
    assert token.name == "cron" and timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)
    call_command("create_api_token", "rita")
    assert ApiToken.objects.get(key_hash=hash_token(capsys.readouterr().out.strip())).expires_at is None
    with pytest.raises(CommandError, match="--expires-days"):
        call_command("create_api_token", "rita", "--expires-days", "0")


def test_revoke_api_token_revokes_all_of_a_users_tokens_and_prints_how_many(client, researcher, make_user, capsys):
    secrets_ = [issue_token(researcher)[1] for _ in range(2)]
    ApiToken.objects.filter(pk=issue_token(researcher)[0].pk).update(revoked_at=timezone.now())  # already revoked
    other, other_secret = issue_token(make_user(username="olga"))
    call_command("revoke_api_token", "rita")
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"user": "rita", "revoked": 2}
    assert [api_status(client, s) for s in secrets_] == [401, 401]
    assert authenticate_token(other_secret) == other.user
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("revoke_api_token", "nobody")


def test_staff_see_and_revoke_tokens_in_the_admin_and_others_are_refused(client, researcher, make_user):
    token, secret = issue_token(researcher, name="old")
    client.force_login(researcher)
    assert client.get("/admin/webapp/apitoken/").status_code == 403
    client.force_login(make_user(username="sam", is_staff=True, is_superuser=True))
    listing = client.get("/admin/webapp/apitoken/")
    assert listing.status_code == 200 and token.prefix in listing.content.decode()
    response = client.post("/admin/webapp/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True)
    assert "1 token(s) revoked" in response.content.decode()
    assert api_status(client, secret) == 401
