"""gunicorn settings for the web process (docker-compose: `gunicorn -c gunicorn.conf.py webapp.wsgi`).

Threads per worker for the annotation loop's short requests. Each worker is replaced after
max_requests (+ up to max_requests_jitter, so they never all restart at once); a worker that
dies (kill -9, OOM) is respawned by the master, and every worker accepts on the one shared
socket, so a new worker takes traffic as soon as it has booted. A request stuck longer than
`timeout` is killed rather than holding a thread for ever.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "400"))
timeout = 30
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
