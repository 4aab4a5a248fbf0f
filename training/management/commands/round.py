import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from training import rounds
from training.management import waiting


def parse_sets(pairs: list[str], option: str = "--set") -> dict[str, Any]:
    """KEY=VALUE pairs as a dict; a VALUE that reads as JSON (a number, true, null, ...) is that value."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"{option}: expected KEY=VALUE, not {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


class Command(BaseCommand):
    help = (
        "Run one round of the loop from a policy version: a campaign against its parent, judgments (a judge "
        "and/or the annotators), a preference snapshot, a training job (DPO by default), the new version and "
        'its rating change; prints {"round", "snapshot", "job", "model", "rating_change"} last.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="slug of the project")
        parser.add_argument("--policy", required=True, help="name of the policy version vN")
        parser.add_argument("--algorithm", default="dpo", help="a preference algorithm of the table (dpo, orpo)")
        parser.add_argument("--judge", default="", help="a judge of the project: NAME, model:NAME or rule:NAME")
        parser.add_argument(
            "--humans", action="store_true", help="also wait for the annotators (the default without --judge)"
        )
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a round setting (split, eval_split, max_new_tokens, temperature, seed, opponent, limit, bootstrap) "
            "or a training override (max_steps, learning_rate, ...); repeatable",
        )
        waiting.add_wait_arguments(parser, what="the round", inline="the round")

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
                settings=parse_sets(opts["set"]),
            )
        self.stdout.write(f"queued round {round_.number} (job {round_.job_id})")
        waiting.wait_if_asked(self, round_.job, opts)
        waiting.write_json(self, rounds.round_summary(round_))
