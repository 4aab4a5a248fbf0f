from typing import Any

from django.core.management.base import CommandError, CommandParser

from training import services
from training.management import waiting
from training.models import ModelVersion
from webapp import commands


class Command(commands.Command):
    """Register a model (hub id or a directory under the model roots) under a name in a project."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("base", help="hub id or local directory under MODEL_ROOTS")
        commands.add_project_argument(parser, help="slug of the project the model belongs to")
        parser.add_argument("--kind", choices=ModelVersion.Kind.values, default=ModelVersion.Kind.POLICY)
        parser.add_argument(
            "--adapter", action="append", default=[], help="a LoRA adapter directory (repeatable, in order)"
        )

    def handle(
        self, *args: Any, name: str, base: str, project: str, kind: str, adapter: list[str], **options: Any
    ) -> None:
        target = waiting.project_option(project)
        try:
            model = services.register_model(project=target, name=name, base=base, kind=kind, adapters=adapter)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"registered {model.name} in {target.slug} -> {model.base}" + "".join(f" + {a}" for a in model.adapters)
        )
