from functools import update_wrapper

from django.contrib import admin
from django.core.exceptions import PermissionDenied


class WorkbenchAdminSite(admin.AdminSite):
    site_header = "Preference workbench admin"

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def wrapper(request, *args, **kwargs):
            # a signed-in user who is not staff gets a plain 403, not the admin login form
            if request.user.is_authenticated and not request.user.is_staff:
                raise PermissionDenied
            return inner(request, *args, **kwargs)

        return update_wrapper(wrapper, inner)


from webapp.models import ApiToken  # noqa: E402  (the site class above must exist before admin.site resolves)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued with `manage.py create_api_token USERNAME`; here they can be seen and revoked."""

    list_display = ["prefix", "user", "name", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    search_fields = ["user__username", "name", "prefix"]

    def has_add_permission(self, request):
        return False
