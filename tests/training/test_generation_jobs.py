"""Generation batches as jobs: a model version x a prompt set x sampling -> linked responses.

One test runs the job on a real Celery worker (queued here, claimed there); the others run the same
runner in this process (workers.jobs.run_job), which is what a worker calls."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.models import Prompt, Response
from tests.training.conftest import wait_for
from training import generation, jobs
from training.models import Generation, GenerationBatch, Job
from workers.jobs import run_job

pytestmark = pytest.mark.ml

SAMPLING = {"max_new_tokens": 4, "temperature": 0}


@pytest.fixture
def prompts(training_project):
    made = [Prompt.objects.create(project=training_project, text=f"question {i}?", split="test") for i in range(3)]
    Prompt.objects.create(project=training_project, text="a training prompt", split="train")
    return made


def test_a_generation_job_on_a_real_worker_writes_one_linked_response_per_prompt(
    transactional_db, start_worker, tiny_models, prompts
):
    worker = start_worker()
    job = generation.start_generation(model_version=tiny_models["policy"], split="test", sampling=SAMPLING)
    assert jobs.queue_for(job.kind) == jobs.queue_for(Job.Kind.TRAIN)  # the gpu queue, where the models are
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, 180, "the generation job", worker)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert (job.step, job.total) == (3, 3)
    links = Generation.objects.filter(job=job).select_related("response", "prompt")
    assert sorted(g.prompt_id for g in links) == sorted(p.pk for p in prompts)  # the test split only
    for g in links:
        assert g.model_version == tiny_models["policy"] and g.index == 0
        assert g.response.source == "model:tiny-policy" and g.response.prompt_id == g.prompt_id
        assert g.response.sampling["max_new_tokens"] == 4 and g.response.sampling["temperature"] == 0


def test_resuming_a_generation_job_adds_no_duplicate(db, tiny_models, prompts):
    job = generation.start_generation(model_version=tiny_models["policy"], split="test", sampling={**SAMPLING, "n": 2})
    assert run_job(job.pk, "here") == "succeeded"
    first = sorted(Generation.objects.filter(job=job).values_list("prompt_id", "index", "response__text"))
    assert len(first) == 6  # 3 prompts x 2 samples (equal greedy samples stay two responses)
    Generation.objects.filter(job=job, prompt=prompts[1]).delete()  # as if the worker died before that chunk
    Response.objects.filter(prompt=prompts[1], generation__isnull=True).delete()
    Job.objects.filter(pk=job.pk).update(status="failed")
    jobs.resume(job)
    assert run_job(job.pk, "here") == "succeeded"
    again = sorted(Generation.objects.filter(job=job).values_list("prompt_id", "index", "response__text"))
    assert again == first
    assert Response.objects.filter(source="model:tiny-policy").count() == 6
    # a redelivered chunk is written once
    assert (
        generation.save_samples(
            job.pk, tiny_models["policy"], job.sampling, [generation.Sample(prompt=prompts[0], index=0, text="again")]
        )
        == 0
    )


def test_a_cancelled_generation_job_stops_and_keeps_what_it_wrote(db, tiny_models, training_project):
    for i in range(20):
        Prompt.objects.create(project=training_project, text=f"prompt number {i}")
    job = generation.start_generation(model_version=tiny_models["policy"], sampling=SAMPLING)
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)  # asked while it runs: seen at its first report
    assert run_job(job.pk, "here") == "cancelled"
    job.refresh_from_db()
    assert job.status == "cancelled" and 0 < Generation.objects.filter(job=job).count() < 20


def test_the_generate_command_prints_the_job_its_status_and_the_responses(db, tiny_models, prompts):
    out = io.StringIO()
    call_command(
        "generate",
        "--model",
        "tiny-policy",
        "--project",
        tiny_models["policy"].project.slug,
        "--split",
        "test",
        "--max-new-tokens",
        "3",
        "--inline",
        stdout=out,
    )
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert last["status"] == "succeeded" and last["responses"] == 3
    assert GenerationBatch.objects.get(pk=last["job"]).sampling["max_new_tokens"] == 3


def test_the_generate_command_names_the_bad_option(db, tiny_models, prompts):
    slug = tiny_models["policy"].project.slug
    with pytest.raises(CommandError, match="--model: no model named 'nope'"):
        call_command("generate", "--model", "nope", "--project", slug)
    with pytest.raises(CommandError, match="temperature"):
        call_command("generate", "--model", "tiny-policy", "--project", slug, "--temperature", "-1")
    with pytest.raises(CommandError, match="split"):
        call_command("generate", "--model", "tiny-policy", "--project", slug, "--split", "dev")


def test_an_endpoint_version_keeps_the_name_of_its_key_variable_never_a_key(db, training_project):
    from training.services import register_model

    version = register_model(
        project=training_project,
        name="served",
        endpoint_url="http://127.0.0.1:8000/v1",
        endpoint_model="tiny",
        api_key_env="SERVED_KEY",
    )
    assert version.is_endpoint and version.base == "" and version.api_key_env == "SERVED_KEY"
    with pytest.raises(ValueError, match="api_key_env"):
        register_model(
            project=training_project,
            name="leaky",
            endpoint_url="http://x/v1",
            endpoint_model="m",
            api_key_env="sk-123 secret",
        )
    with pytest.raises(ValueError, match="endpoint_url"):
        register_model(project=training_project, name="bad", endpoint_url="file:///etc", endpoint_model="m")
