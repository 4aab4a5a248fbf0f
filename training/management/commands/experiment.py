"""python manage.py experiment online-vs-offline [--seeds 5] [--budget N] [--rounds R] --out DIR:
does online preference data beat offline data at the same budget? (see training/ml/experiment.py)."""

from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.core.management.base import CommandError, CommandParser

from training.management import waiting
from webapp import commands


class Command(commands.Command):
    """Run an experiment with a simulated annotator; online-vs-offline compares DPO on N judgments collected
    once from the start policy with R rounds of N/R judgments of the current policy. Writes experiment.json and
    experiment.svg into --out and prints {"offline", "online", "seeds", "budget", "rounds", ...} last."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", choices=["online-vs-offline"], help="the experiment to run")
        parser.add_argument("--out", required=True, help="directory for experiment.json and experiment.svg")
        parser.add_argument("--seeds", type=int, default=5, help="number of seeds (paired runs of both arms)")
        parser.add_argument("--budget", type=int, default=256, help="judgments N per arm")
        parser.add_argument("--rounds", type=int, default=4, help="online rounds R (N/R judgments each)")
        parser.add_argument("--reference", choices=["current", "start"], default="current", help="online DPO reference")
        parser.add_argument("--lr", type=float, default=1e-3, help="DPO learning rate")
        parser.add_argument("--beta", type=float, default=0.1, help="DPO beta")
        parser.add_argument("--annotator-temperature", type=float, default=0.05, help="Bradley-Terry temperature")
        parser.add_argument("--pretrain-steps", type=int, default=1500, help="plain-LM steps of the start policy")
        parser.add_argument("--held-out", type=int, default=48, help="held-out prompts to measure on")
        parser.add_argument("--eval-samples", type=int, default=4, help="sampled completions per held-out prompt")
        parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens per completion at most")
        parser.add_argument(
            "--cache", default="", help="where the pre-trained start policy is kept (VAR_DIR/experiment)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        from training.ml import experiment

        settings = experiment.Settings(
            seeds=opts["seeds"],
            budget=opts["budget"],
            rounds=opts["rounds"],
            reference=opts["reference"],
            learning_rate=opts["lr"],
            beta=opts["beta"],
            annotator_temperature=opts["annotator_temperature"],
            pretrain_steps=opts["pretrain_steps"],
            held_out=opts["held_out"],
            eval_samples=opts["eval_samples"],
            max_new_tokens=opts["max_new_tokens"],
        )
        try:
            settings.validate()
        except ValueError as exc:
            name, _, reason = str(exc).partition(":")
            raise CommandError(f"--{name.replace('_', '-')}:{reason}") from None
        cache = Path(opts["cache"]) if opts["cache"] else Path(django_settings.VAR_DIR) / "experiment"
        summary = experiment.run(settings, Path(opts["out"]), cache, log=lambda line: self.stderr.write(line))
        per_seed = [
            {"seed": s["seed"], "offline": s["offline"]["reward"], "online": s["online"]["reward"]}
            for s in summary["per_seed"]
        ]
        waiting.write_json(self, summary | {"per_seed": per_seed})
