"""The judges' agreement table, fetched by the project page (labeling) with htmx."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from labeling.selectors import get_project_for_user
from training import judging


@login_required
def agreement(request: HttpRequest, slug: str) -> HttpResponse:
    """Per judge of the project: accuracy, Cohen's kappa and position consistency against the human majority."""
    project = get_project_for_user(request.user, slug, research=True)
    return render(request, "training/partials/agreement.html", {"project": project, "rows": judging.agreement(project)})
