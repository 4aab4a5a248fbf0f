from typing import Any

from django.core.management.base import CommandParser

from training import rounds
from training.management import waiting
from webapp import commands


class Command(commands.JobCommand):
    """Run one round of the loop from a policy version: a campaign against its parent, judgments (a judge
    and/or the annotators), a preference snapshot, a training job (DPO by default; or a reward-model update
    then PPO), the new version and its rating change; prints {"round", "snapshot", "job", "model",
    "rating_change"} last."""

    wait_for = "the round"
    run_inline = "the round"

    def add_job_arguments(self, parser: CommandParser) -> None:
        commands.add_project_argument(parser)
        parser.add_argument("--policy", required=True, help="name of the policy version vN")
        parser.add_argument(
            "--algorithm",
            default="dpo",
            help=f"how the round trains vN+1: {', '.join(rounds.ROUND_ALGORITHMS)} "
            f"({rounds.RM_PPO}: a reward-model update on the judgments, then PPO against it)",
        )
        parser.add_argument("--judge", default="", help="a judge of the project: NAME, model:NAME or rule:NAME")
        parser.add_argument(
            "--humans", action="store_true", help="also wait for the annotators (the default without --judge)"
        )
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"a round setting ({', '.join(rounds.ROUND_DEFAULTS)}) or a training override (max_steps, "
            f"learning_rate, ...; {rounds.RM_PPO}: reward.KEY and ppo.KEY); repeatable",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        project = waiting.project_option(opts["project"])
        policy = waiting.version_option(project, "policy", opts["policy"])
        with waiting.service_errors():
            round_ = rounds.start_round(
                project=project,
                policy=policy,
                algorithm=opts["algorithm"],
                judge=opts["judge"],
                humans=opts["humans"],
                settings=commands.parse_sets(opts["set"]),
            )
        self.stdout.write(f"queued round {round_.number} (job {round_.job_id})")
        self.wait_and_print(round_.job, opts, lambda: rounds.round_summary(round_))
