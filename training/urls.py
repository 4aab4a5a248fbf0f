from django.urls import path

from training import views

app_name = "training"

urlpatterns = [
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/new/", views.job_new, name="job_new"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("jobs/<int:job_id>/charts/<path:name>.svg", views.job_chart, name="job_chart"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:job_id>/resume/", views.job_resume, name="job_resume"),
    path("models/", views.models, name="models"),
    path("models/<int:model_id>/", views.model_detail, name="model"),
]
