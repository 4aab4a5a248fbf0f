import itertools

import pytest
from django.contrib.auth import get_user_model

from labeling.models import Item, Membership, Project, Prompt, Response

_seq = itertools.count()


@pytest.fixture
def make_user(db):
    def make(username=None, password="pw-for-tests", **extra):
        username = username or f"user{next(_seq)}"
        return get_user_model().objects.create_user(username=username, password=password, **extra)

    return make


@pytest.fixture
def make_project(db):
    """A project with `n_items` items and the given members: {user: role}."""

    def make(kind=Project.Kind.PAIRWISE, overlap=1, n_items=3, members=None, texts=None, **fields):
        n = next(_seq)
        project = Project.objects.create(name=f"Project {n}", slug=f"project-{n}", kind=kind, overlap=overlap, **fields)
        for i in range(n_items):
            prompt = Prompt.objects.create(project=project, text=f"prompt {i}")
            a_text, b_text = texts if texts else (f"answer A{i}", f"answer B{i}")
            a = Response.objects.create(prompt=prompt, text=a_text)
            b = Response.objects.create(prompt=prompt, text=b_text) if kind == Project.Kind.PAIRWISE else None
            Item.objects.create(project=project, prompt=prompt, response_a=a, response_b=b)
        for user, role in (members or {}).items():
            Membership.objects.create(project=project, user=user, role=role)
        return project

    return make


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """Django's default hasher costs most of a second per password by design; tests log in and create
    users hundreds of times, so they hash with MD5 (never do this outside tests)."""
    from django.conf import settings
    from django.contrib.auth import hashers

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    hashers.get_hashers.cache_clear()
    hashers.get_hashers_by_algorithm.cache_clear()
