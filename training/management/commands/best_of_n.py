"""python manage.py best_of_n --model NAME --project SLUG --n 4 (--judge SPEC | --reward NAME) [--split train]
[--snapshot ID] [--wait | --inline]: best-of-n / rejection sampling into an SFT and a preference snapshot."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import DatasetSnapshot, Project
from training import best_of_n
from training.management.commands.generate import wait_for_job
from training.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Sample n responses per prompt from a policy version, rank them with a judge or a reward version, and "
        'snapshot the best (SFT rows) and best vs worst (preference rows); prints {"job", "status", "prompts", '
        '"sft_snapshot", "preference_snapshot"} last.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="name of a policy version of the project")
        parser.add_argument("--project", required=True, help="slug of the project")
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
        parser.add_argument("--wait", action="store_true", help="wait for the job to finish")
        parser.add_argument("--inline", action="store_true", help="run the job in this process, not on a worker")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait at most")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"--project: no project with slug {opts['project']!r}")

        def version(option: str, name: str) -> ModelVersion:
            found = ModelVersion.objects.filter(project=project, name=name).first()
            if found is None:
                raise CommandError(f"--{option}: no model named {name!r} in project {project.slug}")
            return found

        policy = version("model", opts["model"])
        reward = version("reward", opts["reward"]) if opts["reward"] else None
        snapshot = None
        if opts["snapshot"] is not None:
            snapshot = DatasetSnapshot.objects.filter(pk=opts["snapshot"], project=project).first()
            if snapshot is None:
                raise CommandError(f"--snapshot: no snapshot {opts['snapshot']} in project {project.slug}")
        sampling = {
            "max_new_tokens": opts["max_new_tokens"],
            "temperature": opts["temperature"],
            "top_p": opts["top_p"],
            "seed": opts["seed"],
        }
        try:
            job = best_of_n.start_best_of_n(
                policy=policy,
                n=opts["n"],
                judge=opts["judge"],
                reward=reward,
                split=opts["split"],
                snapshot=snapshot,
                sampling=sampling,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"queued best-of-{opts['n']} job {job.pk}")
        if opts["wait"] or opts["inline"]:
            wait_for_job(job, opts["timeout"], opts["inline"])
        summary = best_of_n.best_of_n_summary(job)
        self.stdout.write(json.dumps(summary))
        if (opts["wait"] or opts["inline"]) and summary["status"] != "succeeded":
            job.refresh_from_db()
            reason = (job.error.strip().splitlines() or [""])[-1]
            raise CommandError(f"best-of-n job {job.pk} ended {summary['status']}" + (f": {reason}" if reason else ""))
