from django.urls import include, path

from training import views, views_arena, views_campaigns, views_judges, views_loop, views_models

app_name = "training"

one_job = [  # jobs/<job_id>/...: the live job page (training/views.py)
    path("", views.job_detail, name="job"),
    path("charts/<path:name>.svg", views.job_chart, name="job_chart"),
    path("cancel/", views.job_cancel, name="job_cancel"),
    path("resume/", views.job_resume, name="job_resume"),
]

arena = [  # arena/<slug>/...: the arena (training/views_arena.py)
    path("", views_arena.page, name="arena"),
    path("battles/", views_arena.start, name="arena_start"),
    path("battles/<int:battle_id>/", views_arena.battle, name="arena_battle"),
    path("battles/<int:battle_id>/stream/<str:side>/", views_arena.stream, name="arena_stream"),
    path("battles/<int:battle_id>/vote/", views_arena.vote, name="arena_vote"),
]

project_pages = [  # projects/<slug>/...: campaigns and the leaderboard (training/views_campaigns.py)
    path("campaigns/", views_campaigns.project_campaigns, name="campaigns"),
    path("leaderboard/", views_campaigns.leaderboard, name="leaderboard"),
]

project_pages += [  # rounds and pipelines (training/views_loop.py)
    path("rounds/", views_loop.project_rounds, name="rounds"),
    path("rounds/<int:number>/close/", views_loop.round_close, name="round_close"),
    path("pipelines/", views_loop.project_pipelines, name="pipelines"),
    path("pipelines/<int:pipeline_id>/", views_loop.pipeline_detail, name="pipeline"),
    path("pipelines/<int:pipeline_id>/resume/", views_loop.pipeline_resume, name="pipeline_resume"),
]

project_pages += [  # AI judges (training/views_judges.py)
    path("judges/agreement/", views_judges.agreement, name="judge_agreement"),
]

urlpatterns = [
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/new/", views.job_new, name="job_new"),
    path("jobs/<int:job_id>/", include(one_job)),
    path("models/", views.models, name="models"),
    path("models/<int:model_id>/", views_models.model_detail, name="model"),
    path("models/<int:model_id>/<slug:action>/", views_models.model_run, name="model_run"),
    path("arena/", views_arena.index, name="arena_index"),
    path("arena/<slug:slug>/", include(arena)),
    path("campaigns/", views_campaigns.index, name="campaigns_index"),
    path("campaigns/<int:campaign_id>/", views_campaigns.campaign_detail, name="campaign"),
    path("projects/<slug:slug>/", include(project_pages)),
]
