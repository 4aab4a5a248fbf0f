"""python manage.py create_api_token USERNAME [--name NAME] [--expires-days N]: prints a new API token (shown once)."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.services import issue_token


class Command(BaseCommand):
    help = "Issue a REST API token for USERNAME. It is printed once; only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a label to tell tokens apart")
        parser.add_argument(
            "--expires-days", type=int, default=None, help="days until the token stops working (default: never)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        try:
            _, secret = issue_token(user, name=options["name"], expires_days=options["expires_days"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages).replace("expires_days", "--expires-days")) from None
        self.stdout.write(secret)
