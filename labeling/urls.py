from django.urls import path

from labeling import views
from labeling.data import views as data_views

app_name = "labeling"

urlpatterns = [
    path("queue/", views.queue, name="queue"),
    path("annotate/<slug:slug>/", views.annotate, name="annotate"),
    path("annotate/<slug:slug>/<int:assignment_id>/judge/", views.judge, name="judge"),
    path("annotate/<slug:slug>/<int:assignment_id>/skip/", views.skip, name="skip"),
    path("annotate/<slug:slug>/undo/", views.undo, name="undo"),
    path("annotate/<slug:slug>/skipped/", views.revisit_skipped, name="revisit_skipped"),
    path("projects/<slug:slug>/guidelines/", views.guidelines, name="guidelines"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<slug:slug>/", views.project_detail, name="project"),
    path("projects/<slug:slug>/settings/", views.project_settings, name="project_settings"),
    path("projects/<slug:slug>/members/", views.member_add, name="member_add"),
    path("projects/<slug:slug>/members/<str:username>/role/", views.member_role, name="member_role"),
    path("projects/<slug:slug>/members/<str:username>/remove/", views.member_remove, name="member_remove"),
]

urlpatterns += [  # data in and out: import, export, snapshots (labeling/data/views.py)
    path("projects/<slug:slug>/import/", data_views.import_data, name="import"),
    path("projects/<slug:slug>/import/confirm/", data_views.import_confirm, name="import_confirm"),
    path("projects/<slug:slug>/export/", data_views.export_data, name="export"),
    path("projects/<slug:slug>/snapshots/", data_views.snapshots, name="snapshots"),
    path("projects/<slug:slug>/snapshots/<int:pk>/download/", data_views.snapshot_download, name="snapshot_download"),
]
