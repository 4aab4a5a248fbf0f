"""Deployment settings: `check --deploy` is clean with DEBUG=false HTTPS=true; security headers and CSP
on every page; logins are throttled; a 500 leaves its traceback on stderr; docker-compose demands secrets."""

import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _run(code_or_args: list[str], tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *code_or_args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"DJANGO_SETTINGS_MODULE": "webapp.settings", "VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", **env},
    )


def _random_key() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits + "!@#%^&*(-_=+)") for _ in range(50))


def test_check_deploy_prints_no_warnings_with_https_on(tmp_path):
    out = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        DEBUG="false",
        HTTPS="true",
        SECRET_KEY=_random_key(),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "WARNINGS" not in out.stdout + out.stderr and "no issues (0 silenced)" in out.stdout


def test_check_deploy_warns_without_https_so_the_check_above_can_fail(tmp_path):
    out = _run(["manage.py", "check", "--deploy"], tmp_path, DEBUG="false", SECRET_KEY=_random_key())
    assert "security.W008" in out.stderr and "security.W012" in out.stderr  # SSL redirect, Secure session cookie


def test_https_settings_trust_the_proxy_header_only_when_asked(tmp_path):
    code = "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)"
    on = _run(["-c", code], tmp_path, HTTPS="true")
    assert on.stdout.split() == ["('HTTP_X_FORWARDED_PROTO',", "'https')", "True", "True", "True", "31536000"], (
        on.stderr
    )
    off = _run(["-c", code], tmp_path)
    assert off.stdout.split() == ["None", "False", "False", "False", "0"], off.stderr


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy_and_security_headers(client, make_user):
    client.force_login(make_user())
    response = client.get("/account/tokens/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "object-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_no_template_has_inline_script_or_event_handlers():
    """The CSP allows scripts only from static files, so a template with inline script would silently break."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for bad in ("<script>", "hx-on", " onclick=", " onchange=", " onsubmit=", " onload=", "javascript:"):
            if bad in text:
                offenders.append(f"{path.relative_to(ROOT)}: {bad}")
    assert offenders == []


@pytest.mark.django_db
def test_five_bad_logins_lock_the_account_out_with_a_clear_message(client, make_user):
    make_user(username="victim", password="right-password-123")
    for _ in range(4):
        response = client.post("/login/", {"username": "victim", "password": "wrong"})
        assert response.status_code == 200 and "username and password didn't match" in response.content.decode()
    locked = client.post("/login/", {"username": "victim", "password": "wrong"})
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode() and "Try again in 15 minutes" in locked.content.decode()
    # the right password does not get in either while locked
    again = client.post("/login/", {"username": "victim", "password": "right-password-123"})
    assert again.status_code == 429 and "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_good_login_after_a_few_mistakes_still_works_and_resets_the_count(client, make_user):
    make_user(username="typo", password="right-password-123")
    for _ in range(3):
        client.post("/login/", {"username": "typo", "password": "wrong"})
    assert client.post("/login/", {"username": "typo", "password": "right-password-123"}).status_code == 302
    client.logout()
    for _ in range(4):
        assert client.post("/login/", {"username": "typo", "password": "wrong"}).status_code == 200


BOOM = """
import django
django.setup()
from django.test import Client, override_settings
from django.urls import path

def boom(request):
    raise ZeroDivisionError("the traceback must reach stderr")

urlpatterns = [path("boom", boom)]
with override_settings(ROOT_URLCONF=__name__):
    print(Client(raise_request_exception=False).get("/boom").status_code)
"""


def test_a_server_error_logs_its_traceback_to_stderr_with_debug_off(tmp_path):
    out = _run(["-c", BOOM], tmp_path, DEBUG="false")
    assert out.stdout.strip() == "500", out.stderr
    assert "ERROR django.request" in out.stderr and "Internal Server Error: /boom" in out.stderr
    assert (
        "Traceback (most recent call last)" in out.stderr
        and "ZeroDivisionError: the traceback must reach stderr" in out.stderr
    )


def test_docker_compose_demands_a_secret_key_and_a_flower_password():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text
    for name, service in compose["services"].items():
        if name in ("postgres", "redis"):
            continue
        assert service["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?"), name
    flower = compose["services"]["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    assert "--basic-auth" in flower["command"]
