import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Project
from training import campaigns
from training.management.commands.generate import wait_for_job
from training.models import Campaign


class Command(BaseCommand):
    help = (
        "Start a comparison campaign: generate what the models are missing, then pairwise items (left/right "
        'balanced) into the project\'s annotation queue; prints {"campaign", "items"} last.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="slug of the project")
        parser.add_argument(
            "--models", required=True, help="comma-separated model version names (or imported response sources)"
        )
        parser.add_argument("--split", default="", help="only the prompts of this split (train | test)")
        parser.add_argument("--mode", choices=Campaign.Mode.values, default=Campaign.Mode.ALL_PAIRS)
        parser.add_argument("--reference", default="", help="with --mode vs_reference: the model every other meets")
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument("--temperature", type=float, default=0.0, help="0 is greedy")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--name", default="")
        parser.add_argument("--wait", action="store_true", help="wait for the campaign's job to finish")
        parser.add_argument("--inline", action="store_true", help="run the job in this process, not on a worker")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait at most")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"--project: no project with slug {opts['project']!r}")
        sampling = {"max_new_tokens": opts["max_new_tokens"], "temperature": opts["temperature"], "seed": opts["seed"]}
        try:
            campaign = campaigns.start_campaign(
                project=project,
                competitors=opts["models"].split(","),
                split=opts["split"],
                mode=opts["mode"],
                reference=opts["reference"],
                sampling=sampling,
                name=opts["name"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"queued campaign {campaign.pk} (job {campaign.job_id})")
        if (opts["wait"] or opts["inline"]) and campaign.job is not None:
            wait_for_job(campaign.job, opts["timeout"], opts["inline"])
        self.stdout.write(json.dumps(campaigns.campaign_summary(campaign)))
