"""python manage.py add_member SLUG USERNAME --role {annotator,researcher,admin}"""

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from labeling import services
from labeling.models import Membership, Project
from webapp import commands


class Command(commands.Command):
    """Add an existing user to a project with a role, or change the role of a member already there. The project
    keeps at least one admin. The last line printed is a JSON object: project, username, role, created (false
    when an existing member's role was set)."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", metavar="SLUG", help="the project's slug")
        parser.add_argument(
            "username", metavar="USERNAME", help="an existing user (create one with createsuperuser or the admin)"
        )
        parser.add_argument(
            "--role",
            choices=Membership.Role.values,
            default=Membership.Role.ANNOTATOR,
            help="annotator (default): judges items; researcher: also imports, exports, trains; "
            "admin: also manages admins",
        )

    def handle(self, *args: Any, slug: str, username: str, role: str, **options: Any) -> None:
        project = commands.first_or_error(Project.objects.filter(slug=slug), f"SLUG: there is no project {slug!r}")
        created = not Membership.objects.filter(project=project, user__username=username).exists()
        try:
            if created:
                membership = services.add_member(project, username, role)
            else:
                membership = services.set_role(project, username, role)
        except services.MembershipError as exc:
            raise CommandError(f"{exc.field.upper()}: {exc}") from None
        summary = {
            "project": project.slug,
            "username": membership.user.username,
            "role": membership.role,
            "created": created,
        }
        verb = "added as" if created else "now"
        self.stdout.write(f"{membership.user.username} {verb} {membership.role} in {project.name}")
        self.stdout.write(json.dumps(summary))
