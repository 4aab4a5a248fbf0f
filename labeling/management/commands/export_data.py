"""python manage.py export_data --project SLUG --format FORMAT --out FILE [policies] [--snapshot]"""

import json
import shutil
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from labeling.data import exporters
from labeling.data.snapshots import create_snapshot
from labeling.models import Project
from webapp import commands


class Command(commands.Command):
    """Export a project's judgments in a TRL format (.jsonl or .parquet by the suffix of --out). The last line
    printed is a JSON object with rows, sha256 and snapshot (its id with --snapshot, else null)."""

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands.add_project_argument(parser, help=None, metavar="SLUG")
        parser.add_argument("--format", required=True, choices=exporters.FORMATS)
        parser.add_argument("--out", required=True, metavar="FILE", help="where to write: FILE.jsonl or FILE.parquet")
        parser.add_argument(
            "--policy",
            choices=exporters.POLICIES,
            default="majority",
            help="an item with several judgments: majority, unanimous, or every judgment its own row",
        )
        parser.add_argument("--ties", choices=exporters.KEEP_OR_DROP, default="drop")
        parser.add_argument("--both-bad", choices=exporters.KEEP_OR_DROP, default="drop")
        parser.add_argument(
            "--form",
            choices=exporters.FORMS,
            default="auto",
            help="standard (text) or conversational (messages); auto: conversational if any prompt is",
        )
        parser.add_argument(
            "--split",
            choices=exporters.SPLITS,
            default="all",
            help="all prompts, or one side of the train/test split (by prompt)",
        )
        parser.add_argument(
            "--test-size",
            type=float,
            default=None,
            help="split by a seeded hash of each prompt, this fraction to test (else: the stored split)",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--from-pairs", action="store_true", help="unpaired: also rows from pairs (chosen true)")
        parser.add_argument(
            "--source",
            choices=exporters.SOURCES,
            default="all",
            help="which judgments: all, human (live annotators), imported (labels from files) or judges (AI judges)",
        )
        parser.add_argument("--snapshot", action="store_true", help="also freeze the export as a dataset snapshot")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["project"]
        project = commands.first_or_error(Project.objects.filter(slug=slug), f"no project {slug!r}")
        out = Path(options["out"])
        try:
            spec = exporters.ExportSpec.for_file(
                out,
                format=options["format"],
                policy=options["policy"],
                ties=options["ties"],
                both_bad=options["both_bad"],
                form=options["form"],
                split=options["split"],
                test_size=options["test_size"],
                seed=options["seed"],
                from_pairs=options["from_pairs"],
                source=options["source"],
            )
            if options["snapshot"]:
                snapshot = create_snapshot(project, spec)
                shutil.copyfile(snapshot.path, out)
                summary = {"rows": snapshot.rows, "sha256": snapshot.sha256, "snapshot": snapshot.pk}
            else:
                result = exporters.export(project, spec, out)
                summary = {"rows": result.rows, "sha256": result.sha256, "snapshot": None}
        except exporters.ExportError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(summary))
