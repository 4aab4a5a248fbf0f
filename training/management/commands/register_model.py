from django.core.management.base import BaseCommand, CommandError

from training import services


class Command(BaseCommand):
    help = "Register a base model (hub id or local directory) under a name."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("base", help="hub id or local directory")
        parser.add_argument("--kind", choices=["policy", "reward"], default="policy")

    def handle(self, *args, name, base, kind, **options):
        try:
            model = services.register_model(name=name, base=base, kind=kind)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"registered {model.name} -> {model.path}")
