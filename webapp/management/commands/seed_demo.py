"""Seed a demo: a pairwise and a binary project, one researcher and two annotators, and the tiny
models `tiny-policy` and `tiny-reward` built locally. Safe to run twice."""

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from labeling.demo import demo_rows, write_demo_items
from labeling.models import Membership, Project

USERS = [
    ("researcher", "researcher", "researcher"),
    ("annotator1", "annotator1", "annotator"),
    ("annotator2", "annotator2", "annotator"),
]

GUIDELINES = """## How to judge

* Prefer the response that **answers the question** correctly and directly.
* Penalise made-up facts more than awkward wording.
* Use *tie* when both are equally good, *both bad* when neither helps.

Keys: `1` left, `2` right, `3` tie, `4` both bad, `s` skip.
"""


DEMO_PROJECTS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "demo-pairwise",
        {
            "name": "Demo: which answer is better?",
            "kind": Project.Kind.PAIRWISE,
            "overlap": 2,
            "guidelines": GUIDELINES,
            "ask_strength": True,
            "ask_rationale": True,
        },
    ),
    (
        "demo-binary",
        {
            "name": "Demo: is this answer good?",
            "kind": Project.Kind.BINARY,
            "overlap": 1,
            "guidelines": "Thumbs up if the answer is correct and helpful, down otherwise.",
        },
    ),
)


class Command(BaseCommand):
    help = "Create demo users, projects and tiny models (idempotent) and print the logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-models", action="store_true", help="skip building the tiny models (needs torch)")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        researchers, _ = Group.objects.get_or_create(name="researchers")
        researchers.permissions.add(*Permission.objects.filter(codename__in=["add_project"]))
        users = {}
        for username, password, role in USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.save()
            if role == "researcher":
                user.groups.add(researchers)
            users[username] = (user, role)

        rows = demo_rows()
        demo: list[Project] = []
        for slug, defaults in DEMO_PROJECTS:
            project, created = Project.objects.get_or_create(slug=slug, defaults=defaults)
            if created:
                write_demo_items(project, rows)
            demo.append(project)
        pairwise, binary = demo
        for project in (pairwise, binary):
            for user, role in users.values():
                Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})

        if not options["no_models"]:
            self._tiny_models(rows, projects=(pairwise, binary))
        self.stdout.write("Demo logins (username / password):")
        for username, password, role in USERS:
            self.stdout.write(f"  {username} / {password}   ({role})")

    def _tiny_models(self, rows: list[dict[str, str]], projects: tuple[Project, ...]) -> None:
        from training.models import ModelVersion
        from training.services import register_model
        from workers.demo import build_tiny_models

        texts = [text for row in rows for text in row.values()] + GUIDELINES.splitlines()
        paths = build_tiny_models(settings.VAR_DIR / "models", texts)
        for project in projects:  # each project has its own registry; seeding twice adds nothing
            for name, kind in (("tiny-policy", "policy"), ("tiny-reward", "reward")):
                if not ModelVersion.objects.filter(project=project, name=name).exists():
                    register_model(project=project, name=name, base=paths[name], kind=kind)
        self.stdout.write(f"Tiny models: tiny-policy, tiny-reward under {settings.VAR_DIR / 'models'}")
