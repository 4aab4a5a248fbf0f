from typing import Any

from django.core.management.base import CommandParser

from training import campaigns
from training.management import waiting
from training.models import Campaign
from webapp import commands


class Command(commands.JobCommand):
    """Start a comparison campaign: generate what the models are missing, then pairwise items (left/right
    balanced) into the project's annotation queue; prints {"campaign", "items"} last."""

    wait_for = "the campaign's job"

    def add_job_arguments(self, parser: CommandParser) -> None:
        commands.add_project_argument(parser)
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

    def handle(self, *args: Any, **opts: Any) -> None:
        project = waiting.project_option(opts["project"])
        sampling = {"max_new_tokens": opts["max_new_tokens"], "temperature": opts["temperature"], "seed": opts["seed"]}
        with waiting.service_errors():
            campaign = campaigns.start_campaign(
                project=project,
                competitors=opts["models"].split(","),
                split=opts["split"],
                mode=opts["mode"],
                reference=opts["reference"],
                sampling=sampling,
                name=opts["name"],
            )
        self.stdout.write(f"queued campaign {campaign.pk} (job {campaign.job_id})")
        self.wait_and_print(campaign.job, opts, lambda: campaigns.campaign_summary(campaign))
