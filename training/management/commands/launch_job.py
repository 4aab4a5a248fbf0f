from typing import Any

from django.core.management.base import CommandError, CommandParser

from labeling.models import DatasetSnapshot
from training import algorithms, services
from training.management import waiting
from training.models import ModelVersion
from webapp import commands


class Command(commands.Command):
    """Queue a training job for the running workers; with --wait, print its final state as JSON."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--algorithm", required=True, choices=list(algorithms.ALGORITHMS))
        parser.add_argument("--base", required=True, help="name of a registered ModelVersion")
        parser.add_argument("--snapshot", required=True, type=int, help="DatasetSnapshot id")
        parser.add_argument(
            "--set", action="append", default=[], metavar="KEY=VALUE", help="a config setting; repeatable"
        )
        parser.add_argument(
            "--reward", metavar="SOURCE", help="online algorithms: model:NAME, judge:NAME or rule:NAME (sets `reward`)"
        )
        parser.add_argument("--wait", action="store_true", help="wait for the job to finish")
        parser.add_argument("--timeout", type=float, default=waiting.DEFAULT_TIMEOUT, help="seconds to wait at most")

    def handle(self, *args: Any, **opts: Any) -> None:
        snapshot = commands.first_or_error(
            DatasetSnapshot.objects.filter(pk=opts["snapshot"]), f"--snapshot: no snapshot with id {opts['snapshot']}"
        )
        base = commands.first_or_error(
            ModelVersion.objects.filter(project=snapshot.project, name=opts["base"]),
            f"--base: no model named {opts['base']!r} in project {snapshot.project.slug}; see `register_model`",
        )
        overrides = {}
        for item in opts["set"]:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise CommandError(f"--set {item!r}: expected KEY=VALUE")
            overrides[key.strip()] = value
        if opts.get("reward") is not None:
            overrides["reward"] = opts["reward"]
        try:
            job = services.launch_job(
                algorithm=opts["algorithm"], base_model=base, snapshot=snapshot, overrides=overrides
            )
        except algorithms.ConfigError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"queued job {job.pk}")
        if opts["wait"]:
            waiting.wait_for_job(job, opts["timeout"], inline=False)
        output = ModelVersion.objects.filter(produced_by=job).values_list("name", flat=True).first()
        last = job.metrics[-1] if job.metrics else {}
        waiting.write_json(self, {"job": job.pk, "status": job.status, "output_model": output, "metrics": last})
