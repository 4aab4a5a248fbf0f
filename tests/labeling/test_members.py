"""A team can be run: members and roles managed on the project page, from the shell and over the API."""

import json
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.urls import reverse

from labeling import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make_user, make_project):
    """A project with an admin, a researcher and an annotator, plus a user who is not a member yet."""
    admin, researcher, annotator, newcomer = make_user("ada"), make_user("rita"), make_user("ann"), make_user("nico")
    project = make_project(members={admin: "admin", researcher: "researcher", annotator: "annotator"})
    return project, admin, researcher, annotator, newcomer


def roles(project) -> dict[str, str]:
    return dict(project.memberships.values_list("user__username", "role"))


# --- services ----------------------------------------------------------------------------------


def test_an_admin_adds_changes_and_removes_a_member(team):
    project, admin, *_ = team
    services.add_member(project, "nico", "annotator", actor=admin)
    assert roles(project)["nico"] == "annotator"
    services.set_role(project, "nico", "admin", actor=admin)
    assert roles(project)["nico"] == "admin"
    services.remove_member(project, "nico", actor=admin)
    assert "nico" not in roles(project)


@pytest.mark.parametrize(
    ("username", "role", "field", "message"),
    [
        ("nobody", "annotator", "username", "there is no user 'nobody'"),
        ("ann", "annotator", "username", "'ann' is already a member"),
        ("nico", "owner", "role", "role must be one of annotator, researcher, admin"),
        ("  ", "annotator", "username", "username is required"),
    ],
)
def test_a_bad_addition_names_the_field_and_changes_nothing(team, username, role, field, message):
    project, admin, *_ = team
    before = roles(project)
    with pytest.raises(services.MembershipError, match=message) as caught:
        services.add_member(project, username, role, actor=admin)
    assert caught.value.field == field
    assert roles(project) == before


def test_the_only_admin_can_be_neither_demoted_nor_removed(team):
    project, admin, *_ = team
    with pytest.raises(services.MembershipError, match="only admin"):
        services.set_role(project, "ada", "researcher", actor=admin)
    with pytest.raises(services.MembershipError, match="only admin"):
        services.remove_member(project, "ada", actor=admin)
    assert roles(project)["ada"] == "admin"
    services.set_role(project, "rita", "admin", actor=admin)
    services.remove_member(project, "ada", actor=admin)  # now someone else is admin
    assert roles(project) == {"rita": "admin", "ann": "annotator"}


def test_a_researcher_manages_annotators_but_not_admins(team):
    project, _, researcher, *_ = team
    services.add_member(project, "nico", "researcher", actor=researcher)
    services.set_role(project, "ann", "researcher", actor=researcher)
    with pytest.raises(PermissionDenied, match="Only a project admin"):
        services.add_member(project, "nico", "admin", actor=researcher)
    with pytest.raises(PermissionDenied, match="Only a project admin"):
        services.set_role(project, "ada", "annotator", actor=researcher)
    with pytest.raises(PermissionDenied, match="Only a project admin"):
        services.remove_member(project, "ada", actor=researcher)
    assert roles(project) == {"ada": "admin", "rita": "researcher", "ann": "researcher", "nico": "researcher"}


def test_an_annotator_manages_nobody(team):
    project, _, _, annotator, _ = team
    with pytest.raises(PermissionDenied):
        services.add_member(project, "nico", "annotator", actor=annotator)
    assert "nico" not in roles(project)


# --- the project page --------------------------------------------------------------------------


def test_a_researcher_adds_a_member_on_the_project_page_and_sees_them_listed(client, team):
    project, _, researcher, *_ = team
    client.force_login(researcher)
    response = client.post(
        reverse("labeling:member_add", args=[project.slug]), {"username": "nico", "role": "annotator"}
    )
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "Added nico as annotator." in page
    assert f'action="{reverse("labeling:member_role", args=[project.slug, "nico"])}"' in page
    assert roles(project)["nico"] == "annotator"


def test_adding_an_unknown_user_on_the_page_says_so_next_to_the_form(client, team):
    project, admin, *_ = team
    client.force_login(admin)
    response = client.post(
        reverse("labeling:member_add", args=[project.slug]), {"username": "ghost", "role": "annotator"}
    )
    assert response.status_code == 400
    assert "there is no user &#x27;ghost&#x27;" in response.content.decode()
    assert "ghost" not in roles(project)


def test_roles_are_changed_and_members_removed_on_the_page(client, team):
    project, admin, *_ = team
    client.force_login(admin)
    client.post(reverse("labeling:member_role", args=[project.slug, "ann"]), {"role": "researcher"})
    assert roles(project)["ann"] == "researcher"
    response = client.post(reverse("labeling:member_remove", args=[project.slug, "ann"]), follow=True)
    assert "Removed ann from the project." in response.content.decode()
    assert "ann" not in roles(project)


def test_removing_the_last_admin_on_the_page_is_refused_with_a_reason(client, team):
    project, admin, *_ = team
    client.force_login(admin)
    response = client.post(reverse("labeling:member_remove", args=[project.slug, "ada"]), follow=True)
    assert "ada is the project&#x27;s only admin" in response.content.decode()
    assert roles(project)["ada"] == "admin"


def test_a_researcher_is_not_offered_the_admin_role_and_is_refused_it_with_an_explanation(client, team):
    project, _, researcher, *_ = team
    client.force_login(researcher)
    page = client.get(reverse("labeling:project", args=[project.slug])).content.decode()
    assert '<option value="admin"' not in page
    response = client.post(reverse("labeling:member_add", args=[project.slug]), {"username": "nico", "role": "admin"})
    assert response.status_code == 403
    assert "Only a project admin may grant, change or remove the admin role" in response.content.decode()
    assert "nico" not in roles(project)


def test_an_annotator_cannot_add_members_from_the_page(client, team):
    project, _, _, annotator, _ = team
    client.force_login(annotator)
    response = client.post(reverse("labeling:member_add", args=[project.slug]), {"username": "nico", "role": "admin"})
    assert response.status_code == 403
    assert "nico" not in roles(project)


# --- the command line --------------------------------------------------------------------------


def run_add_member(*args) -> dict:
    out = StringIO()
    call_command("add_member", *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_add_member_adds_a_user_and_prints_json_last(team):
    project, *_ = team
    assert run_add_member(project.slug, "nico", "--role", "researcher") == {
        "project": project.slug,
        "username": "nico",
        "role": "researcher",
        "created": True,
    }
    assert roles(project)["nico"] == "researcher"


def test_add_member_on_an_existing_member_sets_the_role(team):
    project, *_ = team
    assert run_add_member(project.slug, "ann", "--role", "admin")["created"] is False
    assert roles(project)["ann"] == "admin"


def test_add_member_defaults_to_annotator(team):
    project, *_ = team
    assert run_add_member(project.slug, "nico")["role"] == "annotator"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-project", "nico"], "SLUG: there is no project 'no-such-project'"),
        (["{slug}", "ghost"], "USERNAME: there is no user 'ghost'"),
        (["{slug}", "ada", "--role", "annotator"], "ROLE: ada is the project's only admin"),
        (["{slug}", "nico", "--role", "owner"], "invalid choice: 'owner'"),
    ],
)
def test_add_member_fails_with_a_message_naming_the_argument(team, args, message):
    project, *_ = team
    before = roles(project)
    with pytest.raises(CommandError, match=message):
        call_command("add_member", *[a.format(slug=project.slug) for a in args], stdout=StringIO())
    assert roles(project) == before


# --- the API -----------------------------------------------------------------------------------


def bearer(user) -> dict:
    from webapp.models import ApiToken

    _, secret = ApiToken.issue(user)
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_the_api_lists_adds_changes_and_removes_members(client, team):
    project, admin, *_ = team
    auth = bearer(admin)
    url = f"/api/projects/{project.slug}/members"
    listed = client.get(url, **auth)
    assert listed.status_code == 200
    assert listed.json() == [
        {"username": "ada", "role": "admin"},
        {"username": "ann", "role": "annotator"},
        {"username": "rita", "role": "researcher"},
    ]
    added = client.post(url, {"username": "nico", "role": "researcher"}, content_type="application/json", **auth)
    assert added.status_code == 201 and added.json() == {"username": "nico", "role": "researcher"}
    changed = client.put(f"{url}/nico", {"role": "annotator"}, content_type="application/json", **auth)
    assert changed.status_code == 200 and changed.json()["role"] == "annotator"
    removed = client.delete(f"{url}/nico", **auth)
    assert removed.status_code == 204
    assert "nico" not in roles(project)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        ("post", "", {"username": "ghost"}, 400, "there is no user 'ghost'"),
        ("post", "", {"username": "ann"}, 400, "'ann' is already a member"),
        ("delete", "/ada", None, 400, "only admin"),
        ("put", "/ada", {"role": "annotator"}, 400, "only admin"),
        ("delete", "/ghost", None, 400, "'ghost' is not a member"),
    ],
)
def test_the_api_answers_400_with_the_reason_for_a_refused_change(client, team, method, path, body, status, detail):
    project, admin, *_ = team
    before = roles(project)
    kwargs = {"content_type": "application/json", "data": body} if body is not None else {}
    response = getattr(client, method)(f"/api/projects/{project.slug}/members{path}", **kwargs, **bearer(admin))
    assert response.status_code == status and detail in response.json()["detail"]
    assert roles(project) == before


def test_the_api_answers_422_for_an_unknown_role(client, team):
    project, admin, *_ = team
    response = client.post(
        f"/api/projects/{project.slug}/members",
        {"username": "nico", "role": "owner"},
        content_type="application/json",
        **bearer(admin),
    )
    assert response.status_code == 422
    assert "nico" not in roles(project)


def test_the_api_refuses_members_to_annotators_and_hides_them_from_outsiders(client, team, make_user):
    project, _, researcher, annotator, newcomer = team
    url = f"/api/projects/{project.slug}/members"
    assert client.get(url, **bearer(annotator)).status_code == 403
    assert client.get(url, **bearer(newcomer)).status_code == 404
    assert client.get("/api/projects/no-such-project/members", **bearer(newcomer)).status_code == 404
    refused = client.post(
        url, {"username": "nico", "role": "admin"}, content_type="application/json", **bearer(researcher)
    )
    assert refused.status_code == 403 and "Only a project admin" in refused.json()["detail"]
    assert "nico" not in roles(project)


def test_the_member_endpoints_are_in_the_openapi_schema_with_their_response_codes(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    members = paths["/api/projects/{slug}/members"]
    assert set(members["post"]["responses"]) >= {"201", "400", "403", "404", "422"}
    assert set(members["get"]["responses"]) >= {"200", "403", "404"}
    one = paths["/api/projects/{slug}/members/{username}"]
    assert set(one["delete"]["responses"]) >= {"204", "400", "403", "404"}
    assert set(one["put"]["responses"]) >= {"200", "400", "403", "404", "422"}
