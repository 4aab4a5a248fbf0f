"""One job lifecycle: every TrainingJob row becomes a Job row with the same id (so /training/jobs/<id>/
URLs survive) plus its training details; the JSON `metrics` lists become JobMetric rows (NaN and
infinities stored as NULL); then the lifecycle columns leave training_trainingjob, whose `id` column
becomes the link to its Job."""

import math

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.core.management.color import no_style
from django.db import migrations, models

LIFECYCLE_FIELDS = [
    "status", "step", "log_tail", "error", "worker", "heartbeat_at", "cancel_requested", "created_by_id",
    "created_at", "queued_at", "started_at", "first_step_at", "finished_at",
]


def _finite(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def jobs_from_training_jobs(apps, schema_editor):
    TrainingJob = apps.get_model("training", "TrainingJob")
    Job = apps.get_model("training", "Job")
    JobMetric = apps.get_model("training", "JobMetric")
    for old in TrainingJob.objects.select_related("snapshot").order_by("id").iterator():
        Job.objects.create(
            id=old.id, kind="train", project_id=old.snapshot.project_id, total=old.max_steps,
            **{name: getattr(old, name) for name in LIFECYCLE_FIELDS},
        )
        points = []
        for row in old.metrics or []:
            if not isinstance(row, dict) or not isinstance(row.get("step"), int):
                continue
            for name, value in row.items():
                if name != "step":
                    points.append(JobMetric(job_id=old.id, step=row["step"], name=str(name)[:100], value=_finite(value)))
        JobMetric.objects.bulk_create(points, batch_size=1000)
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Job]):
            cursor.execute(sql)


class SetBases(migrations.operations.base.Operation):
    """State only: a model's bases (the autodetector never writes this; multi-table inheritance needs it)."""

    reduces_to_sql = False
    reversible = True

    def __init__(self, name, bases):
        self.name, self.bases = name, bases

    def state_forwards(self, app_label, state):
        state.models[app_label, self.name.lower()].bases = self.bases
        state.reload_model(app_label, self.name.lower(), delay=True)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        pass

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass

    def describe(self):
        return f"Set the bases of {self.name}"

    def deconstruct(self):
        return self.__class__.__name__, [self.name, self.bases], {}


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0003_move_snapshot'),
        ('training', '0003_move_snapshot'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Job',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('train', 'Training'), ('noop', 'No-op')], max_length=16)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=16)),
                ('step', models.PositiveIntegerField(default=0)),
                ('total', models.PositiveIntegerField(default=0, help_text='Steps (or units of work) to do; 0 while unknown.')),
                ('start_step', models.PositiveIntegerField(default=0, help_text="The step this run started from (a resumed job's checkpoint).")),
                ('log_tail', models.TextField(blank=True)),
                ('error', models.TextField(blank=True, help_text='Traceback of a failure.')),
                ('worker', models.CharField(blank=True, max_length=200)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('cancel_requested', models.BooleanField(default=False)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('queued_at', models.DateTimeField(blank=True, null=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('first_step_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='jobs', to='labeling.project')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['status'], name='jobs_by_status'), models.Index(fields=['project', '-created_at'], name='jobs_of_project')],
            },
        ),
        migrations.CreateModel(
            name='JobMetric',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('step', models.PositiveIntegerField()),
                ('name', models.CharField(max_length=100)),
                ('value', models.FloatField(blank=True, null=True)),
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='metric_points', to='training.job')),
            ],
            options={
                'indexes': [models.Index(fields=['job', 'name', 'step'], name='jobmetric_series')],
            },
        ),
        migrations.CreateModel(
            name='WorkerBeat',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('hostname', models.CharField(max_length=200, unique=True)),
                ('queues', models.CharField(blank=True, help_text='The queues it consumes, comma-separated.', max_length=500)),
                ('seen_at', models.DateTimeField()),
            ],
        ),
        migrations.RunPython(jobs_from_training_jobs, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name='trainingjob', name='job_liveness'),
        *[
            migrations.RemoveField(model_name='trainingjob', name=name)
            for name in ['status', 'step', 'max_steps', 'metrics', 'log_tail', 'error', 'worker', 'heartbeat_at',
                         'cancel_requested', 'created_by', 'created_at', 'queued_at', 'started_at', 'first_step_at',
                         'finished_at']
        ],
        migrations.AlterModelOptions(name='trainingjob', options={}),
        # the `id` column stays (model versions point at it); it becomes the link to the Job row
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RenameField(model_name='trainingjob', old_name='id', new_name='job'),
                migrations.AlterField(
                    model_name='trainingjob',
                    name='job',
                    field=models.OneToOneField(db_column='id', on_delete=django.db.models.deletion.CASCADE, parent_link=True, primary_key=True, related_name='training', serialize=False, to='training.job'),
                ),
            ],
            state_operations=[
                migrations.RemoveField(model_name='trainingjob', name='id'),
                migrations.AddField(
                    model_name='trainingjob',
                    name='job',
                    field=models.OneToOneField(db_column='id', on_delete=django.db.models.deletion.CASCADE, parent_link=True, primary_key=True, related_name='training', serialize=False, to='training.job'),
                    preserve_default=False,
                ),
                SetBases('TrainingJob', ('training.job',)),
            ],
        ),
    ]
