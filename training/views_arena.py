"""Arena pages: pick a project, start a battle, watch both answers stream (SSE), vote, see the names.
Thin: parse, call training.arena, render."""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from labeling.models import Project
from labeling.selectors import get_project_for_user
from labeling.services import new_client_token
from training import arena

_EVENT_ID = re.compile(r"^[0-9-]{1,40}$")


class HtmxRequest(HttpRequest):
    htmx: HtmxDetails


@login_required
@require_GET
def index(request: HtmxRequest) -> HttpResponse:
    return render(request, "training/arena_index.html", {"rows": arena.arena_projects(request.user)})


def _page(
    request: HtmxRequest,
    project: Project,
    *,
    battle: dict | None = None,
    error: str = "",
    status: int = 200,
    prompt_text: str = "",
) -> HttpResponse:
    context = {"project": project, **arena.arena_page(project), "error": error, "prompt_text": prompt_text}
    if battle is not None:
        context.update(battle, client_token=new_client_token())
    template = "training/partials/arena_battle.html" if request.htmx and battle is not None else "training/arena.html"
    if request.htmx and battle is None and error:
        template = "training/partials/arena_error.html"
    # htmx swaps only 2xx answers: a refusal it should show comes back as 200 with the message in it
    return render(request, template, context, status=200 if request.htmx else status)


@login_required
@require_GET
def page(request: HtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return _page(request, project)


@login_required
@require_POST
def start(request: HtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    text = request.POST.get("prompt", "")
    try:
        battle = arena.start_battle(project, request.user, prompt_text=text, prompt_id=request.POST.get("prompt_id"))
    except arena.ArenaError as exc:
        return _page(request, project, error=str(exc), status=422, prompt_text=text[: arena.MAX_PROMPT_CHARS])
    if not request.htmx:
        return redirect("training:arena_battle", slug=project.slug, battle_id=battle.pk)
    response = _page(request, project, battle=arena.battle_view(project, request.user, battle.pk))
    response["HX-Push-Url"] = reverse("training:arena_battle", args=[project.slug, battle.pk])
    return response


@login_required
@require_GET
def battle(request: HtmxRequest, slug: str, battle_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return _page(request, project, battle=arena.battle_view(project, request.user, battle_id))


@login_required
@require_GET
def stream(request: HtmxRequest, slug: str, battle_id: int, side: str) -> StreamingHttpResponse:
    project = get_project_for_user(request.user, slug)
    battle = arena.get_battle(project, request.user, battle_id)
    if side not in arena.SIDES:
        raise Http404("No such side")
    after = request.headers.get("Last-Event-ID", "")
    events = arena.sse_events(battle, side, after=after if _EVENT_ID.match(after) else "")
    response = StreamingHttpResponse(events, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


@login_required
@require_POST
def vote(request: HtmxRequest, slug: str, battle_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    ms = request.POST.get("ms", "")
    try:
        arena.vote(
            project,
            request.user,
            battle_id,
            choice=request.POST.get("choice", ""),
            client_token=request.POST.get("client_token", ""),
            ms_taken=int(ms) if ms.isdigit() and len(ms) < 10 else None,
        )
    except arena.ArenaError as exc:
        view = arena.battle_view(project, request.user, battle_id)
        return _page(request, project, battle={**view, "error": str(exc)}, status=422)
    return _page(request, project, battle=arena.battle_view(project, request.user, battle_id))
