"""The runners of generation batches (Job.Kind.GENERATE) and comparison campaigns (Job.Kind.CAMPAIGN).

The lifecycle (claim, heartbeat, progress, cancel, failure) is workers/jobs.py + training/jobs.py;
the database side is training/generation.py and training/campaigns.py. This module only calls a
backend: local transformers (training.ml.generate, the worker's model cache keeps recent versions
loaded) or, for a version served elsewhere, its OpenAI-compatible endpoint (training.ml.openai_client).

Prompts are taken in fixed chunks of the whole prompt set (each seeded by its position), and each
chunk's responses are written in one transaction, so a resumed job skips what is written and
generates the rest exactly as an uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from labeling.models import Prompt
from training import campaigns, generation
from training.ml.sampling import Completion, Sampling
from training.models import GenerationBatch, Job, ModelVersion
from workers.jobs import Progress, runner

CHUNK = 8  # prompts per backend call (and per transaction)

Backend = Callable[[list[Any], Sampling], list[list[Completion]]]


def backend_for(version: ModelVersion) -> Backend:
    """generate(prompts, sampling) for `version`: its endpoint, or local transformers."""
    if version.is_endpoint:
        from training.ml.openai_client import Endpoint, OpenAIClient

        endpoint = Endpoint(
            base_url=version.endpoint_url, model=version.endpoint_model, api_key_env=version.api_key_env or None
        )

        def remote(prompts: list[Any], sampling: Sampling) -> list[list[Completion]]:
            with OpenAIClient(endpoint) as client:  # the key is read from the named variable per request
                return client.generate(prompts, sampling)

        return remote
    from training.ml import generate as local

    def here(prompts: list[Any], sampling: Sampling) -> list[list[Completion]]:
        return local.generate(prompts, sampling, base=version.base, adapters=version.adapters, batch_size=CHUNK)

    return here


def prompt_value(prompt: Prompt) -> Any:
    """What the backend gets: the text, or the conversation's {role, content} turns."""
    return prompt.conversation if prompt.conversation else prompt.text


def generate_missing(
    job_id: int,
    version: ModelVersion,
    prompts: Sequence[Prompt],
    sampling: dict[str, Any],
    report: Callable[[int], bool],
) -> bool:
    """Generate and store every (prompt, sample) of `job_id` for `version` not stored yet.

    `report(done)` is called after each chunk with the number of samples stored so far for this
    version (False stops the run); returns False when it was stopped.
    """
    settings = Sampling.from_dict(sampling)
    missing = generation.missing_samples(job_id, version, prompts, settings.n)
    done = len(prompts) * settings.n - len(missing)
    if not missing:
        return report(done)
    wanted = {(p.pk, i) for p, i in missing}
    backend = backend_for(version)
    for start in range(0, len(prompts), CHUNK):
        chunk = [p for p in prompts[start : start + CHUNK] if any((p.pk, i) in wanted for i in range(settings.n))]
        if not chunk:
            continue
        results = backend([prompt_value(p) for p in chunk], replace(settings, seed=(settings.seed + start) % 2**32))
        samples = [
            generation.Sample(prompt=p, index=i, text=c.text)
            for p, completions in zip(chunk, results, strict=True)
            for i, c in enumerate(completions)
            if (p.pk, i) in wanted
        ]
        done += generation.save_samples(job_id, version, sampling, samples)
        if not report(done):
            return False
    return True


@runner(Job.Kind.GENERATE)
def run_generation(job: Job, progress: Progress) -> str:
    batch = GenerationBatch.objects.select_related("model_version__project", "snapshot").get(pk=job.pk)
    prompts = list(generation.prompt_set(batch.project, split=batch.split, snapshot=batch.snapshot))
    total = len(prompts) * Sampling.from_dict(batch.sampling).n
    finished = generate_missing(
        job.pk, batch.model_version, prompts, batch.sampling, lambda done: progress(done, total)
    )
    return Job.Status.SUCCEEDED if finished else Job.Status.CANCELLED


@runner(Job.Kind.CAMPAIGN)
def run_campaign(job: Job, progress: Progress) -> str:
    """Generate what each model version of the campaign is missing, in turn, then make its items."""
    campaign = campaigns.campaign_of_job(job.pk)
    prompts = list(campaigns.campaign_prompts(campaign))
    versions = campaigns.versions_to_generate(campaign)
    n = Sampling.from_dict(campaign.sampling).n
    per_version = len(prompts) * n
    total = per_version * len(versions) + 1  # the last step: the items
    for k, version in enumerate(versions):
        todo = campaigns.prompts_missing_for(campaign, version, prompts)
        base = k * per_version + (len(prompts) - len(todo)) * n

        def report(done: int, base: int = base) -> bool:
            return progress(base + done, total)

        if todo and not generate_missing(job.pk, version, todo, campaign.sampling, report):
            return Job.Status.CANCELLED
    campaigns.make_items(campaign)
    progress(total, total)
    return Job.Status.SUCCEEDED
