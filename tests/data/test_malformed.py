"""Malformed files that used to answer 500: each is a clear error naming the file, the line and the
field, on every path in (the service, the web upload, the API, the CLI), and nothing is written."""

import gzip
import html
import io
import json
import re
from datetime import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from labeling.data import imports
from tests.data.conftest import db_counts
from webapp.models import ApiToken

pytestmark = pytest.mark.django_db

GOOD = {"prompt": "What is 2 + 2?", "chosen": "4", "rejected": "5"}


def _deep_tree(depth: int) -> dict:
    """An OpenAssistant tree `depth` messages deep, alternating prompter and assistant."""
    node: dict = {
        "role": "assistant" if depth % 2 == 0 else "prompter",
        "text": f"turn {depth}",
        "rank": 0,
        "replies": [],
    }
    for level in range(depth - 1, 0, -1):
        node = {
            "role": "assistant" if level % 2 == 0 else "prompter",
            "text": f"turn {level}",
            "rank": 0,
            "replies": [node],
        }
    return {"prompt": node}


def _deep_tree_text(depth: int) -> str:
    """The same as JSON text, written directly (too deep for json.dumps)."""
    opening = "".join(
        f'{{"role": "{"prompter" if i % 2 else "assistant"}", "text": "t", "replies": [' for i in range(1, depth + 1)
    )
    return '{"prompt": ' + opening + "]}" * depth + "}"


def _corrupt_gz() -> bytes:
    data = gzip.compress((json.dumps(GOOD) + "\n").encode() * 50)
    return data[:10] + b"\x00garbage, not deflate" + data[30:]


def _parquet(columns: dict) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


# (file name, content, format, the message the error starts with)
CASES = [
    (
        "deep.jsonl",
        '{"prompt": ' + "[" * 100_000 + "]" * 100_000 + ', "chosen": "a", "rejected": "b"}\n',
        "trl",
        "deep.jsonl: line 1: bad JSON: nested too deeply to read",
    ),
    (
        "deep_value.jsonl",
        json.dumps(GOOD | {"extra": json.loads("[" * 150 + "]" * 150)}) + "\n",
        "trl",
        "deep_value.jsonl: line 1: field 'extra': nested more than 100 levels deep",
    ),
    (
        "deep_tree.jsonl",
        json.dumps(_deep_tree(80)) + "\n",
        "oasst",
        "deep_tree.jsonl: line 1: field 'prompt': nested more than 100 levels deep",
    ),
    (
        "deep_tree_unreadable.json",
        "[" + _deep_tree_text(40_000) + "]",
        "oasst",
        "deep_tree_unreadable.json: line 1: bad JSON: nested too deeply to read",
    ),
    (
        "long_number.jsonl",
        json.dumps(GOOD)[:-1] + ', "n": ' + "9" * 5000 + "}\n",
        "trl",
        "long_number.jsonl: line 1: bad JSON: Exceeds the limit (4300 digits) for integer string conversion",
    ),
    ("corrupt.jsonl.gz", _corrupt_gz(), "trl", "corrupt.jsonl.gz: not a readable .gz file (corrupt or cut short"),
    (
        "cut_short.jsonl.gz",
        gzip.compress((json.dumps(GOOD) + "\n").encode() * 50)[:-12],
        "trl",
        "cut_short.jsonl.gz: not a readable .gz file (corrupt or cut short",
    ),
    (
        "pandalm.json",
        json.dumps([{"instruction": "Say hi", "input": "", "response1": "hi", "response2": "hello", "annotator1": []}]),
        "pandalm",
        "pandalm.json: row 1: field 'annotator1': must be 0 (tie), 1 (response1 better) or 2 (response2 better), got []",
    ),
    (
        "surrogate.jsonl",
        '{"prompt": "hi \\ud800 there", "chosen": "a", "rejected": "b"}\n',
        "trl",
        "surrogate.jsonl: line 1: field 'prompt': is not valid Unicode: a lone surrogate (\\ud800) at character 4",
    ),
    (
        "nul.jsonl",
        '{"prompt": "hi \\u0000", "chosen": "a", "rejected": "b"}\n',
        "trl",
        "nul.jsonl: line 1: field 'prompt': holds a NUL character (\\u0000) at character 4",
    ),
    (
        "binary_prompt.parquet",
        _parquet({"prompt": [b"\x00\xff"], "chosen": ["a"], "rejected": ["b"]}),
        "trl",
        "binary_prompt.parquet: row 1: field 'prompt': expected prompt, got binary data",
    ),
]
IDS = [case[0] for case in CASES]


def _bytes(content) -> bytes:
    return content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("name, content, fmt, message", CASES, ids=IDS)
def test_the_import_service_names_file_line_and_field_and_writes_nothing(project, write, name, content, fmt, message):
    path = write(name, _bytes(content))
    before = db_counts()
    with pytest.raises(imports.ImportFailed) as failure:
        imports.import_file(project, path, fmt=fmt)
    assert str(failure.value).startswith(message), str(failure.value)
    assert db_counts() == before


@pytest.mark.parametrize("name, content, fmt, message", CASES, ids=IDS)
def test_the_web_upload_previews_then_refuses_with_400_and_writes_nothing(
    client, project, researcher, name, content, fmt, message
):
    client.force_login(researcher)
    before = db_counts()
    preview = client.post(
        reverse("labeling:import", args=[project.slug]),
        {"file": SimpleUploadedFile(name, _bytes(content)), "format": fmt},
    )
    reason = message.rsplit(": ", 1)[-1]
    assert preview.status_code == 200 and html.escape(reason) in preview.content.decode()  # shown before confirm
    page = preview.content.decode()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)

    done = client.post(
        reverse("labeling:import_confirm", args=[project.slug]),
        {"token": token, "file_name": name, "format": fmt, "mapping": ""},
    )

    assert done.status_code == 400 and html.escape(message) in done.content.decode()
    assert db_counts() == before


@pytest.mark.parametrize("name, content, fmt, message", CASES, ids=IDS)
def test_the_api_answers_400_with_the_message_and_writes_nothing(
    client, project, researcher, name, content, fmt, message
):
    _, secret = ApiToken.issue(researcher)
    before = db_counts()
    response = client.post(
        f"/api/projects/{project.slug}/imports",
        {"file": SimpleUploadedFile(name, _bytes(content)), "format": fmt},
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 400 and response.json()["detail"].startswith(message)
    assert db_counts() == before


@pytest.mark.parametrize("name, content, fmt, message", CASES[:6], ids=IDS[:6])
def test_the_cli_exits_with_the_message_and_writes_nothing(project, write, name, content, fmt, message):
    path = write(name, _bytes(content))
    before = db_counts()
    with pytest.raises(CommandError) as failure:
        call_command("import_data", str(path), "--project", project.slug, "--format", fmt, stdout=io.StringIO())
    assert str(failure.value).startswith(message)
    assert db_counts() == before


def test_a_deep_but_reasonable_oasst_tree_imports(project, write):
    result = imports.import_file(project, write("tree.jsonl", json.dumps(_deep_tree(45)) + "\n"), fmt="oasst")
    assert result.items == 0 and result.prompts == 0  # one reply per message: no ranked siblings, nothing to compare


def test_the_preview_shows_binary_and_timestamp_columns_of_a_parquet_file(client, project, researcher):
    content = _parquet(
        {
            "prompt": ["2 + 2 ="],
            "chosen": ["4"],
            "rejected": ["5"],
            "blob": [b"\x00\x01\x02"],
            "at": [datetime(2024, 5, 1, 12, 30)],
        }
    )
    client.force_login(researcher)
    preview = client.post(
        reverse("labeling:import", args=[project.slug]),
        {"file": SimpleUploadedFile("typed.parquet", content), "format": "trl"},
    )
    page = preview.content.decode()
    assert preview.status_code == 200
    assert "&lt;3 bytes of binary data&gt;" in page and "2024-05-01 12:30:00" in page
    assert "1 record in the file" in page
