from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from webapp.models import ApiToken
from webapp.services import revoke_selected


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff see every token and revoke them here; users manage their own at /account/tokens/,
    and `manage.py create_api_token` / `revoke_api_token` do the same from a shell."""

    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), ("expires_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["user", "prefix", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["user__username", "name", "prefix"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        n = revoke_selected(queryset)
        self.message_user(request, f"{n} token(s) revoked.", messages.SUCCESS)
