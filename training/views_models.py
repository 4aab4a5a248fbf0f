"""Work started from a model's page: generate responses, best-of-n, an evaluation on labelled pairs.
Thin: parse the form, call the one service (the same the API and the commands call), answer with the
job's page; a refusal shows the model page again (422) with the service's message naming the field."""

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from labeling.models import Project, Prompt
from training import best_of_n, evaluations, generation, selectors
from training.models import Job, ModelVersion
from webapp.http import SignedInRequest

T = TypeVar("T")
SAMPLING_FIELDS: tuple[tuple[str, type], ...] = (("max_new_tokens", int), ("temperature", float), ("seed", int))


def number(data: QueryDict, name: str, kind: type = int) -> Any:
    """Form field `name` as a number (None when empty); a ValueError naming it when it is not one."""
    raw = (data.get(name) or "").strip()
    try:
        return kind(raw) if raw else None
    except ValueError:
        raise ValueError(f"{name}: must be a number, not {raw[:40]!r}") from None


def sampling_from(data: QueryDict, fields: tuple[tuple[str, type], ...] = SAMPLING_FIELDS) -> dict[str, Any]:
    """Sampling settings from a form: the numbers given (parse_sampling checks their bounds)."""
    return {name: value for name, kind in fields if (value := number(data, name, kind)) is not None}


def _chosen(
    model: ModelVersion,
    data: QueryDict,
    field: str,
    of_project: Callable[[Project, int], T | None],
    what: str = "model version",
) -> T | None:
    """The row of the model's project whose id form field `field` names (None when it names none)."""
    pk = number(data, field)
    if pk is None:
        return None
    row = of_project(generation.project_of(model), pk)
    if row is None:
        raise ValueError(f"{field}: no {what} {pk} in this project")
    return row


def _generate(request: SignedInRequest, model: ModelVersion) -> Job:
    return generation.start_generation(
        model_version=model,
        split=request.POST.get("split", ""),
        sampling=sampling_from(request.POST, (("n", int), *SAMPLING_FIELDS)),
        user=request.user,
    )


def _best_of_n(request: SignedInRequest, model: ModelVersion) -> Job:
    n = number(request.POST, "n")
    return best_of_n.start_best_of_n(
        policy=model,
        n=best_of_n.DEFAULT_N if n is None else n,
        judge=request.POST.get("judge", "").strip(),
        reward=_chosen(model, request.POST, "reward", selectors.project_model),
        split=request.POST.get("split", ""),
        sampling=sampling_from(request.POST),
        user=request.user,
    )


def _evaluate(request: SignedInRequest, model: ModelVersion) -> Job:
    return evaluations.start_evaluation(
        model=model,
        snapshot=_chosen(model, request.POST, "snapshot", selectors.project_snapshot, "snapshot"),
        reference=_chosen(model, request.POST, "reference", selectors.project_model),
        user=request.user,
    )


ACTIONS: dict[str, tuple[str, Callable[[SignedInRequest, ModelVersion], Job]]] = {
    "generate": ("Generation", _generate),
    "best-of-n": ("Best-of-n", _best_of_n),
    "evaluate": ("Evaluation", _evaluate),
}
# What each form shows first (a refused form shows what was sent instead).
FORM_DEFAULTS: dict[str, dict[str, str]] = {
    "generate": {"split": "", "n": "1", "max_new_tokens": "64", "temperature": "0"},
    "best-of-n": {
        "split": "",
        "n": str(best_of_n.DEFAULT_N),
        "reward": "",
        "judge": "",
        "max_new_tokens": "64",
        "temperature": "1",
    },
    "evaluate": {"snapshot": "", "reference": ""},
}


def model_page(request: SignedInRequest, model: ModelVersion, *, refused: str = "", error: str = "") -> HttpResponse:
    """The model's page: what it loads, its evaluations, its lineage and the forms that start work on it;
    the form of action `refused` shows `error` and the values sent."""
    forms = {
        action.replace("-", "_"): {
            "values": {k: request.POST.get(k, v) if action == refused else v for k, v in defaults.items()},
            "error": error if action == refused else "",
        }
        for action, defaults in FORM_DEFAULTS.items()
    }
    context = {
        "model": model,
        "lineage": selectors.lineage(model),
        "rm_evaluation": evaluations.latest_evaluation_view(model),
        "run": selectors.model_run_choices(model),
        "forms": forms,
        "splits": Prompt.Split.choices,
        "worker_warning": selectors.worker_warning() if model.project_id else None,
    }
    return render(request, "training/model.html", context, status=422 if error else 200)


@login_required
def model_detail(request: SignedInRequest, model_id: int) -> HttpResponse:
    return model_page(request, selectors.get_model_for_user(request.user, model_id))


@login_required
@require_POST
def model_run(request: SignedInRequest, model_id: int, action: str) -> HttpResponse:
    model = selectors.get_model_for_user(request.user, model_id)
    if action not in ACTIONS:
        raise Http404("No such action")
    what, start = ACTIONS[action]
    try:
        job = start(request, model)
    except ValueError as exc:
        return model_page(request, model, refused=action, error=str(exc))
    messages.success(request, f"{what} job #{job.pk} queued.")
    return redirect("training:job", job.pk)
