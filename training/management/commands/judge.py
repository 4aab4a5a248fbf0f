import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Project
from training import judging
from training.management.commands.generate import wait_for_job


class Command(BaseCommand):
    help = (
        "Queue a judging run: a judge (a registered NAME, model:NAME or rule:NAME) answers the project's "
        'pairwise items it has not judged yet; prints {"job", "judged", "ties", "swap_inconsistent"} last.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="slug of the project")
        parser.add_argument("--judge", required=True, help="a registered judge NAME, model:NAME or rule:NAME")
        parser.add_argument("--limit", type=int, default=None, help="judge at most this many items")
        parser.add_argument("--wait", action="store_true", help="wait for the job to finish")
        parser.add_argument("--inline", action="store_true", help="run the job in this process, not on a worker")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait at most")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"--project: no project with slug {opts['project']!r}")
        try:
            run = judging.start_run(project=project, judge=opts["judge"], limit=opts["limit"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"queued judging job {run.pk} ({run.judge.name}, {run.total} items)")
        if opts["wait"] or opts["inline"]:
            wait_for_job(run, opts["timeout"], opts["inline"])
            if run.status != "succeeded":
                self.stderr.write(f"judging job {run.pk} {run.status}: {run.error.strip().splitlines()[-1:] or ''}")
        self.stdout.write(json.dumps(judging.run_summary(run)))
