from django.urls import path

from training import views, views_arena, views_campaigns, views_judges, views_loop

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

urlpatterns += [  # the arena (training/views_arena.py)
    path("arena/", views_arena.index, name="arena_index"),
    path("arena/<slug:slug>/", views_arena.page, name="arena"),
    path("arena/<slug:slug>/battles/", views_arena.start, name="arena_start"),
    path("arena/<slug:slug>/battles/<int:battle_id>/", views_arena.battle, name="arena_battle"),
    path("arena/<slug:slug>/battles/<int:battle_id>/stream/<str:side>/", views_arena.stream, name="arena_stream"),
    path("arena/<slug:slug>/battles/<int:battle_id>/vote/", views_arena.vote, name="arena_vote"),
]

urlpatterns += [  # campaigns and the leaderboard (training/views_campaigns.py)
    path("campaigns/", views_campaigns.index, name="campaigns_index"),
    path("campaigns/<int:campaign_id>/", views_campaigns.campaign_detail, name="campaign"),
    path("projects/<slug:slug>/campaigns/", views_campaigns.project_campaigns, name="campaigns"),
    path("projects/<slug:slug>/leaderboard/", views_campaigns.leaderboard, name="leaderboard"),
]

urlpatterns += [  # rounds and pipelines (training/views_loop.py)
    path("projects/<slug:slug>/rounds/", views_loop.project_rounds, name="rounds"),
    path("projects/<slug:slug>/rounds/<int:number>/close/", views_loop.round_close, name="round_close"),
    path("projects/<slug:slug>/pipelines/", views_loop.project_pipelines, name="pipelines"),
    path("projects/<slug:slug>/pipelines/<int:pipeline_id>/", views_loop.pipeline_detail, name="pipeline"),
    path(
        "projects/<slug:slug>/pipelines/<int:pipeline_id>/resume/", views_loop.pipeline_resume, name="pipeline_resume"
    ),
]

urlpatterns += [  # AI judges (training/views_judges.py)
    path("projects/<slug:slug>/judges/agreement/", views_judges.agreement, name="judge_agreement"),
]
