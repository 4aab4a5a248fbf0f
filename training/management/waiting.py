"""What the management commands that queue a job share: the --wait/--inline/--timeout options, the lookups of
--project, --model-like and --snapshot options (a clear CommandError naming the option), waiting for the job,
and the JSON line they print last."""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import DatasetSnapshot, Project
from training.models import Job, ModelVersion

DEFAULT_TIMEOUT = 24 * 3600


def add_wait_arguments(parser: CommandParser, *, what: str = "the job", inline: str = "the job") -> None:
    """--wait (for `what` to finish), --inline (run `inline` in this process) and --timeout (seconds)."""
    parser.add_argument("--wait", action="store_true", help=f"wait for {what} to finish")
    parser.add_argument("--inline", action="store_true", help=f"run {inline} in this process, not on a worker")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait at most")


def wait_for_job(job: Job, timeout: float, inline: bool) -> bool:
    """Run `job` here (`inline`), or wait until a worker has finished it or `timeout` seconds passed.

    Returns whether the job has finished."""
    if inline:
        from workers.jobs import run_job

        run_job(job.pk, "cli")
    deadline = time.monotonic() + timeout
    job.refresh_from_db()
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(0.5)
        job.refresh_from_db()
    return job.is_finished


def wait_if_asked(command: BaseCommand, job: Job | None, opts: dict[str, Any]) -> bool:
    """With --wait or --inline, wait for `job` (a clear note on stderr when --timeout ran out first).

    Returns whether it waited."""
    if not (opts["wait"] or opts["inline"]) or job is None:
        return False
    if not wait_for_job(job, opts["timeout"], opts["inline"]):
        command.stderr.write(f"job {job.pk} is still {job.status} after --timeout {opts['timeout']:g} s")
    return True


def fail_unless_succeeded(job: Job, status: str, label: str) -> None:
    """A CommandError naming the last line of `job`'s error when its `status` is not succeeded."""
    if status == "succeeded":
        return
    job.refresh_from_db()
    reason = (job.error.strip().splitlines() or [""])[-1]
    raise CommandError(f"{label} job {job.pk} ended {status}" + (f": {reason}" if reason else ""))


def write_json(command: BaseCommand, payload: Any) -> None:
    """The JSON line a command prints last."""
    command.stdout.write(json.dumps(payload))


@contextmanager
def service_errors() -> Iterator[None]:
    """A service's ValueError as a CommandError with its message."""
    try:
        yield
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def project_option(slug: str) -> Project:
    """The project of --project."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise CommandError(f"--project: no project with slug {slug!r}")
    return project


def version_option(project: Project, option: str, name: str) -> ModelVersion:
    """The model version named `name` (given as --`option`) of `project`."""
    found = ModelVersion.objects.filter(project=project, name=name).first()
    if found is None:
        raise CommandError(f"--{option}: no model named {name!r} in project {project.slug}")
    return found


def snapshot_option(project: Project, snapshot_id: int | None) -> DatasetSnapshot | None:
    """The snapshot of --snapshot in `project`, or None when the option was not given."""
    if snapshot_id is None:
        return None
    snapshot = DatasetSnapshot.objects.filter(pk=snapshot_id, project=project).first()
    if snapshot is None:
        raise CommandError(f"--snapshot: no snapshot {snapshot_id} in project {project.slug}")
    return snapshot
