"""The signed-in user's API tokens: /account/tokens/ lists them, creates one (its secret shown once) and revokes."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from webapp import services
from webapp.http import SignedInRequest
from webapp.models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=services.NAME_MAX, required=False, help_text="A label to tell your tokens apart, e.g. “laptop”."
    )
    expires_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=services.MAX_EXPIRES_DAYS,
        help_text="Leave empty for a token that works until you revoke it.",
    )


def _page(request: SignedInRequest, form: TokenForm, secret: str | None = None, status: int = 200) -> HttpResponse:
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    return render(request, "webapp/tokens.html", {"form": form, "tokens": tokens, "secret": secret}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: SignedInRequest) -> HttpResponse:
    """GET: the user's tokens and a form; POST: issue a token and show its secret once (never stored)."""
    if request.method == "GET":
        return _page(request, TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        _, secret = services.issue_token(
            request.user, name=form.cleaned_data["name"], expires_days=form.cleaned_data["expires_days"]
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _page(request, form, status=400)
    response = _page(request, TokenForm(), secret=secret, status=201)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: SignedInRequest, token_id: int) -> HttpResponse:
    try:
        row = services.revoke_token(request.user, token_id)
    except ApiToken.DoesNotExist:
        raise Http404("No such token") from None
    messages.success(request, f"Token {row.prefix}… is revoked; it no longer works.")
    return redirect("tokens")
