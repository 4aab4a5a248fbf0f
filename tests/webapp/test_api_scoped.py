"""The API beyond data exchange: models scoped to their project, the judgments of a project page by
page, an annotator's own queue and answers over HTTP, input bounds that name the field, JSON 404s."""

import pytest

from labeling.models import Judgment
from training.models import ModelVersion
from webapp.services import issue_token

pytestmark = pytest.mark.django_db


def bearer(user) -> dict:
    _, secret = issue_token(user)
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def rita(make_user):
    return make_user(username="rita")


@pytest.fixture
def anna(make_user):
    return make_user(username="anna")


@pytest.fixture
def project(make_project, rita, anna):
    return make_project(n_items=3, overlap=1, members={rita: "researcher", anna: "annotator"})


@pytest.fixture
def other_project(make_project, make_user):
    olga = make_user(username="olga")
    return make_project(n_items=0, members={olga: "researcher"}), olga


def post(client, path, data, user):
    return client.post(path, data, content_type="application/json", **bearer(user))


# --- models -------------------------------------------------------------------------------------


def test_a_researcher_registers_a_model_and_reads_it_back_with_its_lineage(client, project, rita):
    created = post(client, f"/api/projects/{project.slug}/models", {"name": "tiny", "base": "org/tiny-model"}, rita)

    assert created.status_code == 201, created.content
    model = created.json()
    assert (model["project"], model["name"], model["base"], model["kind"], model["adapters"]) == (
        project.slug,
        "tiny",
        "org/tiny-model",
        "policy",
        [],
    )
    child = ModelVersion.objects.create(
        project=project, name="tiny-dpo", base="org/tiny-model", adapters=[], parent_id=model["id"]
    )
    listed = client.get(f"/api/projects/{project.slug}/models", **bearer(rita)).json()
    assert {m["name"] for m in listed} == {"tiny", "tiny-dpo"}
    detail = client.get(f"/api/models/{child.pk}", **bearer(rita)).json()
    assert [step["name"] for step in detail["lineage"]] == ["tiny-dpo", "tiny"]


def test_registering_the_same_name_twice_is_a_422_naming_the_field_and_overwrites_nothing(client, project, rita):
    path = f"/api/projects/{project.slug}/models"
    assert post(client, path, {"name": "tiny", "base": "org/first"}, rita).status_code == 201

    again = post(client, path, {"name": "tiny", "base": "org/second"}, rita)

    assert again.status_code == 422 and again.json()["field"] == "name"
    assert ModelVersion.objects.get(project=project, name="tiny").base == "org/first"


@pytest.mark.parametrize("base", ["/etc", "../../etc", "/tmp/../etc/passwd"])
def test_a_base_outside_the_model_roots_is_refused_naming_the_field(client, project, rita, base):
    response = post(client, f"/api/projects/{project.slug}/models", {"name": "evil", "base": base}, rita)

    assert response.status_code == 422 and response.json()["field"] == "base", response.content
    assert not ModelVersion.objects.filter(name="evil").exists()


def test_a_model_of_another_project_is_a_404_and_cannot_be_registered_into(client, project, rita, other_project):
    theirs, olga = other_project
    model = ModelVersion.objects.create(project=theirs, name="secret", base="/srv/models/secret")

    assert client.get(f"/api/models/{model.pk}", **bearer(rita)).status_code == 404
    assert client.get(f"/api/models/{model.pk}", **bearer(olga)).status_code == 200
    assert client.get(f"/api/projects/{theirs.slug}/models", **bearer(rita)).status_code == 404
    assert (
        post(client, f"/api/projects/{theirs.slug}/models", {"name": "mine", "base": "org/x"}, rita).status_code == 404
    )
    assert not ModelVersion.objects.filter(name="mine").exists()


# --- judgments ----------------------------------------------------------------------------------


def _answer_everything(client, project, user) -> list[dict]:
    stored = []
    while (nxt := client.get(f"/api/projects/{project.slug}/queue", **bearer(user)).json()["next"]) is not None:
        answer = post(
            client,
            f"/api/projects/{project.slug}/judgments",
            {"item": nxt["item"], "choice": nxt["left"]["value"], "client_token": f"t{nxt['item']}"},
            user,
        )
        assert answer.status_code == 201, answer.content
        stored.append(answer.json())
    return stored


def test_an_annotator_answers_their_queue_over_the_api_and_the_left_side_is_recorded(client, project, anna):
    first = client.get(f"/api/projects/{project.slug}/queue", **bearer(anna))
    assert first.status_code == 200
    shown = first.json()["next"]
    assert shown["prompt"]["text"].startswith("prompt ") and shown["left"]["text"].startswith("answer ")
    assert {shown["left"]["value"], shown["right"]["value"]} == {"a", "b"}

    stored = _answer_everything(client, project, anna)

    assert len(stored) == 3 and client.get(f"/api/projects/{project.slug}/queue", **bearer(anna)).json()["next"] is None
    first_judgment = Judgment.objects.get(item_id=shown["item"])
    assert first_judgment.choice == shown["left"]["value"] == first_judgment.left  # chose the left side
    assert [p["slug"] for p in client.get("/api/queue", **bearer(anna)).json()] == [project.slug]


def test_resending_an_answer_with_the_same_client_token_stores_it_once(client, project, anna):
    item = client.get(f"/api/projects/{project.slug}/queue", **bearer(anna)).json()["next"]["item"]
    body = {"item": item, "choice": "a", "client_token": "same-token", "strength": 2}

    first = post(client, f"/api/projects/{project.slug}/judgments", body, anna)
    again = post(client, f"/api/projects/{project.slug}/judgments", body, anna)

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and again.json()["created"] is False
    assert Judgment.objects.filter(item_id=item).count() == 1


def test_an_item_not_assigned_to_the_annotator_is_a_409_and_nothing_is_stored(client, project, anna, rita):
    leased = client.get(f"/api/projects/{project.slug}/queue", **bearer(anna)).json()["next"]["item"]

    response = post(
        client,
        f"/api/projects/{project.slug}/judgments",
        {"item": leased, "choice": "a", "client_token": "riding-on-annas-lease"},
        rita,
    )

    assert response.status_code == 409 and "not assigned to you" in response.json()["detail"]
    assert not Judgment.objects.exists()


def test_a_choice_the_project_does_not_offer_is_a_422_naming_the_field(client, project, anna):
    project.allow_tie = False
    project.save()
    item = client.get(f"/api/projects/{project.slug}/queue", **bearer(anna)).json()["next"]["item"]
    path = f"/api/projects/{project.slug}/judgments"

    tie = post(client, path, {"item": item, "choice": "tie", "client_token": "t1"}, anna)
    up = post(client, path, {"item": item, "choice": "<script>", "client_token": "t2"}, anna)

    assert tie.status_code == 422 and tie.json()["field"] == "choice"
    assert up.status_code == 422 and up.json()["field"] == "choice" and "<script>" not in up.content.decode()
    assert not Judgment.objects.exists()


def test_a_researcher_pages_through_the_judgments_with_a_cursor(client, project, anna, rita):
    _answer_everything(client, project, anna)

    first = client.get(f"/api/projects/{project.slug}/judgments?limit=2", **bearer(rita)).json()
    rest = client.get(f"/api/projects/{project.slug}/judgments?limit=2&after={first['next']}", **bearer(rita)).json()

    assert len(first["items"]) == 2 and len(rest["items"]) == 1 and rest["next"] is None
    row = first["items"][0]
    assert row["annotator"] == "anna" and row["source"] == "human" and row["left"] in ("a", "b")
    assert client.get(f"/api/projects/{project.slug}/judgments", **bearer(anna)).status_code == 403
    assert client.get(f"/api/projects/{project.slug}/judgments?limit=0", **bearer(rita)).json()["field"] == "limit"


def test_an_annotator_still_gets_403_on_the_research_endpoints(client, project, anna):
    response = client.get(f"/api/projects/{project.slug}/models", **bearer(anna))
    assert response.status_code == 403 and "researchers" in response.json()["detail"]


def test_a_project_you_are_not_in_is_a_404_on_the_queue_whether_or_not_it_exists(client, other_project, anna):
    theirs, _ = other_project
    exists = client.get(f"/api/projects/{theirs.slug}/queue", **bearer(anna))
    missing = client.get("/api/projects/no-such-project/queue", **bearer(anna))
    assert exists.status_code == missing.status_code == 404 and exists.json() == missing.json()


# --- bounds and errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "x" * 101, "name": "Long"}, "slug"),
        ({"slug": "ok", "name": "n" * 201}, "name"),
        ({"slug": "bad slug!", "name": "Bad"}, "slug"),
        ({"slug": "ok", "name": "K", "overlap": 0}, "overlap"),
        ({"slug": "ok", "name": "K", "overlap": 51}, "overlap"),
        ("null", "body"),
        ("[1, 2]", "body"),
        ('"just a string"', "body"),
        ("{not json", "body"),
    ],
)
def test_a_project_outside_the_bounds_is_a_422_naming_the_field(client, rita, project, body, field):
    response = post(client, "/api/projects", body, rita)  # a str is sent as it is
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field


def test_a_taken_slug_is_a_422_naming_the_slug(client, rita, project):
    response = post(client, "/api/projects", {"slug": project.slug, "name": "Again"}, rita)
    assert response.status_code == 422 and response.json()["field"] == "slug"


def test_an_unknown_path_under_api_is_a_json_404(client, rita):
    for path in ("/api/nope", "/api/projects/x/nothing/here", "/api"):
        response = client.get(path, **bearer(rita))
        assert response.status_code == 404 and response["Content-Type"] == "application/json", path
        assert "openapi.json" in response.json()["detail"]


def test_every_authenticated_operation_documents_401_403_404_and_422(client):
    schema = client.get("/api/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"401", "403", "404", "422"} <= set(operation["responses"]), (method, path)
