"""Field helpers the models of both apps share."""

from collections.abc import Callable
from typing import Any, TypeVar, overload

from django.db import models

_M = TypeVar("_M", bound=models.Model)


@overload
def optional_fk(
    to: type[_M], on_delete: Callable[..., None], related_name: str, help_text: str = ""
) -> "models.ForeignKey[_M | None]": ...
@overload
def optional_fk(
    to: str, on_delete: Callable[..., None], related_name: str, help_text: str = ""
) -> "models.ForeignKey[Any]": ...
def optional_fk(
    to: type[models.Model] | str, on_delete: Callable[..., None], related_name: str, help_text: str = ""
) -> "models.ForeignKey[Any]":
    """A foreign key that may be empty: NULL in the database, not required in forms."""
    return models.ForeignKey(
        to, null=True, blank=True, on_delete=on_delete, related_name=related_name, help_text=help_text
    )


def one_name_per_project(what: str) -> models.UniqueConstraint:
    """No two `what`s of a project share a name (the `one_<what>_name_per_project` constraint)."""
    return models.UniqueConstraint(fields=["project", "name"], name=f"one_{what}_name_per_project")
