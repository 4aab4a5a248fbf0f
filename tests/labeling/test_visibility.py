"""A project a user cannot see answers 404 whether or not its slug exists: on every URL that names one."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db


def _routes(patterns=None, prefix: str = ""):
    """Every route of the site as a string with <converter:name> placeholders (Django's own paths)."""
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            yield from _routes(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            yield route


def _fill(route: str, slug: str) -> str:
    """The route with `slug` for the project, 1 for ids, a name for other strings."""
    route = route.lstrip("^").rstrip("$")
    route = re.sub(r"<slug:slug>|\{slug\}", slug, route)
    route = re.sub(r"<int:\w+>|\{\w*id\}", "1", route)
    route = re.sub(r"<(str:|slug:|path:)?\w+>|\{\w+\}", "someone", route)
    return "/" + route


def _same_page(response, slug: str) -> bytes:
    """The body with what differs on every render (CSRF tokens, nonces) and the slug itself masked."""
    body = response.content.replace(slug.encode(), b"SLUG")
    body = re.sub(rb'("X-CSRFToken": "|name="csrfmiddlewaretoken" value="|nonce=")[^"]+', rb"\1TOKEN", body)
    return body


def _project_routes() -> list[str]:
    routes = [r for r in _routes() if "<slug:slug>" in r and not r.startswith("admin/")]
    return sorted(set(routes))


def _api_routes(client) -> list[tuple[str, str]]:
    paths = client.get("/api/openapi.json").json()["paths"]
    return sorted((method, path) for path, ops in paths.items() if "{slug}" in path for method in ops)


@pytest.fixture
def outsider(client, make_user, make_project):
    """A researcher of one project, looking at another that exists (theirs is the control)."""
    user = make_user()
    mine = make_project(members={user: "researcher"})
    hidden = make_project(members={make_user(): "admin"})
    client.force_login(user)
    return client, user, mine, hidden


def test_the_site_has_the_project_routes_this_test_walks(outsider):
    routes = _project_routes()
    assert len(routes) >= 10, routes
    assert {"projects/<slug:slug>/", "annotate/<slug:slug>/", "projects/<slug:slug>/members/"} <= set(routes)


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_project_page_answers_an_outsider_as_if_the_project_did_not_exist(outsider, method):
    client, _, mine, hidden = outsider
    for route in _project_routes():
        existing = getattr(client, method)(_fill(route, hidden.slug))
        missing = getattr(client, method)(_fill(route, "no-such-project-anywhere"))
        assert existing.status_code == missing.status_code, route
        assert existing.status_code in (404, 405), (route, existing.status_code)
        if existing.status_code == 404:
            assert _same_page(existing, hidden.slug) == _same_page(missing, "no-such-project-anywhere"), route
    assert client.get(_fill("projects/<slug:slug>/", mine.slug)).status_code == 200  # the control


def test_training_pages_that_take_a_project_answer_an_outsider_as_if_it_did_not_exist(outsider):
    client, _, mine, hidden = outsider
    existing = client.get(f"/training/jobs/new/?project={hidden.slug}")
    missing = client.get("/training/jobs/new/?project=no-such-project-anywhere")
    assert existing.status_code == missing.status_code
    assert hidden.name.encode() not in existing.content
    assert client.get(f"/training/jobs/new/?project={mine.slug}").status_code == 200


def test_every_api_endpoint_that_takes_a_project_answers_an_outsider_404(outsider):
    client, user, mine, hidden = outsider
    from webapp.models import ApiToken

    _, secret = ApiToken.issue(user)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    routes = _api_routes(client)
    assert ("get", "/api/projects/{slug}/members") in routes
    for method, path in routes:
        existing = getattr(client, method)(
            _fill(path.removeprefix("/"), hidden.slug), content_type="application/json", **auth
        )
        missing = getattr(client, method)(
            _fill(path.removeprefix("/"), "no-such-project-anywhere"), content_type="application/json", **auth
        )
        assert existing.status_code == missing.status_code, (method, path)
        if existing.status_code != 422:  # a body the schema refuses is refused before any project is looked up
            assert existing.status_code == 404, (method, path, existing.status_code)
            assert existing.json() == missing.json(), (method, path)


def test_an_annotator_on_a_research_page_of_their_own_project_gets_403_with_the_reason(client, make_user, make_project):
    annotator = make_user()
    project = make_project(members={annotator: "annotator"})
    client.force_login(annotator)
    response = client.get(f"/projects/{project.slug}/")
    assert response.status_code == 403
    assert "you are one of its annotators" in response.content.decode()
