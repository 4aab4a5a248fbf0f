from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from labeling.selectors import is_researcher


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("labeling:dashboard" if is_researcher(request.user) else "labeling:queue")


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness probe; also the 'bare view' baseline of the load benchmark (no database work)."""
    return HttpResponse("ok", content_type="text/plain")
