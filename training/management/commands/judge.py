from typing import Any

from django.core.management.base import CommandParser

from training import judging
from training.management import waiting
from webapp import commands


class Command(commands.JobCommand):
    """Queue a judging run: a judge (a registered NAME, model:NAME or rule:NAME) answers the project's
    pairwise items it has not judged yet; prints {"job", "judged", "ties", "swap_inconsistent"} last."""

    def add_job_arguments(self, parser: CommandParser) -> None:
        commands.add_project_argument(parser)
        parser.add_argument("--judge", required=True, help="a registered judge NAME, model:NAME or rule:NAME")
        parser.add_argument("--limit", type=int, default=None, help="judge at most this many items")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = waiting.project_option(opts["project"])
        with waiting.service_errors():
            run = judging.start_run(project=project, judge=opts["judge"], limit=opts["limit"])
        self.stdout.write(f"queued judging job {run.pk} ({run.judge.name}, {run.total} items)")
        if waiting.wait_if_asked(self, run, opts) and run.status != "succeeded":
            self.stderr.write(f"judging job {run.pk} {run.status}: {run.error.strip().splitlines()[-1:] or ''}")
        waiting.write_json(self, judging.run_summary(run))
