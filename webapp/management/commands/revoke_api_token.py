"""python manage.py revoke_api_token USERNAME: revokes every API token of USERNAME; prints {"revoked": N}."""

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.services import revoke_tokens


class Command(BaseCommand):
    help = "Revoke all of USERNAME's REST API tokens (they answer 401 from then on)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        self.stdout.write(json.dumps({"user": user.get_username(), "revoked": revoke_tokens(user)}))
