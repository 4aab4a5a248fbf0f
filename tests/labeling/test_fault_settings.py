"""Settings that keep the annotation path up through faults (issue 11, point 11)."""

import runpy
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def test_a_stale_database_connection_is_checked_before_a_request_uses_it():
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


def test_the_redis_cache_gives_up_within_a_second():
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        return  # embedded default: an in-process cache, nothing to time out
    options = settings.CACHES["default"]["OPTIONS"]
    assert 0 < options["socket_connect_timeout"] <= 1 and 0 < options["socket_timeout"] <= 1


def test_gunicorn_recycles_workers_with_jitter_and_compose_uses_the_file():
    from gunicorn.config import Config

    values = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    config = Config()
    for name in ("bind", "worker_class", "workers", "threads", "max_requests", "max_requests_jitter", "timeout"):
        config.set(name, values[name])  # gunicorn validates each setting
    assert config.max_requests > 0 and 0 < config.max_requests_jitter < config.max_requests
    assert config.worker_class_str == "gthread" and config.threads > 1
    assert "gunicorn -c gunicorn.conf.py webapp.wsgi" in (ROOT / "docker-compose.yml").read_text()
