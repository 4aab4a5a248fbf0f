"""Every kind's runner, registered by importing its module: one import per Job.Kind."""

import time

from training import jobs
from training.models import Job

# the modules of the other kinds' runners: generation (GENERATE, CAMPAIGN), training (TRAIN), pipelines
# (PIPELINE), rounds (ROUND), best_of_n (BEST_OF_N), evaluation (EVALUATE), judging (JUDGE), arena (ARENA)
from workers import arena, best_of_n, evaluation, generation, judging, pipelines, rounds, training  # noqa: F401
from workers.jobs import Progress, runner


@runner(Job.Kind.NOOP)
def run_noop(job: Job, progress: Progress) -> str:
    """Counts to the job's total, a twentieth of a second a step: health checks and the soak test."""
    jobs.restart_from(job.pk, 0)
    for step in range(1, job.total + 1):
        time.sleep(0.05)
        if not progress(step, job.total, {"step_time": 0.05}):
            return Job.Status.CANCELLED
    return Job.Status.SUCCEEDED
