"""What the project's management commands have in common: a base class whose docstring is the command's help,
the --project option, lookups that fail with a CommandError naming what was not found, --set KEY=VALUE pairs,
and the ending of a command that queued a job (wait for it when asked, print the JSON line last).

labeling's commands use this module too, and labeling never loads training: JobCommand imports training's
waiting helpers where it uses them, not here at the top."""

from argparse import ArgumentParser
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Model, QuerySet

if TYPE_CHECKING:
    from training.models import Job

M = TypeVar("M", bound=Model)


class Command(BaseCommand):
    """A management command whose docstring is its --help text (the docstring's lines joined by single spaces)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__doc__:
            cls.help = " ".join(cls.__doc__.split())


class JobCommand(Command):
    """A command that queues a job: `add_job_arguments` gives its options, then come --wait (for `wait_for`),
    --inline (run `run_inline` in this process) and --timeout; `wait_and_print` is its ending."""

    wait_for = "the job"
    run_inline = "the job"

    def add_job_arguments(self, parser: CommandParser) -> None:
        """The command's own options (before --wait, --inline and --timeout)."""

    def add_arguments(self, parser: CommandParser) -> None:
        from training.management import waiting

        self.add_job_arguments(parser)
        waiting.add_wait_arguments(parser, what=self.wait_for, inline=self.run_inline)

    def wait_and_print(
        self,
        job: "Job | None",
        opts: dict[str, Any],
        summary: Callable[[], dict[str, Any]],
        failure: str = "",
    ) -> None:
        """With --wait or --inline, wait for `job` (a note on stderr when --timeout ran out first); print `summary()`
        as the JSON line last; then, when it waited and `failure` names the job ("evaluation"), a CommandError
        unless the job succeeded."""
        from training.management import waiting

        waited = waiting.wait_if_asked(self, job, opts)
        payload = summary()
        waiting.write_json(self, payload)
        if waited and failure and job is not None:
            waiting.fail_unless_succeeded(job, payload["status"], failure)


def add_project_argument(parser: ArgumentParser, help: str | None = "slug of the project", **kwargs: Any) -> None:
    """The required --project SLUG option (`kwargs`: more of argparse's, such as a metavar)."""
    parser.add_argument("--project", required=True, help=help, **kwargs)


def first_or_error(queryset: "QuerySet[M]", message: str) -> M:
    """The first row of `queryset`, or a CommandError with `message` when it has none."""
    found = queryset.first()
    if found is None:
        raise CommandError(message)
    return found


def user_option(username: str) -> User:
    """The user named by --user."""
    return first_or_error(get_user_model().objects.filter(username=username), f"--user: no user named {username!r}")


def parse_sets(pairs: list[str], option: str = "--set") -> dict[str, Any]:
    """KEY=VALUE pairs as a dict, parsed as the web forms parse them (training.services.parse_key_values)."""
    from training import services

    try:
        return services.parse_key_values(pairs)
    except services.NotKeyValue as exc:
        raise CommandError(f"{option}: {exc}") from None
