from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Project
from training import services
from training.models import ModelVersion


class Command(BaseCommand):
    help = "Register a model (hub id or a directory under the model roots) under a name in a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("base", help="hub id or local directory under MODEL_ROOTS")
        parser.add_argument("--project", required=True, help="slug of the project the model belongs to")
        parser.add_argument("--kind", choices=ModelVersion.Kind.values, default=ModelVersion.Kind.POLICY)
        parser.add_argument(
            "--adapter", action="append", default=[], help="a LoRA adapter directory (repeatable, in order)"
        )

    def handle(
        self, *args: Any, name: str, base: str, project: str, kind: str, adapter: list[str], **options: Any
    ) -> None:
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"--project: no project with slug {project!r}")
        try:
            model = services.register_model(project=target, name=name, base=base, kind=kind, adapters=adapter)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"registered {model.name} in {target.slug} -> {model.base}" + "".join(f" + {a}" for a in model.adapters)
        )
