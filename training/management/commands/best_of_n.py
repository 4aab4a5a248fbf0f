"""python manage.py best_of_n --model NAME --project SLUG --n 4 (--judge SPEC | --reward NAME) [--split train]
[--snapshot ID] [--wait | --inline]: best-of-n / rejection sampling into an SFT and a preference snapshot."""

from typing import Any

from django.core.management.base import CommandParser

from training import best_of_n
from training.management import waiting
from webapp import commands


class Command(commands.JobCommand):
    """Sample n responses per prompt from a policy version, rank them with a judge or a reward version, and
    snapshot the best (SFT rows) and best vs worst (preference rows); prints {"job", "status", "prompts",
    "sft_snapshot", "preference_snapshot"} last."""

    def add_job_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="name of a policy version of the project")
        commands.add_project_argument(parser)
        parser.add_argument("--n", type=int, default=4, help="samples per prompt (2 or more)")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--judge", default="", help="a registered judge NAME, model:NAME or rule:NAME")
        source.add_argument("--reward", default="", help="name of a reward version of the project")
        parser.add_argument("--split", default="", help="only the prompts of this split (train | test)")
        parser.add_argument("--snapshot", type=int, default=None, help="id of a snapshot whose prompts to use")
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument("--temperature", type=float, default=1.0)
        parser.add_argument("--top-p", type=float, default=1.0)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **opts: Any) -> None:
        project = waiting.project_option(opts["project"])
        policy = waiting.version_option(project, "model", opts["model"])
        reward = waiting.version_option(project, "reward", opts["reward"]) if opts["reward"] else None
        snapshot = waiting.snapshot_option(project, opts["snapshot"])
        sampling = {key: opts[key] for key in ("max_new_tokens", "temperature", "top_p", "seed")}
        with waiting.service_errors():
            job = best_of_n.start_best_of_n(
                policy=policy,
                n=opts["n"],
                judge=opts["judge"],
                reward=reward,
                split=opts["split"],
                snapshot=snapshot,
                sampling=sampling,
            )
        self.stdout.write(f"queued best-of-{opts['n']} job {job.pk}")
        self.wait_and_print(job, opts, lambda: best_of_n.best_of_n_summary(job), failure="best-of-n")
