"""The arena's worker side: generate both answers of a battle at once, streaming their tokens.

Runs on the training (gpu) queue, whose workers keep recently used models loaded
(training.ml.generate.DEFAULT_CACHE), so a battle between warm versions starts generating at once.
The task takes ids, claims the battle job once (a redelivered message does nothing), streams each
side's pieces to training.streams, then records the answers (training.arena.record_battle) and only
then ends both streams, so the vote the page then allows finds the item.
"""

from __future__ import annotations

import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import shared_task

from training import arena, jobs, streams
from training.models import Job
from workers.jobs import Progress, heartbeat, runner


def run_side(battle: Job, contender: arena.Contender, sampling: dict[str, Any]) -> tuple[int, str, dict[str, Any], int]:
    """Generate and stream one side; (version id, text, sampling recorded, tokens)."""
    from training.ml import generate
    from training.ml.sampling import Sampling

    settings = Sampling.from_dict(sampling)
    sid = arena.stream_id(battle, contender.side)
    with generate.stream(contender.prompt, settings, base=contender.base, adapters=contender.adapters) as stream:
        for piece in stream:
            streams.publish(sid, arena.clean_text(piece))
        completion = stream.completion
    assert completion is not None
    return contender.version_id, arena.clean_text(completion.text), settings.to_dict(), completion.tokens


@shared_task(bind=True, name="workers.arena.run_battle", acks_late=True)
def run_battle(
    self: Any, battle_id: int, prompt_id: int, left_id: int, right_id: int, a_on_left: bool, sampling: dict[str, Any]
) -> str:
    """Generate, stream and record battle `battle_id` (a Job of kind ARENA)."""
    battle = jobs.claim(battle_id, worker=str(self.request.hostname))
    if battle is None:
        return "skipped"
    try:
        with heartbeat(battle_id):
            contenders = arena.battle_inputs(battle_id, prompt_id, left_id, right_id)
            seeds = {"left": sampling.get("seed", 0), "right": sampling.get("seed", 0) + 1}
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"arena-{battle_id}") as pool:
                futures = {
                    c.side: pool.submit(run_side, battle, c, {**sampling, "seed": seeds[c.side]}) for c in contenders
                }
                results = {side: future.result() for side, future in futures.items()}
            arena.record_battle(
                battle_id, prompt_id, a_on_left=a_on_left, answers={side: r[:3] for side, r in results.items()}
            )
    except Exception as exc:
        jobs.fail(battle_id, traceback.format_exc())
        for side in arena.SIDES:
            streams.done(
                arena.stream_id(battle, side), {"error": f"Generation failed: {type(exc).__name__}: {exc}"[:500]}
            )
        return "failed"
    for side, result in results.items():
        streams.done(arena.stream_id(battle, side), {"tokens": result[3]})
    return "succeeded"


@runner(Job.Kind.ARENA)
def run_arena_job(job: Job, progress: Progress) -> str:
    """A battle runs once, through `run_battle` (its prompt and contenders travel with that task), never
    through the job lifecycle's `run_job`: resuming one is refused (training.jobs.resume)."""
    raise RuntimeError("an arena battle is not run again: start a new battle in the arena")
