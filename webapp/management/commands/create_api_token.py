"""python manage.py create_api_token USERNAME [--name NAME]: prints a new API token (shown once)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from webapp.models import ApiToken


class Command(BaseCommand):
    help = "Issue a REST API token for USERNAME. It is printed once; only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a label to tell tokens apart")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        _, secret = ApiToken.issue(user, name=options["name"])
        self.stdout.write(secret)
