import time
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from training import campaigns
from training.leaderboard import leaderboard
from training.management import waiting
from webapp import commands


class Command(commands.Command):
    """Bradley-Terry leaderboard (ratings with 95% bootstrap intervals) of a project's battles between model
    versions, or of a battle log file; prints {"models", "battles", "seconds"} last."""

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--project", help="slug of the project whose judgments are the battles")
        source.add_argument("--battles", help="a battle log: JSON or JSONL rows of model_a, model_b, winner")
        parser.add_argument("--who", choices=campaigns.WHO, default="all", help="whose judgments count")
        parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap rounds (0: no intervals)")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **opts: Any) -> None:
        if not 0 <= opts["bootstrap"] <= 100_000:
            raise CommandError("--bootstrap: must be from 0 to 100000")
        if opts["battles"]:
            path = Path(opts["battles"])
            try:
                rows = campaigns.parse_battles(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise CommandError(f"--battles: cannot read {path}: {exc.strerror}") from None
            except (ValueError, UnicodeDecodeError) as exc:
                raise CommandError(f"--battles {path}: {exc}") from None
        else:
            rows = campaigns.battles(waiting.project_option(opts["project"]), opts["who"])
        start = time.perf_counter()
        board = leaderboard(rows, bootstrap=opts["bootstrap"], seed=opts["seed"])
        seconds = time.perf_counter() - start
        for m in board.models:
            self.stdout.write(
                f"{m.name:30} {m.rating:8.1f}  [{m.ci[0]:.1f}, {m.ci[1]:.1f}]  {m.battles:6d} battles  "
                f"{100 * m.win_rate:5.1f}% won"
            )
        waiting.write_json(self, campaigns.leaderboard_json(board, seconds))
