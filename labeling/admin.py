from django.contrib import admin
from django.http import HttpRequest

from labeling.models import (
    Assignment,
    DatasetSnapshot,
    ImportBatch,
    Item,
    Judgment,
    Membership,
    Project,
    Prompt,
    Response,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "overlap", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role"]
    list_filter = ["role", "project"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "__str__", "project", "split", "external_id"]
    list_filter = ["project", "split"]
    search_fields = ["text", "external_id"]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "__str__", "source"]
    search_fields = ["text", "source"]
    raw_id_fields = ["prompt"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "judgment_count", "gold"]
    list_filter = ["project"]
    raw_id_fields = ["prompt", "response_a", "response_b"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "annotator", "state", "expires_at"]
    list_filter = ["state", "project"]
    raw_id_fields = ["item"]


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "annotator", "choice", "strength", "left", "ms_taken", "source", "created_at"]
    list_filter = ["choice", "source"]
    raw_id_fields = ["item"]


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    """Read-only: a snapshot is immutable once made (make them from the dashboard, the CLI or the API)."""

    list_display = ["id", "project", "format", "file_type", "rows", "sha256", "created_by", "created_at"]
    list_filter = ["format", "file_type", "project"]
    search_fields = ["sha256"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DatasetSnapshot | None = None) -> bool:
        return False


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "file_name", "format", "sha256", "created_by", "created_at"]
    list_filter = ["format", "project"]
    readonly_fields = ["sha256", "counts", "skipped"]
