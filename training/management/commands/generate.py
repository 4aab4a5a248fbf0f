from typing import Any

from django.core.management.base import CommandParser

from training import generation
from training.management import waiting
from webapp import commands


class Command(commands.JobCommand):
    """Queue a generation batch (a model version x the project's prompts x sampling settings) for the gpu
    workers; prints {"job", "status", "responses"} last."""

    def add_job_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="name of a registered ModelVersion of the project")
        commands.add_project_argument(parser)
        parser.add_argument("--split", default="", help="only the prompts of this split (train | test)")
        parser.add_argument("--n", type=int, default=1, help="samples per prompt")
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument("--temperature", type=float, default=0.0, help="0 is greedy")
        parser.add_argument("--top-p", type=float, default=1.0)
        parser.add_argument("--top-k", type=int, default=0)
        parser.add_argument("--stop", action="append", default=[], help="a stop string (repeatable)")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **opts: Any) -> None:
        project = waiting.project_option(opts["project"])
        version = waiting.version_option(project, "model", opts["model"])
        keys = ("n", "max_new_tokens", "temperature", "top_p", "top_k", "stop", "seed")
        sampling = {key: opts[key] for key in keys}
        with waiting.service_errors():
            job = generation.start_generation(model_version=version, split=opts["split"], sampling=sampling)
        self.stdout.write(f"queued generation job {job.pk}")
        self.wait_and_print(job, opts, lambda: generation.generation_summary(job))
