"""The cache is optional on the annotation path: Redis stopped mid-flow costs no answer and no 5xx.

The test runs its own redis-server on a free port (never the shared one), points the cache at it,
and kills it halfway through an annotator's session.
"""

import shutil
import socket
import subprocess
import time

import pytest
from django.core.cache import caches
from django.test import Client, override_settings
from django.urls import reverse

from labeling import selectors
from labeling.models import Item, Judgment

pytestmark = pytest.mark.django_db

REDIS_SERVER = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_redis():
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    port = _free_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    cache_settings = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    with override_settings(CACHES=cache_settings):  # the setting_changed signal resets the cache handlers
        yield process
    process.kill()
    process.wait()
    caches["default"].close()


def test_stopping_redis_under_the_annotation_flow_loses_nothing_and_answers_no_5xx(
    own_redis, make_user, make_project, monkeypatch
):
    monkeypatch.setattr(selectors, "OPEN_ITEMS_EXACT_BELOW", 1)  # every count goes through the cache
    monkeypatch.setattr(selectors, "_cache_down_until", 0.0)
    user = make_user()
    project = make_project(n_items=10, overlap=1, members={user: "annotator"})
    client = Client(raise_request_exception=False)
    client.force_login(user)
    url = reverse("labeling:annotate", args=[project.slug])
    statuses, tokens = [], []

    response = client.get(url, HTTP_HX_REQUEST="true")
    statuses.append(response.status_code)
    assert caches["default"].get(f"labeling:open-items:{project.pk}:1:{project.created_at.timestamp()}") == 10  # in use

    for n in range(8):
        if n == 4:
            own_redis.kill()  # Redis goes away between two answers
            own_redis.wait()
        lease = user.assignments.get(state="open")
        token = f"tok-{n}"
        response = client.post(
            reverse("labeling:judge", args=[project.slug, lease.pk]),
            {"choice": "a", "client_token": token},
            HTTP_HX_REQUEST="true",
        )
        statuses.append(response.status_code)
        tokens.append(token)
        assert f'data-testid="judged-today">{n + 1}<' in response.content.decode()  # progress still shown
        statuses.append(client.get(url).status_code)  # a full page load too
    statuses.append(client.get(reverse("labeling:queue")).status_code)

    assert all(status == 200 for status in statuses), statuses
    assert sorted(Judgment.objects.values_list("client_token", flat=True)) == sorted(tokens)  # each stored, once
    assert Item.objects.filter(project=project, judgment_count=1).count() == 8
    assert 'data-testid="left">2<' in client.get(url).content.decode()  # counted in the database
