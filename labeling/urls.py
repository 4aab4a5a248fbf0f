from django.urls import include, path

from labeling import views
from labeling.data import views as data_views

app_name = "labeling"

annotating = [  # annotate/<slug>/...: one project's annotation workspace
    path("", views.annotate, name="annotate"),
    path("<int:assignment_id>/judge/", views.judge, name="judge"),
    path("<int:assignment_id>/skip/", views.skip, name="skip"),
    path("undo/", views.undo, name="undo"),
    path("skipped/", views.revisit_skipped, name="revisit_skipped"),
]

project_pages = [  # projects/<slug>/...: its page, settings and members
    path("", views.project_detail, name="project"),
    path("guidelines/", views.guidelines, name="guidelines"),
    path("settings/", views.project_settings, name="project_settings"),
    path("members/", views.member_add, name="member_add"),
    path("members/<str:username>/role/", views.member_role, name="member_role"),
    path("members/<str:username>/remove/", views.member_remove, name="member_remove"),
]

project_pages += [  # data in and out: import, export, snapshots (labeling/data/views.py)
    path("import/", data_views.import_data, name="import"),
    path("import/confirm/", data_views.import_confirm, name="import_confirm"),
    path("export/", data_views.export_data, name="export"),
    path("snapshots/", data_views.snapshots, name="snapshots"),
    path("snapshots/<int:pk>/download/", data_views.snapshot_download, name="snapshot_download"),
]

urlpatterns = [
    path("queue/", views.queue, name="queue"),
    path("annotate/<slug:slug>/", include(annotating)),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<slug:slug>/", include(project_pages)),
]
