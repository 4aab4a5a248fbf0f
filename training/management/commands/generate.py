import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Project
from training import generation
from training.models import Job, ModelVersion


def wait_for_job(job: Job, timeout: float, inline: bool) -> None:
    """Run `job` here (`inline`), or wait until a worker has finished it or `timeout` seconds passed."""
    if inline:
        from workers.jobs import run_job

        run_job(job.pk, "cli")
    deadline = time.monotonic() + timeout
    job.refresh_from_db()
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(0.5)
        job.refresh_from_db()


class Command(BaseCommand):
    help = (
        "Queue a generation batch (a model version x the project's prompts x sampling settings) for the gpu "
        'workers; prints {"job", "status", "responses"} last.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="name of a registered ModelVersion of the project")
        parser.add_argument("--project", required=True, help="slug of the project")
        parser.add_argument("--split", default="", help="only the prompts of this split (train | test)")
        parser.add_argument("--n", type=int, default=1, help="samples per prompt")
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument("--temperature", type=float, default=0.0, help="0 is greedy")
        parser.add_argument("--top-p", type=float, default=1.0)
        parser.add_argument("--top-k", type=int, default=0)
        parser.add_argument("--stop", action="append", default=[], help="a stop string (repeatable)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--wait", action="store_true", help="wait for the job to finish")
        parser.add_argument("--inline", action="store_true", help="run the job in this process, not on a worker")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait at most")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"--project: no project with slug {opts['project']!r}")
        version = ModelVersion.objects.filter(project=project, name=opts["model"]).first()
        if version is None:
            raise CommandError(f"--model: no model named {opts['model']!r} in project {project.slug}")
        sampling = {
            "n": opts["n"],
            "max_new_tokens": opts["max_new_tokens"],
            "temperature": opts["temperature"],
            "top_p": opts["top_p"],
            "top_k": opts["top_k"],
            "stop": opts["stop"],
            "seed": opts["seed"],
        }
        try:
            job = generation.start_generation(model_version=version, split=opts["split"], sampling=sampling)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"queued generation job {job.pk}")
        if opts["wait"] or opts["inline"]:
            wait_for_job(job, opts["timeout"], opts["inline"])
        self.stdout.write(json.dumps(generation.generation_summary(job)))
