from django.urls import path

from labeling import views

app_name = "labeling"

urlpatterns = [
    path("queue/", views.queue, name="queue"),
    path("annotate/<slug:slug>/", views.annotate, name="annotate"),
    path("annotate/<slug:slug>/<int:assignment_id>/judge/", views.judge, name="judge"),
    path("annotate/<slug:slug>/<int:assignment_id>/skip/", views.skip, name="skip"),
    path("projects/<slug:slug>/guidelines/", views.guidelines, name="guidelines"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<slug:slug>/", views.project_detail, name="project"),
]
