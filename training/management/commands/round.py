import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Project
from training import rounds
from training.management.commands.generate import wait_for_job
from training.models import ModelVersion


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
        parser.add_argument("--wait", action="store_true", help="wait for the round to finish")
        parser.add_argument("--inline", action="store_true", help="run the round in this process, not on a worker")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait at most")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"--project: no project with slug {opts['project']!r}")
        policy = ModelVersion.objects.filter(project=project, name=opts["policy"]).first()
        if policy is None:
            raise CommandError(f"--policy: no model named {opts['policy']!r} in project {project.slug}")
        try:
            round_ = rounds.start_round(
                project=project,
                policy=policy,
                algorithm=opts["algorithm"],
                judge=opts["judge"],
                humans=opts["humans"],
                settings=parse_sets(opts["set"]),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"queued round {round_.number} (job {round_.job_id})")
        if (opts["wait"] or opts["inline"]) and round_.job is not None:
            wait_for_job(round_.job, opts["timeout"], opts["inline"])
        self.stdout.write(json.dumps(rounds.round_summary(round_)))
