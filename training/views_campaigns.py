"""Campaign and leaderboard pages. Thin: parse input, call training.campaigns, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from labeling.models import Project, Prompt
from labeling.selectors import get_project_for_user
from training import campaigns, selectors
from training.charts_leaderboard import ratings_chart
from training.models import Campaign, ModelVersion
from training.views import start_form_page
from training.views_models import sampling_from


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The projects the user researches, each with its campaigns and leaderboard."""
    selectors.require_researcher(request.user)
    projects = selectors.projects_for(request.user).order_by("name")
    return render(request, "training/campaigns_index.html", {"projects": projects})


@login_required
def project_campaigns(request: HttpRequest, slug: str) -> HttpResponse:
    """A project's campaigns, and the form that starts one."""

    def context(project: Project) -> dict[str, Any]:
        return {
            "campaigns": campaigns.campaigns_of(project),
            "versions": ModelVersion.objects.filter(project=project, kind=ModelVersion.Kind.POLICY).order_by("name"),
            "modes": Campaign.Mode.choices,
            "splits": Prompt.Split.choices,
        }

    def start(project: Project) -> HttpResponse:
        competitors = request.POST.getlist("models") + [
            s for s in request.POST.get("sources", "").split(",") if s.strip()
        ]
        campaign = campaigns.start_campaign(
            project=project,
            competitors=competitors,
            split=request.POST.get("split", ""),
            mode=request.POST.get("mode", Campaign.Mode.ALL_PAIRS),
            reference=request.POST.get("reference", ""),
            sampling=sampling_from(request.POST),
            name=request.POST.get("name", ""),
            user=request.user,
        )
        messages.success(request, f"Campaign {campaign.pk} queued.")
        return redirect("training:campaign", campaign.pk)

    return start_form_page(request, slug, "training/campaigns.html", context, start)


@login_required
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = Campaign.objects.select_related("project", "job").filter(pk=campaign_id).first()
    if campaign is None or campaign.project_id not in selectors.research_project_ids(request.user):
        raise Http404("No such campaign")
    who = request.GET.get("who", "all")
    if who not in campaigns.WHO:
        who = "all"
    context = {
        "campaign": campaign,
        "job": campaign.job,
        "results": campaigns.campaign_results(campaign, who),
        "who": who,
        "whos": campaigns.WHO,
    }
    template = "training/partials/campaign_status.html" if getattr(request, "htmx", False) else "training/campaign.html"
    return render(request, template, context)


@login_required
def leaderboard(request: HttpRequest, slug: str) -> HttpResponse:
    """Bradley-Terry ratings of the project's model versions from its pairwise judgments."""
    project = get_project_for_user(request.user, slug)
    who = request.GET.get("who", "all")
    if who not in campaigns.WHO:
        who = "all"
    board = campaigns.leaderboard_of(project, who=who, bootstrap=1000, seed=0)
    names = [m.name for m in board.models]
    matrix = [
        (name, [(names[j], cell) for j, cell in enumerate(row)])
        for name, row in zip(names, board.win_matrix, strict=True)
    ]
    return render(
        request,
        "training/leaderboard.html",
        {
            "project": project,
            "board": board,
            "matrix": matrix,
            "names": names,
            "who": who,
            "whos": campaigns.WHO,
            "chart": ratings_chart(board) if board.models else "",
        },
    )
