from django.contrib import admin

from training.models import ModelVersion, TrainingJob


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "kind", "base", "adapter_path", "parent", "created_at"]
    list_filter = ["kind", "project"]
    search_fields = ["name", "base"]
    raw_id_fields = ["parent", "produced_by"]


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "algorithm",
        "base_model",
        "snapshot",
        "status",
        "step",
        "max_steps",
        "worker",
        "heartbeat_at",
    ]
    list_filter = ["status", "algorithm"]
    raw_id_fields = ["base_model", "snapshot", "eval_snapshot", "created_by"]
    readonly_fields = ["metrics", "log_tail", "error", "heartbeat_at", "worker"]
