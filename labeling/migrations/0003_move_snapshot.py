"""DatasetSnapshot moves from the training app to labeling: the table stays (state only)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0002_importbatch_prompt_content_hash_and_more'),
        ('training', '0002_jobs_and_models'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=[
        migrations.CreateModel(
            name='DatasetSnapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('format', models.CharField(choices=[('preference', 'Preference'), ('unpaired', 'Unpaired'), ('prompts', 'Prompts'), ('raw', 'Raw')], max_length=16)),
                ('file_type', models.CharField(choices=[('jsonl', 'Jsonl'), ('parquet', 'Parquet')], max_length=8)),
                ('spec', models.JSONField(help_text='Everything that made the file: format, policies, split, seed.')),
                ('sha256', models.CharField(db_index=True, max_length=64)),
                ('rows', models.PositiveIntegerField()),
                ('size_bytes', models.PositiveBigIntegerField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='snapshots', to='labeling.project')),
            ],
            options={
                'db_table': 'training_datasetsnapshot',
                'ordering': ['-created_at', '-id'],
            },
        ),
    ])]
