"""Property: whatever a valid file of any format is mutated into, the web upload and confirm give a
clean import or a clear error (400), never a server error, and a refused import writes nothing."""

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labeling.data import formats
from labeling.models import Project
from tests.data.conftest import db_counts

pytestmark = pytest.mark.django_db


def _jsonl(rows: list) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


TREE = {
    "prompt": {
        "role": "prompter",
        "text": "Name a colour.",
        "replies": [
            {"role": "assistant", "text": "Blue.", "rank": 0, "emojis": {"+1": 2}, "replies": []},
            {"role": "assistant", "text": "Seven.", "rank": 1, "emojis": {"-1": 1}, "replies": []},
        ],
    }
}
# format -> (file name, records, how the records are written, mapping, project kind)
VALID = {
    "trl": (
        "p.jsonl",
        [
            {"prompt": "2 + 2 =", "chosen": "4", "rejected": "5"},
            {
                "prompt": [{"role": "user", "content": "hi"}],
                "chosen": [{"role": "assistant", "content": "hello"}],
                "rejected": [{"role": "assistant", "content": "go away"}],
            },
        ],
        "jsonl",
        "",
        "pairwise",
    ),
    "trl-unpaired": ("u.jsonl", [{"prompt": "2 + 2 =", "completion": "4", "label": True}], "jsonl", "", "binary"),
    "hh": (
        "hh.jsonl",
        [{"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go"}],
        "jsonl",
        "",
        "pairwise",
    ),
    "pandalm": (
        "pl.json",
        [
            {
                "instruction": "Say hi",
                "input": "",
                "response1": "hi",
                "response2": "hello",
                "annotator1": 1,
                "annotator2": 0,
                "cmp_key": "a_b",
            }
        ],
        "json",
        "",
        "pairwise",
    ),
    "oasst": ("o.jsonl", [TREE], "jsonl", "", "pairwise"),
    "prompts": (
        "q.jsonl",
        [{"prompt": "What is DNS?", "id": 7}, {"turns": ["Hi?", "And then?"]}],
        "jsonl",
        "",
        "pairwise",
    ),
    "mapped": (
        "m.csv",
        "q,good,bad\nWhy?,Because.,No.\nHow?,Like this.,Dunno.\n",
        "csv",
        "prompt=q\nchosen=good\nrejected=bad",
        "pairwise",
    ),
}
assert set(VALID) == set(formats.names()), "a new format needs a valid file here"

ODD_TEXT = st.sampled_from(["", " ", "\ud800", "\x00", "9" * 5000, "<script>alert(1)</script>", "é", "\n\nHuman:"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | ODD_TEXT,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8) | ODD_TEXT, children, max_size=3)
    ),
    max_leaves=8,
)


def _render(records, how: str) -> bytes:
    if how == "csv":
        return records.encode()
    if how == "json":
        return json.dumps(records).encode("utf-8", "surrogatepass")
    return "".join(json.dumps(r) + "\n" for r in records).encode("utf-8", "surrogatepass")


@st.composite
def mutated(draw, fmt: str) -> bytes:
    _, records, how, _, _ = VALID[fmt]
    if how != "csv" and draw(st.booleans()):  # change the structure: one field's value, or drop it, or add one
        records = json.loads(json.dumps(records))
        record = draw(st.sampled_from(records))
        target = (
            record
            if fmt != "oasst" or draw(st.booleans())
            else draw(st.sampled_from([record["prompt"], *record["prompt"]["replies"]]))
        )
        key = draw(st.sampled_from(sorted(target)))
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "replace":
            target[key] = draw(JSON_VALUES)
        elif action == "drop":
            del target[key]
        else:
            target[draw(st.text(max_size=10))] = draw(JSON_VALUES)
        return _render(records, how)
    data = bytearray(_render(records, how))  # or the bytes: replace, insert, delete, truncate
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        if action == "replace" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


def _check(client, project: Project, fmt: str, content: bytes) -> None:
    name, _, _, mapping, _ = VALID[fmt]
    before = db_counts()
    preview = client.post(
        reverse("labeling:import", args=[project.slug]),
        {"file": SimpleUploadedFile(name, content), "format": fmt, "mapping": mapping},
    )
    assert preview.status_code in (200, 400), preview.status_code
    token = re.search(r'name="token" value="([^"]+)"', preview.content.decode())
    if token is None:
        assert db_counts() == before
        return
    done = client.post(
        reverse("labeling:import_confirm", args=[project.slug]),
        {"token": token.group(1), "file_name": name, "format": fmt, "mapping": mapping},
    )
    assert done.status_code in (200, 400), done.status_code
    if done.status_code == 400:
        assert 'role="alert"' in done.content.decode()  # a message says why
        assert db_counts() == before  # never half-written


@pytest.mark.parametrize("fmt", list(VALID))
def test_a_mutated_file_imports_cleanly_or_is_refused_with_a_message(client, researcher, fmt):
    from labeling.models import Membership

    kind = VALID[fmt][4]
    project = Project.objects.create(name=fmt, slug=f"prop-{fmt}", kind=kind)
    Membership.objects.create(project=project, user=researcher, role=Membership.Role.RESEARCHER)
    client.force_login(researcher)
    _check(client, project, fmt, _render(VALID[fmt][1], VALID[fmt][2]))  # the valid file itself imports
    assert db_counts()["ImportBatch"] == 1

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(content=mutated(fmt))
    def run(content: bytes) -> None:
        _check(client, project, fmt, content)

    run()
