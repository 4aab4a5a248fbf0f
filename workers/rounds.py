"""The runner of rounds (Job.Kind.ROUND), and how a driving job waits on its child jobs.

A round's job walks the stages of training/rounds.py in order (campaign -> judging -> annotators ->
snapshot -> [rm-ppo: reward training -> prompt snapshot ->] training -> evaluation), each step
idempotent and recorded on the Round row, so a resumed round job continues where it stopped (a failed
child job is resumed, not made again).

Waiting on a child (`await_child`): the driver polls the child's status and beats its own progress
meanwhile. A child still queued while no other live worker takes its queue is run here, in this
process (claiming is atomic, so a worker that took it first wins and this is a no-op): a single
worker with concurrency 1 (`make run`) never deadlocks on a driver waiting for its own child.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from training import jobs, rounds
from training.models import Job, Round, WorkerBeat
from workers.jobs import Progress, run_job, runner

POLL_S = 0.5


class ChildFailed(RuntimeError):
    """A child job ended failed or cancelled."""


def other_worker_takes(queue: str, me: str) -> bool:
    """Whether a live worker other than `me` consumes `queue`."""
    cutoff = timezone.now() - timedelta(seconds=3 * settings.WORKER_BEAT_SECONDS)
    alive = WorkerBeat.objects.filter(seen_at__gte=cutoff).exclude(hostname=me).values_list("queues", flat=True)
    return any(queue in queues.split(",") for queues in alive)


def await_child(driver: Job, child: Job, beat: Callable[[], bool], what: str, *, resume_failed: bool = True) -> str:
    """Wait for `child` to end; its final status. A child that had failed before this wait began is
    resumed once (`resume_failed`); one that fails during it raises ChildFailed naming `what`. When
    `beat()` answers False (the driver was cancelled) the child is cancelled too and "cancelled" returned."""
    child.refresh_from_db()
    if resume_failed and child.status in (Job.Status.FAILED, Job.Status.CANCELLED):
        child = jobs.resume(child)
    me = driver.worker or "driver"
    while True:
        child.refresh_from_db()
        if child.is_finished:
            if child.status != Job.Status.SUCCEEDED:
                last = (child.error or "").strip().splitlines()[-1:] or [child.status]
                raise ChildFailed(f"{what}: job {child.pk} {child.status}: {last[0]}")
            return child.status
        if child.status == Job.Status.QUEUED and not other_worker_takes(jobs.queue_for(child.kind), me):
            run_job(child.pk, f"{me} (inline)")  # a no-op when another worker claimed it first
            continue
        if not beat():
            jobs.cancel(child)
            return Job.Status.CANCELLED
        time.sleep(POLL_S)


STAGES = 6


@runner(Job.Kind.ROUND)
def run_round(job: Job, progress: Progress) -> str:
    round_ = rounds.round_of_job(job.pk)
    stage = 0

    def beat() -> bool:
        return progress(stage, STAGES)

    def wait(child: Job | None, what: str) -> bool:
        """True when the child succeeded (or there is none); False when the round was cancelled."""
        return child is None or await_child(job, child, beat, what) == Job.Status.SUCCEEDED

    try:
        stage = 1
        rounds.set_status(round_, Round.Status.CAMPAIGN)
        campaign = rounds.ensure_campaign(round_)
        if not wait(campaign.job, "campaign"):
            return _cancelled(round_)
        stage = 2
        rounds.set_status(round_, Round.Status.JUDGING)
        if not wait(rounds.ensure_judging(round_), "judging"):
            return _cancelled(round_)
        if round_.humans:
            rounds.set_status(round_, Round.Status.COLLECTING)
            while not rounds.collection_done(round_):
                if not beat():
                    return _cancelled(round_)
                time.sleep(2 * POLL_S)
        stage = 3
        rounds.set_status(round_, Round.Status.SNAPSHOT)
        rounds.ensure_snapshot(round_)
        stage = 4
        if rounds.trains_reward_model(round_):  # rm-ppo: the reward-model update and PPO's prompts first
            rounds.set_status(round_, Round.Status.REWARD)
            if not wait(rounds.ensure_reward_training(round_), "reward training"):
                return _cancelled(round_)
            rounds.record_reward_version(round_)
            rounds.ensure_prompt_snapshot(round_)
        rounds.set_status(round_, Round.Status.TRAINING)
        if not wait(rounds.ensure_training(round_), "training"):
            return _cancelled(round_)
        rounds.record_new_version(round_)
        stage = 5
        if rounds.wants_evaluation(round_):
            rounds.set_status(round_, Round.Status.EVALUATING)
            if not wait(rounds.ensure_eval_campaign(round_).job, "evaluation campaign"):
                return _cancelled(round_)
            if not wait(rounds.ensure_eval_judging(round_), "evaluation judging"):
                return _cancelled(round_)
        rounds.record_rating_change(round_)
        stage = STAGES
        rounds.set_status(round_, Round.Status.DONE)
        progress(STAGES, STAGES)
        return Job.Status.SUCCEEDED
    except Exception:
        rounds.set_status(round_, Round.Status.FAILED)
        raise


def _cancelled(round_: Round) -> str:
    rounds.set_status(round_, Round.Status.CANCELLED)
    return Job.Status.CANCELLED
