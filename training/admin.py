from django.contrib import admin

from training.models import DatasetSnapshot


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
