"""The request the views behind login_required see, for type checking."""

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class SignedInRequest(HttpRequest):
    """A request with a logged-in user (login_required has checked) and django-htmx's details."""

    user: User
    htmx: HtmxDetails
