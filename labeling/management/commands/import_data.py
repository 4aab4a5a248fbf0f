"""python manage.py import_data FILE --project SLUG --format FORMAT [--map TARGET=COLUMN ...] [--skip-invalid]"""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from labeling import importers
from labeling.models import Membership, Project


class Command(BaseCommand):
    help = (
        "Import a data set into a project (created if it does not exist). The last line printed is a JSON "
        "object with the counts created: prompts, items, judgments (and the rows skipped)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .jsonl, .json, .csv or .parquet file (.gz for the text ones)")
        parser.add_argument("--project", required=True, metavar="SLUG")
        parser.add_argument("--format", required=True, choices=importers.FORMATS)
        parser.add_argument("--map", action="extend", nargs="+", default=[], metavar="TARGET=COLUMN",
                            help=f"column mapping (mapped, prompts); targets: {', '.join(importers.MAP_TARGETS)}")
        parser.add_argument("--skip-invalid", action="store_true",
                            help="import the valid rows and report each invalid one, instead of importing nothing")
        parser.add_argument("--kind", choices=Project.Kind.values,
                            help="kind of a project created by this import (default: what the format makes; "
                                 "oasst: pairwise = ranked pairs, binary = emoji votes)")
        parser.add_argument("--user", metavar="USERNAME", help="made the admin of a project created by this import")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            mapping = importers.parse_mapping(options["map"])
            user = None
            if options["user"]:
                user = get_user_model().objects.filter(username=options["user"]).first()
                if user is None:
                    raise CommandError(f"no user named {options['user']!r}")
            kind = options["kind"] or importers.format_kind(options["format"], mapping)
            with transaction.atomic():  # a failed import leaves no new project behind either
                project = importers.ensure_project(options["project"], kind=kind)
                if user is not None and not project.memberships.filter(user=user).exists():
                    Membership.objects.create(project=project, user=user, role=Membership.Role.ADMIN)
                result = importers.import_file(project, path, fmt=options["format"], mapping=mapping,
                                               skip_invalid=options["skip_invalid"], user=user)
        except importers.ImportFailed as exc:
            raise CommandError(str(exc)) from None
        if result.already_imported:
            self.stdout.write(f"{path.name} was already imported into {project.slug} "
                              f"({result.batch.created_at:%Y-%m-%d %H:%M}); nothing added")
        for row in result.skipped:
            self.stdout.write(f"skipped {row['where']}: field '{row['field']}': {row['reason']}")
        if result.n_skipped > len(result.skipped):
            self.stdout.write(f"... and {result.n_skipped - len(result.skipped)} more skipped rows")
        self.stdout.write(json.dumps(result.counts()))
