"""python manage.py evaluate_rm --model NAME --project SLUG [--snapshot ID] [--reference NAME]
[--category-field category] [--wait | --inline]: a reward-model evaluation, RewardBench-style."""

from typing import Any

from django.core.management.base import CommandParser

from training import evaluations
from training.management import waiting
from webapp import commands


class Command(commands.JobCommand):
    """Evaluate a reward version (or a DPO policy as an implicit reward model, against its parent or
    --reference) on a project's pairs with a known preference or a preference snapshot; prints
    {"accuracy", "n", "categories": {NAME: {"accuracy", "n"}}, ...} last."""

    def add_job_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="name of a reward (or DPO policy) version of the project")
        commands.add_project_argument(parser, help="slug of the project whose pairs are the test set")
        parser.add_argument("--snapshot", type=int, default=None, help="id of a preference snapshot to use instead")
        parser.add_argument("--reference", default="", help="a DPO policy's reference version (default: its parent)")
        parser.add_argument("--category-field", default="category", help="the prompt metadata key naming a category")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = waiting.project_option(opts["project"])
        model = waiting.version_option(project, "model", opts["model"])
        reference = waiting.version_option(project, "reference", opts["reference"]) if opts["reference"] else None
        snapshot = waiting.snapshot_option(project, opts["snapshot"])
        with waiting.service_errors():
            job = evaluations.start_evaluation(
                model=model,
                project=project,
                snapshot=snapshot,
                reference=reference,
                category_field=opts["category_field"],
            )
        self.stdout.write(f"queued evaluation job {job.pk}")
        self.wait_and_print(job, opts, lambda: evaluations.evaluation_summary(job), failure="evaluation")
