"""Soak: a real worker with beat (`celery worker -B`) on the embedded default (SQLite database, kombu's
SQLAlchemy transport on a SQLite file) for SOAK_SECONDS (default 120) while jobs are queued, run,
cancelled and finished, and beat publishes the lost-job sweep every second. At the end the
worker is alive, answers through the broker, and every job has ended as it should.

(The filesystem transport this replaced killed the worker within a minute: a reader caught a
half-written message file.) It runs in `make test`'s embedded pass; on Redis it is skipped.
"""

import os
import time

import pytest
from django.conf import settings

from tests.training.conftest import wait_for
from training import jobs
from training.models import Job, WorkerBeat

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "120"))


@pytest.mark.skipif(bool(settings.REDIS_URL), reason="soaks the embedded default's broker; Redis is not it")
def test_a_worker_with_beat_stays_alive_and_finishes_every_job_on_the_embedded_default(start_worker, make_project):
    from workers.tasks import ping

    assert settings.CELERY_BROKER_URL.startswith("sqla+sqlite:///")
    project = make_project(n_items=0)
    worker = start_worker(heartbeat_s=4, beat=True, consume=("default",))  # the lost-job sweep every second
    started = time.monotonic()
    launched, cancelled = [], []
    while time.monotonic() - started < SOAK_SECONDS:
        job = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=10)  # about half a second of work
        launched.append(job)
        if len(launched) % 10 == 5:
            jobs.cancel(job)  # now (queued) or at its next step (running)
            cancelled.append(job.pk)
        assert worker.process.poll() is None, (
            f"the worker died after {time.monotonic() - started:.0f} s\n{worker.output()}"
        )
        time.sleep(3)

    def all_ended() -> bool:
        return not Job.objects.filter(pk__in=[j.pk for j in launched]).exclude(status__in=Job.FINISHED).exists()

    wait_for(all_ended, 60, "every queued job to end", worker)
    statuses = dict(Job.objects.filter(pk__in=[j.pk for j in launched]).values_list("pk", "status"))
    assert {statuses[pk] for pk in cancelled} == {"cancelled"}
    assert {s for pk, s in statuses.items() if pk not in cancelled} == {"succeeded"}, worker.output()
    assert Job.objects.filter(pk__in=list(statuses), status="succeeded", step=10).count() == len(launched) - len(
        cancelled
    )
    assert worker.process.poll() is None, worker.output()
    assert (
        ping.apply_async(args=["still here"], queue=settings.CELERY_TASK_DEFAULT_QUEUE).get(timeout=30) == "still here"
    )
    assert WorkerBeat.objects.filter(queues__contains=settings.CELERY_TASK_DEFAULT_QUEUE).exists()
    assert "Unrecoverable error" not in worker.output() and "CRITICAL" not in worker.output()
    print(f"soak: {len(launched)} jobs ({len(cancelled)} cancelled) over {time.monotonic() - started:.0f} s")
