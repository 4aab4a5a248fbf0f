"""DatasetSnapshot moves to labeling (state only); model versions get projects and adapter chains."""

import django.db.models.deletion
from django.db import migrations, models


def chains_and_projects(apps, schema_editor):
    """Each model version gets its whole adapter chain and the project its jobs' snapshots came from.

    Before, a LoRA version trained on a LoRA version stored the parent's adapter directory as its
    `base` (so loading it lost the parent's base); now the chain is base + [adapters...].
    Versions with no job to tell their project keep none: an admin assigns one in the admin.
    """
    ModelVersion = apps.get_model("training", "ModelVersion")
    TrainingJob = apps.get_model("training", "TrainingJob")
    done: dict[int, tuple[str, list[str], int | None]] = {}
    for mv in ModelVersion.objects.order_by("id"):
        base, adapters = mv.base, [mv.adapter_path] if mv.adapter_path else []
        parent = done.get(mv.parent_id) if mv.parent_id else None
        if parent and parent[1] and base == parent[1][-1]:
            base, adapters = parent[0], parent[1] + adapters
        jobs = TrainingJob.objects.values_list("snapshot__project_id", flat=True)
        project_id = jobs.filter(pk=mv.produced_by_id).first() if mv.produced_by_id else None
        if project_id is None:
            project_id = jobs.filter(base_model_id=mv.pk).order_by("id").first()
        if project_id is None and parent:
            project_id = parent[2]
        ModelVersion.objects.filter(pk=mv.pk).update(base=base, adapters=adapters, project_id=project_id)
        done[mv.pk] = (base, adapters, project_id)


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0003_move_snapshot'),
        ('training', '0002_jobs_and_models'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.RemoveField(model_name='datasetsnapshot', name='created_by'),
            migrations.RemoveField(model_name='datasetsnapshot', name='project'),
            migrations.AlterField(
                model_name='trainingjob',
                name='snapshot',
                field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='jobs', to='labeling.datasetsnapshot'),
            ),
            migrations.AlterField(
                model_name='trainingjob',
                name='eval_snapshot',
                field=models.ForeignKey(blank=True, help_text='Held-out rows the output model is evaluated on (the test side of the training snapshot).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='eval_jobs', to='labeling.datasetsnapshot'),
            ),
            migrations.DeleteModel(name='DatasetSnapshot'),
        ]),
        migrations.AddField(
            model_name='modelversion',
            name='adapters',
            field=models.JSONField(blank=True, default=list, help_text='LoRA adapter directories applied on `base`, in order.'),
        ),
        migrations.AddField(
            model_name='modelversion',
            name='project',
            field=models.ForeignKey(blank=True, help_text='The project the model belongs to (empty only for models registered before models had projects).', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='model_versions', to='labeling.project'),
        ),
        migrations.RunPython(chains_and_projects, migrations.RunPython.noop),
        migrations.RemoveField(model_name='modelversion', name='adapter_path'),
        migrations.AlterField(
            model_name='modelversion',
            name='name',
            field=models.SlugField(max_length=100),
        ),
        migrations.AddConstraint(
            model_name='modelversion',
            constraint=models.UniqueConstraint(fields=('project', 'name'), name='one_model_name_per_project'),
        ),
    ]
