import pytest
from django.urls import reverse

from labeling.models import Judgment, Project

pytestmark = pytest.mark.django_db


def _login(client, user):
    client.force_login(user)
    return client


def test_anonymous_users_are_sent_to_login(client, make_project):
    project = make_project()
    for url in [
        reverse("home"),
        reverse("labeling:queue"),
        reverse("labeling:dashboard"),
        reverse("labeling:annotate", args=[project.slug]),
        reverse("labeling:project", args=[project.slug]),
    ]:
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_an_annotator_cannot_reach_another_projects_items(client, make_user, make_project):
    annotator = make_user()
    mine = make_project(members={annotator: "annotator"})
    other = make_project(members={make_user(): "annotator"})
    _login(client, annotator)
    assert client.get(reverse("labeling:annotate", args=[mine.slug])).status_code == 200
    assert client.get(reverse("labeling:annotate", args=[other.slug])).status_code == 404
    assert client.get(reverse("labeling:guidelines", args=[other.slug])).status_code == 404
    # someone else's lease, even with a guessed id, is not theirs to answer
    other_user = other.memberships.get().user
    client.force_login(other_user)
    client.get(reverse("labeling:annotate", args=[other.slug]))
    lease = other_user.assignments.get()
    _login(client, annotator)
    response = client.post(reverse("labeling:judge", args=[other.slug, lease.pk]), {"choice": "a", "client_token": "x"})
    assert response.status_code == 404
    response = client.post(reverse("labeling:judge", args=[mine.slug, lease.pk]), {"choice": "a", "client_token": "x"})
    assert response.status_code == 404
    assert Judgment.objects.count() == 0


def test_an_annotator_gets_403_on_the_dashboard_research_pages_and_admin(client, make_user, make_project):
    annotator = make_user()
    project = make_project(members={annotator: "annotator"})
    _login(client, annotator)
    assert client.get(reverse("labeling:dashboard")).status_code == 403
    assert client.get(reverse("labeling:project_create")).status_code == 403
    assert client.get(reverse("labeling:project", args=[project.slug])).status_code == 403
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/labeling/judgment/").status_code == 403
    assert client.get(reverse("home")).url == reverse("labeling:queue")


def test_a_researcher_sees_their_projects_with_counts(client, make_user, make_project):
    researcher = make_user()
    project = make_project(n_items=4, overlap=1, members={researcher: "researcher"})
    hidden = make_project()
    _login(client, researcher)
    assert client.get(reverse("home")).url == reverse("labeling:dashboard")
    page = client.get(reverse("labeling:dashboard")).content.decode()
    assert project.name in page and hidden.name not in page
    assert "0/4" in page
    assert client.get(reverse("labeling:project", args=[project.slug])).status_code == 200
    assert client.get(reverse("labeling:project", args=[hidden.slug])).status_code == 404


def test_a_researcher_creates_a_project_and_becomes_its_admin(client, make_user):
    from django.contrib.auth.models import Permission

    researcher = make_user()
    researcher.user_permissions.add(Permission.objects.get(codename="add_project"))
    _login(client, researcher)
    response = client.post(
        reverse("labeling:project_create"),
        {
            "name": "Helpfulness",
            "slug": "helpfulness",
            "kind": "pairwise",
            "guidelines": "Be *kind*",
            "overlap": 3,
            "allow_tie": "on",
        },
    )
    assert response.status_code == 302
    project = Project.objects.get(slug="helpfulness")
    assert project.overlap == 3 and project.allow_tie and not project.allow_both_bad
    assert project.memberships.get().role == "admin"
    bad = client.post(
        reverse("labeling:project_create"), {"name": "x", "slug": "bad slug!", "kind": "nope", "overlap": 0}
    )
    assert bad.status_code == 200 and Project.objects.count() == 1


def test_posts_need_a_csrf_token(make_user, make_project):
    from django.test import Client

    user = make_user()
    project = make_project(members={user: "annotator"})
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("labeling:annotate", args=[project.slug]))
    lease = user.assignments.get()
    response = client.post(
        reverse("labeling:judge", args=[project.slug, lease.pk]), {"choice": "a", "client_token": "t"}
    )
    assert response.status_code == 403
    assert Judgment.objects.count() == 0


def test_the_page_escapes_html_from_prompts_and_responses(client, make_user, make_project):
    user = make_user()
    evil = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)> and [link](javascript:alert(1))")
    project = make_project(members={user: "annotator"}, texts=evil, guidelines="<b onmouseover=x>hi</b>")
    _login(client, user)
    page = client.get(reverse("labeling:annotate", args=[project.slug])).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'href="javascript:' not in page
    assert "<b onmouseover" not in page


def test_markdown_and_code_blocks_render(client, make_user, make_project):
    user = make_user()
    project = make_project(members={user: "annotator"}, texts=("**bold** text", "```python\nprint('<hi>')\n```"))
    _login(client, user)
    page = client.get(reverse("labeling:annotate", args=[project.slug])).content.decode()
    assert "<strong>bold</strong>" in page
    assert '<pre><code class="language-python">print(&#x27;&lt;hi&gt;&#x27;)' in page or "print('&lt;hi&gt;')" in page


def test_judging_swaps_in_the_next_item_and_counts_progress(client, make_user, make_project):
    user = make_user()
    project = make_project(n_items=2, members={user: "annotator"})
    _login(client, user)
    client.get(reverse("labeling:annotate", args=[project.slug]))
    first = user.assignments.get()
    response = client.post(
        reverse("labeling:judge", args=[project.slug, first.pk]),
        {"choice": "b", "client_token": "t1", "strength": "2"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<div id="workspace"')
    assert "<html" not in body  # a partial, not a page
    assert 'data-testid="judged-today">1<' in body
    second = user.assignments.exclude(pk=first.pk).get()
    assert f"/{second.pk}/judge/" in body
    skip = client.post(
        reverse("labeling:skip", args=[project.slug, second.pk]), {"reason": "Unsure"}, HTTP_HX_REQUEST="true"
    )
    assert 'data-testid="done"' in skip.content.decode()
    second.refresh_from_db()
    assert second.state == "skipped" and second.skip_reason == "Unsure"


def test_a_bad_answer_gets_a_clear_400(client, make_user, make_project):
    user = make_user()
    project = make_project(kind="binary", members={user: "annotator"})
    _login(client, user)
    client.get(reverse("labeling:annotate", args=[project.slug]))
    lease = user.assignments.get()
    url = reverse("labeling:judge", args=[project.slug, lease.pk])
    response = client.post(url, {"choice": "a", "client_token": "t"})
    assert response.status_code == 400 and b"choice must be one of up, down" in response.content
    response = client.post(url, {"choice": "up", "client_token": "t", "strength": "9"})
    assert response.status_code == 400 and b"strength" in response.content
    assert Judgment.objects.count() == 0


def test_a_submit_without_htmx_redirects_back_to_the_queue_page(client, make_user, make_project):
    user = make_user()
    project = make_project(members={user: "annotator"})
    _login(client, user)
    client.get(reverse("labeling:annotate", args=[project.slug]))
    lease = user.assignments.get()
    response = client.post(
        reverse("labeling:judge", args=[project.slug, lease.pk]), {"choice": "tie", "client_token": "t"}
    )
    assert response.status_code == 302 and response.url == reverse("labeling:annotate", args=[project.slug])
    assert Judgment.objects.get().choice == "tie"
