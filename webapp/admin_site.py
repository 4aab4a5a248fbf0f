"""The admin site served at /admin/ (staff only).

It lives in its own module, not in webapp/admin.py: Django imports the default site's class while
it autodiscovers the apps' admin modules, and a class in an admin module would be imported
half-way through that, registering that module's models on a second site nobody serves.
"""

from collections.abc import Callable
from functools import update_wrapper
from typing import Any, TypeVar, cast

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])


class WorkbenchAdminSite(admin.AdminSite):
    site_header = "Preference workbench admin"

    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        inner = super().admin_view(view, cacheable)

        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            # a signed-in user who is not staff gets a plain 403, not the admin login form
            if request.user.is_authenticated and not request.user.is_staff:
                raise PermissionDenied
            return inner(request, *args, **kwargs)

        return cast(_View, update_wrapper(wrapper, inner))  # the wrapper takes and answers as `view` does
