"""`import_data`, `export_data` and `create_api_token`: what a researcher types, and the JSON line they read back."""

import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command

from labeling.models import DatasetSnapshot, ImportBatch, Item, Membership, Project
from tests.data.conftest import data_file, db_counts
from webapp.models import ApiToken, hash_token

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[list[str], dict]:
    out = io.StringIO()
    call_command(*args, stdout=out)
    lines = out.getvalue().splitlines()
    return lines, json.loads(lines[-1])


def test_import_data_creates_the_project_and_prints_the_counts_as_its_last_line(write, researcher):
    path = write(
        "prefs.jsonl",
        [{"prompt": "2 + 2 =", "chosen": "4", "rejected": "5"}, {"prompt": "3 + 3 =", "chosen": "6", "rejected": "7"}],
    )

    _, counts = run("import_data", str(path), "--project", "maths", "--format", "trl", "--user", "rita")

    assert counts == {"prompts": 2, "items": 2, "judgments": 2, "skipped": 0}
    project = Project.objects.get(slug="maths")
    assert project.kind == "pairwise" and Item.objects.filter(project=project).count() == 2
    assert Membership.objects.get(project=project).role == "admin"
    assert ImportBatch.objects.get(project=project).created_by == researcher


def test_import_data_takes_a_column_mapping_and_makes_a_binary_project_for_completions(write, researcher):
    path = write("feedback.csv", "question,answer,thumbs_up\nhi,hello,true\nhi,go away,false\n")

    _, counts = run(
        "import_data",
        str(path),
        "--project",
        "feedback",
        "--format",
        "mapped",
        "--map",
        "prompt=question",
        "completion=answer",
        "--map",
        "label=thumbs_up",
        "--user",
        "rita",
    )

    assert counts == {"prompts": 1, "items": 2, "judgments": 2, "skipped": 0}
    assert Project.objects.get(slug="feedback").kind == "binary"


def test_import_data_reports_each_skipped_line_with_skip_invalid(write, researcher):
    path = write(
        "mixed.jsonl",
        [{"prompt": "a", "chosen": "x", "rejected": "y"}, {"prompt": "b", "chosen": "x", "rejected": "x"}],
    )

    lines, counts = run(
        "import_data", str(path), "--project", "p", "--format", "trl", "--skip-invalid", "--user", "rita"
    )

    assert counts == {"prompts": 1, "items": 1, "judgments": 1, "skipped": 1}
    assert lines[:-1] == ["skipped line 2: field 'rejected': chosen and rejected are identical"]


def test_import_data_fails_with_the_message_and_writes_nothing(write, researcher):
    path = write("bad.jsonl", [{"prompt": "a", "chosen": "x", "rejected": "y"}, {"prompt": "b", "chosen": "x"}])
    before = db_counts()
    with pytest.raises(CommandError, match="bad.jsonl: line 2: field 'rejected': missing"):
        run("import_data", str(path), "--project", "p", "--format", "trl", "--user", "rita")
    assert db_counts() == before  # not even the project


def test_import_data_puts_oasst_votes_into_a_binary_project(researcher):
    _, counts = run(
        "import_data",
        str(data_file("oasst_en_100_tree.jsonl")),
        "--project",
        "votes",
        "--format",
        "oasst",
        "--kind",
        "binary",
        "--user",
        "rita",
    )
    assert counts["items"] > 0 and counts["judgments"] >= counts["items"]
    assert Project.objects.get(slug="votes").kind == "binary"


def test_export_data_writes_the_file_and_prints_rows_and_sha256(write, tmp_path, researcher):
    path = write("prefs.jsonl", [{"prompt": "2 + 2 =", "chosen": "4", "rejected": "5"}])
    run("import_data", str(path), "--project", "maths", "--format", "trl", "--user", "rita")
    out = tmp_path / "maths.jsonl"

    _, summary = run("export_data", "--project", "maths", "--format", "preference", "--out", str(out))

    assert summary["rows"] == 1 and summary["snapshot"] is None
    assert json.loads(out.read_text()) == {"prompt": "2 + 2 =", "chosen": "4", "rejected": "5"}
    assert summary["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_export_data_with_snapshot_freezes_the_export_and_prints_its_id(write, tmp_path, media_root, researcher):
    path = write("prefs.jsonl", [{"prompt": "2 + 2 =", "chosen": "4", "rejected": "5"}])
    run("import_data", str(path), "--project", "maths", "--format", "trl", "--user", "rita")
    out = tmp_path / "maths.parquet"

    _, summary = run(
        "export_data",
        "--project",
        "maths",
        "--format",
        "preference",
        "--out",
        str(out),
        "--policy",
        "unanimous",
        "--ties",
        "keep",
        "--snapshot",
    )

    snapshot = DatasetSnapshot.objects.get(pk=summary["snapshot"])
    assert (snapshot.rows, snapshot.sha256, snapshot.file_type) == (summary["rows"], summary["sha256"], "parquet")
    assert snapshot.spec["policy"] == "unanimous" and snapshot.spec["ties"] == "keep"
    assert snapshot.path == media_root / "snapshots" / f"{summary['sha256']}.parquet"
    assert snapshot.path.read_bytes() == out.read_bytes()


def test_export_data_rejects_an_unknown_suffix_and_an_unknown_project(tmp_path, project):
    with pytest.raises(CommandError, match="must end in .jsonl or .parquet"):
        run("export_data", "--project", project.slug, "--format", "raw", "--out", str(tmp_path / "x.csv"))
    with pytest.raises(CommandError, match="no project 'nope'"):
        run("export_data", "--project", "nope", "--format", "raw", "--out", str(tmp_path / "x.jsonl"))


def test_import_data_into_a_new_project_asks_for_its_first_admin_and_writes_nothing(write):
    path = write("prefs.jsonl", [{"prompt": "2 + 2 =", "chosen": "4", "rejected": "5"}])
    before = db_counts()

    with pytest.raises(
        CommandError, match=r"project 'maths' does not exist yet: give --user USERNAME, who becomes its admin"
    ):
        run("import_data", str(path), "--project", "maths", "--format", "trl")

    assert db_counts() == before


def test_import_data_names_the_user_option_when_the_user_is_unknown(write):
    path = write("prefs.jsonl", [{"prompt": "2 + 2 =", "chosen": "4", "rejected": "5"}])
    with pytest.raises(CommandError, match="--user: no user named 'nobody'"):
        run("import_data", str(path), "--project", "maths", "--format", "trl", "--user", "nobody")
    assert not Project.objects.exists()


def test_create_api_token_prints_a_token_whose_hash_alone_is_stored(researcher):
    out = io.StringIO()
    call_command("create_api_token", "rita", stdout=out)
    secret = out.getvalue().strip()
    token = ApiToken.objects.get(user=researcher)
    assert token.key_hash == hash_token(secret) and secret not in (token.key_hash, token.prefix)
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("create_api_token", "nobody")
