"""python manage.py evaluate_rm --model NAME --project SLUG [--snapshot ID] [--reference NAME]
[--category-field category] [--wait | --inline]: a reward-model evaluation, RewardBench-style."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import DatasetSnapshot, Project
from training import evaluations
from training.management.commands.generate import wait_for_job
from training.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Evaluate a reward version (or a DPO policy as an implicit reward model, against its parent or "
        "--reference) on a project's pairs with a known preference or a preference snapshot; prints "
        '{"accuracy", "n", "categories": {NAME: {"accuracy", "n"}}, ...} last.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="name of a reward (or DPO policy) version of the project")
        parser.add_argument("--project", required=True, help="slug of the project whose pairs are the test set")
        parser.add_argument("--snapshot", type=int, default=None, help="id of a preference snapshot to use instead")
        parser.add_argument("--reference", default="", help="a DPO policy's reference version (default: its parent)")
        parser.add_argument("--category-field", default="category", help="the prompt metadata key naming a category")
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

        model = version("model", opts["model"])
        reference = version("reference", opts["reference"]) if opts["reference"] else None
        snapshot = None
        if opts["snapshot"] is not None:
            snapshot = DatasetSnapshot.objects.filter(pk=opts["snapshot"], project=project).first()
            if snapshot is None:
                raise CommandError(f"--snapshot: no snapshot {opts['snapshot']} in project {project.slug}")
        try:
            job = evaluations.start_evaluation(
                model=model,
                project=project,
                snapshot=snapshot,
                reference=reference,
                category_field=opts["category_field"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"queued evaluation job {job.pk}")
        if opts["wait"] or opts["inline"]:
            wait_for_job(job, opts["timeout"], opts["inline"])
        summary = evaluations.evaluation_summary(job)
        self.stdout.write(json.dumps(summary))
        if (opts["wait"] or opts["inline"]) and summary["status"] != "succeeded":
            job.refresh_from_db()
            reason = (job.error.strip().splitlines() or [""])[-1]
            raise CommandError(f"evaluation job {job.pk} ended {summary['status']}" + (f": {reason}" if reason else ""))
