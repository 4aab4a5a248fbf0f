"""python manage.py import_data FILE --project SLUG --format FORMAT [--map TARGET=COLUMN ...] [--skip-invalid]
[--kind KIND] [--user USERNAME]"""

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction

from labeling.data import formats, imports
from labeling.data.files import FILE_HELP
from labeling.models import Project
from webapp import commands


class Command(commands.Command):
    """Import a data set into a project (created if it does not exist, with --user as its admin). The last line
    printed is a JSON object with the counts created: prompts, items, judgments (and the rows skipped)."""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help=f"a {FILE_HELP} file")
        commands.add_project_argument(parser, help=None, metavar="SLUG")
        parser.add_argument("--format", required=True, choices=formats.names())
        parser.add_argument(
            "--map",
            action="extend",
            nargs="+",
            default=[],
            metavar="TARGET=COLUMN",
            help=f"column mapping (mapped, prompts); targets: {', '.join(imports.MAP_TARGETS)}",
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="import the valid rows and report each invalid one, instead of importing nothing",
        )
        parser.add_argument(
            "--kind",
            choices=Project.Kind.values,
            help="kind of a project created by this import (default: what the format makes; "
            "oasst: pairwise = ranked pairs, binary = emoji votes)",
        )
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="needed when the project does not exist yet: its first admin (made an admin of an "
            "existing project they are not a member of)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            mapping = imports.parse_mapping(options["map"])
            user = commands.user_option(options["user"]) if options["user"] else None
            kind = options["kind"] or formats.kind_needed(options["format"], mapping)
            with transaction.atomic():  # a failed import leaves no new project behind either
                project = imports.ensure_project(options["project"], kind=kind, admin=user)
                result = imports.import_file(
                    project,
                    path,
                    fmt=options["format"],
                    mapping=mapping,
                    skip_invalid=options["skip_invalid"],
                    user=user,
                )
        except imports.ImportFailed as exc:
            raise CommandError(str(exc)) from None
        if result.already_imported and result.batch is not None:
            self.stdout.write(
                f"{path.name} was already imported into {project.slug} "
                f"({result.batch.created_at:%Y-%m-%d %H:%M}); nothing added"
            )
        for row in result.skipped:
            self.stdout.write(f"skipped {row['where']}: field '{row['field']}': {row['reason']}")
        if result.n_skipped > len(result.skipped):
            self.stdout.write(f"... and {result.n_skipped - len(result.skipped)} more skipped rows")
        self.stdout.write(json.dumps(result.counts()))
