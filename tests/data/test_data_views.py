"""The dashboard's data pages: upload -> preview -> confirm, export downloads, snapshots; researchers only."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.data.exporters import ExportSpec
from labeling.data.snapshots import create_snapshot
from labeling.models import DatasetSnapshot, Item, Judgment
from tests.data.conftest import db_counts

pytestmark = pytest.mark.django_db

ROWS = [
    {"prompt": "2 + 2 =", "chosen": "4", "rejected": "5"},
    {"prompt": "<script>alert(1)</script>", "chosen": "ok", "rejected": "no"},
]


def upload(name: str, rows_or_text) -> SimpleUploadedFile:
    content = rows_or_text if isinstance(rows_or_text, str) else "".join(json.dumps(r) + "\n" for r in rows_or_text)
    return SimpleUploadedFile(name, content.encode())


def confirm_fields(page: str) -> dict:
    """The hidden and visible fields of the preview's confirm form, as the browser would send them."""
    form = page[page.index('action="/projects/') :]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
    fields["format"] = re.search(r'<option value="([\w-]+)" selected>', form).group(1)
    fields["mapping"] = re.search(r"<textarea[^>]*>(.*?)</textarea>", form, re.S).group(1).strip()
    return fields


def test_a_researcher_uploads_previews_then_confirms_an_import(client, project, researcher):
    client.force_login(researcher)
    url = reverse("labeling:import", args=[project.slug])
    assert client.get(url).status_code == 200
    before = db_counts()

    preview = client.post(url, {"file": upload("prefs.jsonl", ROWS), "format": "trl"})

    page = preview.content.decode()
    assert preview.status_code == 200 and "Preview of prefs.jsonl" in page
    assert "line 1" in page and "2 + 2 =" in page and "Confirm import" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert db_counts() == before  # a preview writes nothing

    done = client.post(reverse("labeling:import_confirm", args=[project.slug]), confirm_fields(page))

    assert done.status_code == 200
    assert "Created 2 prompts, 2 items and 2 judgments" in done.content.decode()
    assert Item.objects.filter(project=project).count() == 2
    assert set(Judgment.objects.values_list("source", flat=True)) == {"import:prefs.jsonl"}


def test_an_htmx_upload_gets_the_preview_partial(client, project, researcher):
    client.force_login(researcher)
    response = client.post(
        reverse("labeling:import", args=[project.slug]),
        {"file": upload("prefs.jsonl", ROWS), "format": "trl"},
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert page.startswith('<section id="preview"') and "<html" not in page


def test_the_preview_shows_the_mapping_and_can_be_redone_with_another(client, project, researcher):
    client.force_login(researcher)
    url = reverse("labeling:import", args=[project.slug])
    text = "question,good,bad\nWhy?,Because.,No.\n"
    first = client.post(
        url,
        {
            "file": upload("pairs.csv", text),
            "format": "mapped",
            "mapping": "prompt=question\nchosen=good\nrejected=worse",
        },
    ).content.decode()
    assert "field &#x27;worse&#x27; (mapped to rejected) is not a column" in first

    fields = confirm_fields(first) | {"mapping": "prompt=question\nchosen=good\nrejected=bad"}
    second = client.post(url, fields).content.decode()
    assert "<td>rejected</td><td>bad</td>" in second and "Because." in second and "is not a column" not in second


def test_a_bad_file_is_refused_at_confirm_with_its_message_and_nothing_written(client, project, researcher):
    client.force_login(researcher)
    page = client.post(
        reverse("labeling:import", args=[project.slug]),
        {"file": upload("bad.jsonl", ROWS + [{"prompt": "x", "chosen": "same", "rejected": "same"}]), "format": "trl"},
    ).content.decode()
    before = db_counts()

    response = client.post(reverse("labeling:import_confirm", args=[project.slug]), confirm_fields(page))

    assert response.status_code == 400
    assert (
        "bad.jsonl: line 3: field &#x27;rejected&#x27;: chosen and rejected are identical" in response.content.decode()
    )
    assert db_counts() == before


def test_skip_invalid_on_the_form_imports_the_rest_and_lists_the_skipped_rows(client, project, researcher):
    client.force_login(researcher)
    page = client.post(
        reverse("labeling:import", args=[project.slug]),
        {
            "file": upload("bad.jsonl", ROWS + [{"prompt": "x", "chosen": "same", "rejected": "same"}]),
            "format": "trl",
            "skip_invalid": "on",
        },
    ).content.decode()
    fields = confirm_fields(page) | {"skip_invalid": "on"}

    done = client.post(reverse("labeling:import_confirm", args=[project.slug]), fields).content.decode()

    assert "skipped 1 invalid rows" in done and "line 3: field 'rejected': chosen and rejected are identical" in done
    assert Item.objects.filter(project=project).count() == 2


def test_an_upload_over_the_limit_is_refused_before_it_is_stored(client, project, researcher, settings, media_root):
    settings.IMPORT_MAX_FILE_BYTES = 10
    client.force_login(researcher)
    response = client.post(
        reverse("labeling:import", args=[project.slug]), {"file": upload("prefs.jsonl", ROWS), "format": "trl"}
    )
    assert response.status_code == 400
    assert "prefs.jsonl: the file is 128 bytes, over the upload limit of 10 bytes" in response.content.decode()
    assert not (media_root / "imports").exists() or not any((media_root / "imports").iterdir())


def test_the_export_form_downloads_the_file_and_can_freeze_a_snapshot(client, project, researcher, write):
    from labeling.data.imports import import_file

    import_file(project, write("prefs.jsonl", ROWS), fmt="trl")
    client.force_login(researcher)
    url = reverse("labeling:export", args=[project.slug])
    assert client.get(url).status_code == 200
    fields = {
        "format": "preference",
        "file_type": "jsonl",
        "policy": "majority",
        "ties": "drop",
        "both_bad": "drop",
        "form": "auto",
        "split": "all",
        "seed": "0",
        "source": "all",
    }

    download = client.post(url, fields)

    assert download.status_code == 200 and download["X-Rows"] == "2"
    assert 'attachment; filename="helpfulness-preference.jsonl"' == download["Content-Disposition"]
    body = b"".join(download.streaming_content).decode()
    assert [json.loads(line) for line in body.splitlines()] == ROWS

    frozen = client.post(url, fields | {"snapshot": "on", "file_type": "parquet"})
    assert frozen.status_code == 302 and frozen.url == reverse("labeling:snapshots", args=[project.slug])
    snapshot = DatasetSnapshot.objects.get()
    listing = client.get(frozen.url).content.decode()
    assert snapshot.sha256[:10] in listing
    got = client.get(reverse("labeling:snapshot_download", args=[project.slug, snapshot.pk]))
    assert b"".join(got.streaming_content) == snapshot.path.read_bytes()


def test_the_export_form_explains_an_impossible_spec(client, project, researcher):
    client.force_login(researcher)
    response = client.post(
        reverse("labeling:export", args=[project.slug]),
        {
            "format": "preference",
            "file_type": "jsonl",
            "policy": "majority",
            "ties": "drop",
            "both_bad": "drop",
            "form": "auto",
            "split": "all",
            "test_size": "0.2",
            "seed": "0",
            "source": "all",
        },
    )
    assert response.status_code == 400 and "test_size needs split train or test" in response.content.decode()


def test_data_pages_are_for_the_projects_researchers_only(client, project, annotator, researcher):
    snapshot = create_snapshot(project, ExportSpec())
    outsider = get_user_model().objects.create_user(username="olga")
    get_urls = [
        reverse("labeling:import", args=[project.slug]),
        reverse("labeling:export", args=[project.slug]),
        reverse("labeling:snapshots", args=[project.slug]),
        reverse("labeling:snapshot_download", args=[project.slug, snapshot.pk]),
    ]
    post_urls = [
        reverse("labeling:import", args=[project.slug]),
        reverse("labeling:import_confirm", args=[project.slug]),
        reverse("labeling:export", args=[project.slug]),
    ]

    for url in get_urls:
        assert client.get(url).url.startswith(reverse("login")), url
    for user, status in ((annotator, 403), (outsider, 404)):
        client.force_login(user)
        for url in get_urls:
            assert client.get(url).status_code == status, (user, url)
        for url in post_urls:
            assert client.post(url, {"format": "trl", "file": upload("x.jsonl", ROWS)}).status_code == status, (
                user,
                url,
            )
    assert Item.objects.count() == 0


def test_the_project_page_links_to_import_export_and_snapshots(client, project, researcher):
    client.force_login(researcher)
    page = client.get(reverse("labeling:project", args=[project.slug])).content.decode()
    for name in ("import", "export", "snapshots"):
        assert reverse(f"labeling:{name}", args=[project.slug]) in page
