"""Rounds and pipelines pages. Thin: parse input, call training.rounds / training.pipelines, render."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from labeling.selectors import get_project_for_user
from training import algorithms, rounds, selectors
from training.models import ModelVersion, Round


def parse_settings_text(text: str, field: str = "settings") -> dict[str, Any]:
    """A settings box: a JSON object, or KEY=VALUE lines (a VALUE that reads as JSON is that value)."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{field}: not valid JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise ValueError(f"{field}: must be a JSON object")
        return value
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, raw = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{field}: expected KEY=VALUE lines, not {line.strip()[:60]!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw.strip()
    return out


@login_required
def project_rounds(request: HttpRequest, slug: str) -> HttpResponse:
    """A project's rounds (items, judgments, snapshot, job, new version, rating change), and the form that starts one."""
    project = get_project_for_user(request.user, slug, research=True)
    error = ""
    if request.method == "POST":
        try:
            policy = ModelVersion.objects.filter(project=project, pk=_int(request.POST.get("policy"), "policy")).first()
            if policy is None:
                raise ValueError("policy: choose a policy version of this project")
            round_ = rounds.start_round(
                project=project,
                policy=policy,
                algorithm=request.POST.get("algorithm", "dpo"),
                judge=request.POST.get("judge", ""),
                humans=bool(request.POST.get("humans")),
                settings=parse_settings_text(request.POST.get("settings", "")),
                user=request.user,
            )
        except ValueError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Round {round_.number} queued.")
            return redirect("training:rounds", project.slug)
    preference = [
        (a.name, a.label)
        for a in algorithms.ALGORITHMS.values()
        if "preference" in a.trains_on and a.produces == "policy"
    ]
    context = {
        "project": project,
        "rows": rounds.round_rows(project),
        "policies": ModelVersion.objects.filter(project=project, kind=ModelVersion.Kind.POLICY).order_by("-created_at"),
        "algorithms": preference,
        "error": error,
        "worker_warning": selectors.worker_warning(),
    }
    return render(request, "training/rounds.html", context, status=422 if error else 200)


@login_required
@require_POST
def round_close(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Stop waiting for the annotators: the round goes on with the judgments it has."""
    project = get_project_for_user(request.user, slug, research=True)
    round_ = Round.objects.filter(project=project, number=number).first()
    if round_ is None:
        raise Http404("No such round")
    rounds.close_round(round_)
    messages.success(request, f"Round {number} closed: it goes on with the judgments it has.")
    return redirect("training:rounds", project.slug)


def _int(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: choose one") from None
