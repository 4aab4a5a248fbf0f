"""The project page and dashboard as a researcher reads them; navigation and refusals as an annotator meets them."""

import itertools
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from labeling.models import Assignment, Item, Judgment, Project

pytestmark = pytest.mark.django_db

_tokens = itertools.count()


def judge(item, choice, annotator=None, source="import:pandalm.json"):
    Judgment.objects.create(
        item=item,
        annotator=annotator,
        choice=choice,
        client_token=f"tok-{next(_tokens)}",
        source=source if annotator is None else "human",
    )
    if annotator is not None:  # as submit_judgment keeps it
        Item.objects.filter(pk=item.pk).update(judgment_count=item.judgment_count + 1)


@pytest.fixture
def researcher_client(client, make_user):
    user = make_user("rita")
    client.force_login(user)
    client.user = user
    return client


def text(response) -> str:
    """The page as a reader sees it: tags dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())).replace(" ·", " ·")


def test_a_fully_labelled_import_shows_as_complete(researcher_client, make_project):
    project = make_project(n_items=3, overlap=3, members={researcher_client.user: "researcher"})
    for item in project.items.all():
        for choice in ("a", "b", "tie"):
            judge(item, choice)
    page = text(researcher_client.get(reverse("labeling:project", args=[project.slug])))
    assert "3 of 3 items complete" in page
    assert "9 judgments (9 imported with the data)" in page
    assert "3 items still wait for k judgments from annotators" in page
    dashboard = text(researcher_client.get(reverse("labeling:dashboard")))
    assert "3/3" in dashboard and "(9 imported)" in dashboard


def test_completion_mixes_imported_and_annotator_judgments(researcher_client, make_project, make_user):
    annotator = make_user()
    project = make_project(n_items=3, overlap=2, members={researcher_client.user: "researcher", annotator: "annotator"})
    first, second, third = project.items.order_by("id")
    judge(first, "a")
    judge(first, "b", annotator=annotator)  # one imported + one human = k
    judge(second, "a")  # one short
    page = text(researcher_client.get(reverse("labeling:project", args=[project.slug])))
    assert "1 of 3 items complete" in page
    assert "1/3" in text(researcher_client.get(reverse("labeling:dashboard")))


def test_answers_are_shown_in_words_not_codes(researcher_client, make_project):
    project = make_project(n_items=3, members={researcher_client.user: "researcher"})
    items = list(project.items.all())
    for item, choice in zip(items, ["a", "a", "both_bad"], strict=True):
        judge(item, choice)
    page = text(researcher_client.get(reverse("labeling:project", args=[project.slug])))
    assert "A is better : 2" in page or "A is better: 2" in page
    assert "Both bad : 1" in page or "Both bad: 1" in page
    assert "both_bad" not in page


def test_verdicts_on_one_response_are_shown_in_words_too(researcher_client, make_project):
    project = make_project(kind=Project.Kind.BINARY, n_items=3, members={researcher_client.user: "researcher"})
    for item, choice in zip(project.items.all(), ["up", "up", "down"], strict=True):
        judge(item, choice)
    page = text(researcher_client.get(reverse("labeling:project", args=[project.slug])))
    assert "Good : 2" in page or "Good: 2" in page
    assert "Bad : 1" in page or "Bad: 1" in page


def test_the_project_page_links_to_export_snapshots_and_training(researcher_client, make_project):
    project = make_project(members={researcher_client.user: "researcher"})
    page = researcher_client.get(reverse("labeling:project", args=[project.slug])).content.decode()
    assert f'href="{reverse("labeling:export", args=[project.slug])}"' in page
    assert f'href="{reverse("labeling:snapshots", args=[project.slug])}"' in page
    assert f'href="{reverse("training:job_new")}?project={project.slug}">Train on this</a>' in page


def test_the_project_page_counts_skips_by_reason(researcher_client, make_project, make_user):
    from django.utils import timezone

    annotator = make_user()
    project = make_project(n_items=3, members={researcher_client.user: "researcher", annotator: "annotator"})
    now = timezone.now()
    for item, reason in zip(project.items.all(), ["Unsure", "Unsure"], strict=False):
        Assignment.objects.create(
            item=item,
            annotator=annotator,
            project=project,
            state="skipped",
            skip_reason=reason,
            leased_at=now,
            expires_at=now,
        )
    page = text(researcher_client.get(reverse("labeling:project", args=[project.slug])))
    assert "2 skips" in page and "Unsure: 2" in page
    assert re.search(
        r"<td>2</td>\s*<td><progress", researcher_client.get(reverse("labeling:dashboard")).content.decode()
    )


def test_a_researcher_edits_settings_and_guidelines(researcher_client, make_project):
    project = make_project(members={researcher_client.user: "researcher"}, guidelines="Old rules")
    response = researcher_client.post(
        reverse("labeling:project_settings", args=[project.slug]),
        {
            "name": "Renamed",
            "guidelines": "Prefer **honest** answers",
            "overlap": 3,
            "allow_tie": "on",
        },
        follow=True,
    )
    page = response.content.decode()
    assert "Settings and guidelines saved." in page and "<strong>honest</strong>" in page
    project.refresh_from_db()
    assert (project.name, project.overlap, project.allow_tie, project.allow_both_bad) == ("Renamed", 3, True, False)
    assert project.kind == "pairwise"  # not editable: the items were built for it


def test_invalid_settings_are_refused_with_the_field_named_and_nothing_saved(researcher_client, make_project):
    project = make_project(members={researcher_client.user: "researcher"}, guidelines="Old rules")
    response = researcher_client.post(
        reverse("labeling:project_settings", args=[project.slug]),
        {
            "name": "",
            "guidelines": "New",
            "overlap": 0,
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Ensure this value is greater than or equal to 1." in page and "This field is required." in page
    assert '<details class="settings" open>' in page
    project.refresh_from_db()
    assert project.guidelines == "Old rules" and project.name.startswith("Project ")


def test_an_annotator_cannot_edit_settings(client, make_project, make_user):
    annotator = make_user()
    project = make_project(members={annotator: "annotator"}, guidelines="Old rules")
    client.force_login(annotator)
    response = client.post(reverse("labeling:project_settings", args=[project.slug]), {"name": "x", "overlap": 2})
    assert response.status_code == 403
    project.refresh_from_db()
    assert project.guidelines == "Old rules"


def test_the_dashboard_explains_its_columns(researcher_client, make_project):
    make_project(members={researcher_client.user: "researcher"})
    page = researcher_client.get(reverse("labeling:dashboard")).content.decode()
    headers = re.findall(r'<th scope="col" title="([^"]+)">', page)
    assert len(headers) == 7 and all(len(h) > 20 for h in headers)
    assert "How many judgments each item needs" in page
    assert '<dl class="legend"' in page


def test_the_slug_is_made_from_the_name_when_left_empty(researcher_client, make_project):
    make_project(members={researcher_client.user: "researcher"})
    response = researcher_client.post(
        reverse("labeling:project_create"),
        {"name": "Helpful & Harmless: Round 2", "slug": "", "kind": "pairwise", "overlap": 1},
    )
    assert response.status_code == 302
    assert Project.objects.filter(slug="helpful-harmless-round-2", name="Helpful & Harmless: Round 2").exists()
    again = researcher_client.post(
        reverse("labeling:project_create"),
        {"name": "Helpful & Harmless: round 2", "slug": "", "kind": "pairwise", "overlap": 1},
    )
    assert again.status_code == 200 and "exists already" in again.content.decode()


def test_the_new_project_form_fills_the_slug_in_the_browser_from_a_local_script(researcher_client, make_project):
    make_project(members={researcher_client.user: "researcher"})
    page = researcher_client.get(reverse("labeling:project_create")).content.decode()
    assert 'data-slug-from="id_name"' in page and "/static/slug.js" in page
    assert "https://" not in page  # nothing from a CDN
    assert (Path(settings.BASE_DIR) / "static" / "slug.js").is_file()


def test_every_page_links_a_favicon_that_exists(researcher_client):
    page = researcher_client.get(reverse("labeling:queue")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert (Path(settings.BASE_DIR) / "static" / "favicon.svg").read_text().startswith("<svg")


def test_the_readme_says_how_to_run_on_another_port():
    assert "make run PORT=" in (Path(settings.BASE_DIR) / "README.md").read_text()


# --- navigation and refusals -------------------------------------------------------------------

NAV_RESEARCH = ["labeling:dashboard", "training:jobs", "training:models"]


def nav(page: str) -> str:
    return page.split("<nav>", 1)[1].split("</nav>", 1)[0]


def test_an_annotator_sees_only_their_queue_in_the_navigation(client, make_user, make_project):
    annotator = make_user()
    make_project(members={annotator: "annotator"})
    client.force_login(annotator)
    menu = nav(client.get(reverse("labeling:queue")).content.decode())
    assert f'href="{reverse("labeling:queue")}"' in menu
    for name in NAV_RESEARCH:
        assert f'href="{reverse(name)}"' not in menu, name


def test_a_researcher_sees_the_dashboard_training_and_models_in_the_navigation(researcher_client, make_project):
    make_project(members={researcher_client.user: "researcher"})
    menu = nav(researcher_client.get(reverse("labeling:queue")).content.decode())
    for name in ["labeling:queue", *NAV_RESEARCH]:
        assert f'href="{reverse(name)}"' in menu, name


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (lambda p: reverse("labeling:dashboard"), "The dashboard is for researchers"),
        (lambda p: reverse("labeling:project_create"), "Only researchers may create projects"),
        (lambda p: reverse("labeling:project", args=[p.slug]), "you are one of its annotators"),
        (lambda p: reverse("labeling:export", args=[p.slug]), "you are one of its annotators"),
        (lambda p: reverse("training:jobs"), "researchers"),
    ],
)
def test_a_page_an_annotator_may_not_open_explains_why(client, make_user, make_project, url, reason):
    annotator = make_user()
    project = make_project(members={annotator: "annotator"})
    client.force_login(annotator)
    response = client.get(url(project))
    assert response.status_code == 403
    page = response.content.decode()
    assert "You may not open this page" in page and reason in page
    assert f'href="{reverse("labeling:queue")}"' in page  # a way on, inside the site's own layout
