from django.contrib import admin

from training.models import DatasetSnapshot, ModelVersion, TrainingJob


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    """Read-only: a snapshot is immutable once made (make them from the dashboard, the CLI or the API)."""

    list_display = ["id", "project", "format", "file_type", "rows", "sha256", "created_by", "created_at"]
    list_filter = ["format", "file_type", "project"]
    search_fields = ["sha256"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "base", "adapter_path", "parent", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "base"]
    raw_id_fields = ["parent", "produced_by"]


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = ["id", "algorithm", "base_model", "snapshot", "status", "step", "max_steps", "worker", "heartbeat_at"]
    list_filter = ["status", "algorithm"]
    raw_id_fields = ["base_model", "snapshot", "eval_snapshot", "created_by"]
    readonly_fields = ["metrics", "log_tail", "error", "heartbeat_at", "worker"]
