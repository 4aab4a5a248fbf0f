from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from webapp import tokens, views
from webapp.api import api
from webapp.api import not_found as api_not_found

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", tokens.token_list, name="tokens"),
    path("account/tokens/<int:token_id>/revoke", tokens.token_revoke, name="token_revoke"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    re_path(r"^api(/|$)", api_not_found),  # any other path under /api/: a JSON 404
    path("", include("labeling.urls")),
    path("training/", include("training.urls")),
]
