"""Settings read from the environment, with embedded defaults for one machine.

Embedded default: SQLite, and a Celery broker and result store on SQLite files (SQLAlchemy) under var/
Real stack: DATABASE_URL (Postgres) and REDIS_URL (Redis as broker, result backend and cache).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from webapp.env import envbool, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = envbool("DEBUG", False)


def _secret_key() -> str:
    key = envstr("SECRET_KEY")
    if key:
        return key
    if not DEBUG and not envbool("LOCAL_SECRET_KEY", True):
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off and LOCAL_SECRET_KEY=false")
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "webapp.apps.WorkbenchAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "webapp",
    "labeling",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("CONN_MAX_AGE", 60), conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One writer at a time: every transaction takes the write lock when it begins, so the
    # read-then-write of a lease can never interleave; waiting writers queue for 30 s.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # a file (not :memory:) so that threads and worker processes see the same test database;
    # one per test process, so that two test runs on one machine never share it
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and envbool("DB_PREPARED_STATEMENTS", True):
    # Performance: bind parameters on the server and let psycopg prepare a statement once it has
    # run 5 times on a connection (connections persist, CONN_MAX_AGE), so Postgres stops parsing
    # and planning the annotation loop's queries on every request: planning the lease query
    # alone costs more than running it. Turn off behind a transaction-mode pooler (pgbouncer).
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, Celery ----------------------------------------------------------------------------
REDIS_URL = envstr("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # optional on the request path: a down or hung Redis costs at most this, then falls back
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", REDIS_URL)
    CELERY_RESULT_BACKEND = envstr("CELERY_RESULT_BACKEND", REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Embedded default: kombu's SQLAlchemy transport and Celery's database result backend, each on a
    # SQLite file under var/ (transactions, not half-written message files). A writer waits up to
    # 30 s for another's lock instead of failing.
    CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}")
    CELERY_RESULT_BACKEND = envstr("CELERY_RESULT_BACKEND", f"db+sqlite:///{VAR_DIR / 'celery-results.sqlite3'}")
    CELERY_BROKER_TRANSPORT_OPTIONS = {"connect_args": {"timeout": 30}}
    CELERY_DATABASE_ENGINE_OPTIONS = {"connect_args": {"timeout": 30}}

# --- auth, static, misc -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True  # serve app and django-htmx static files without a collectstatic step
MEDIA_ROOT = VAR_DIR / "media"
# Where registered models may live (besides MEDIA_ROOT/jobs and VAR_DIR/models, always included).
MODEL_ROOTS = envlist("MODEL_ROOTS", [])

SESSION_ENGINE = (
    "django.contrib.sessions.backends.signed_cookies"
    if envbool("COOKIE_SESSIONS", False)
    else "django.contrib.sessions.backends.db"
)
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # htmx and forms take the token from the page (hx-headers, csrf_token), never the cookie

# --- security -----------------------------------------------------------------------------------
# HTTPS=true: served over TLS behind a proxy that terminates it and sets X-Forwarded-Proto
# (only then is that header trusted). `manage.py check --deploy` is clean with DEBUG=false HTTPS=true.
HTTPS = envbool("HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the liveness probe may come over plain HTTP from inside
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = envint("HSTS_SECONDS", 365 * 24 * 3600) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = envbool("HSTS_PRELOAD", True)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # preload turned off on purpose
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp). Scripts only from this site: htmx and annotate.js are
# static files and no template has inline script or hx-on. Styles allow 'unsafe-inline' because
# htmx injects its indicator style, pygal's SVG charts carry <style> and a few templates use style=.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Login throttling (django-axes): LOGIN_FAILURE_LIMIT failed logins for one username from one
# address lock that pair out for LOGIN_LOCKOUT_MINUTES; `manage.py axes_reset` unlocks.
AUTHENTICATION_BACKENDS = [
    "webapp.auth.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = envbool("LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "webapp.auth.lockout_response"
AXES_VERBOSE = False

# Logs go to stderr (gunicorn, Celery and docker keep them); a 500 logs its traceback there
# (django.request at ERROR), whatever DEBUG says.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": envstr("LOG_LEVEL", "INFO")},
    # Django's own loggers only print when DEBUG is on; here they propagate to the root handler
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "axes": {"level": "WARNING"},  # one line per failed login and per lockout, not per check
    },
}

# Annotation: how long a lease on an item lasts before it returns to the pool.
LEASE_SECONDS = envint("LEASE_SECONDS", 30 * 60)

# Queues: light work, and training/generation (run a worker with -Q gpu on a GPU machine).
CELERY_TASK_DEFAULT_QUEUE = envstr("CELERY_DEFAULT_QUEUE", "default")
TRAINING_QUEUE = envstr("TRAINING_QUEUE", "gpu")
# A running job's worker beats this often; a job silent for 1.5 periods is failed ("worker lost")
# by the periodic check (every quarter period), so a dead worker is noticed within two periods.
TRAINING_HEARTBEAT_SECONDS = envint("TRAINING_HEARTBEAT_SECONDS", 10)
# Each worker records that it is alive this often (training.models.WorkerBeat); the jobs pages and
# the launch form warn when none has been seen for three periods.
WORKER_BEAT_SECONDS = envint("WORKER_BEAT_SECONDS", 10)
