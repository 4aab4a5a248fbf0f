from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from labeling.models import Project
from training import pipelines
from training.models import ModelVersion
from webapp import commands


class Command(commands.JobCommand):
    """Run a recipe of steps (each a job whose inputs come from earlier steps) in a project, created with
    --user as its admin if it does not exist; prints {"pipeline", "status", "steps": [{"name", "job", "status"}]}
    last."""

    wait_for = "the pipeline"
    run_inline = "it"

    def add_job_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("recipe", help="the recipe to run")
        commands.add_project_argument(parser)
        parser.add_argument("--user", default="", help="username: the admin of a project created here")
        parser.add_argument(
            "--base",
            required=True,
            help="name of the base model version (or a directory/hub id to register under that name)",
        )
        parser.add_argument(
            "--set", action="append", default=[], metavar="KEY=VALUE", help="a recipe setting; repeatable"
        )
        parser.add_argument(
            "--resume", type=int, default=None, help="resume this failed pipeline (with --set corrections)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        settings = commands.parse_sets(opts["set"])
        try:
            if opts["resume"] is not None:
                pipeline = commands.first_or_error(
                    pipelines.Pipeline.objects.filter(pk=opts["resume"], project__slug=opts["project"]),
                    f"--resume: no pipeline {opts['resume']} in project {opts['project']!r}",
                )
                pipelines.resume_pipeline(pipeline, settings)
            else:
                with transaction.atomic():
                    project = self._project(opts["project"], opts["user"])
                    base = ModelVersion.objects.filter(project=project, name=opts["base"]).first()
                    if base is None:  # a directory or hub id: registered in the project under its last part
                        from pathlib import Path

                        from training.services import register_model

                        name = Path(opts["base"].rstrip("/")).name[:100] or "base"
                        try:
                            base = register_model(project=project, name=name, base=opts["base"])
                        except ValueError as exc:
                            raise CommandError(
                                f"--base: no model named {opts['base']!r} in project {project.slug}, "
                                f"and not a model to register ({exc})"
                            ) from None
                    pipeline = pipelines.start_pipeline(
                        project=project, recipe=opts["recipe"], base=base, settings=settings
                    )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"queued pipeline {pipeline.pk} (job {pipeline.job_id})")
        self.wait_and_print(pipeline.job, opts, lambda: pipelines.pipeline_summary(pipeline))

    def _project(self, slug: str, username: str) -> Project:
        project = Project.objects.filter(slug=slug).first()
        if project is not None:
            return project
        if not username:
            raise CommandError(f"--project: no project {slug!r}; give --user to create it with that user as its admin")
        user = commands.user_option(username)
        from django.core.exceptions import ValidationError

        from labeling.services import create_project

        try:
            return create_project(creator=user, name=slug, slug=slug)
        except ValidationError as exc:
            raise CommandError(f"--project: {'; '.join(exc.messages)}") from None
