"""Malformed files: each gets one clear message naming the file, the line or row and the field, and nothing is written."""

import json

import pytest

from labeling.data import imports
from labeling.models import ImportBatch, Judgment
from tests.data.conftest import db_counts

pytestmark = pytest.mark.django_db

GOOD = {"prompt": "What is 2 + 2?", "chosen": "4", "rejected": "5"}
GOOD_TEXT = json.dumps(GOOD) + "\n"


def jsonl(*rows) -> str:
    return "".join(row if isinstance(row, str) else json.dumps(row) + "\n" for row in rows)


# (file name, content, format, mapping, expected message)
BAD_FILES = [
    (
        "bad_json.jsonl",
        jsonl(GOOD, GOOD, '{"prompt": "hi", "chosen": "a",\n'),
        "trl",
        {},
        "bad_json.jsonl: line 3: bad JSON: Expecting property name enclosed in double quotes at column 32",
    ),
    (
        "not_an_object.jsonl",
        jsonl(GOOD, '["hi", "a", "b"]\n'),
        "trl",
        {},
        "not_an_object.jsonl: line 2: expected a JSON object, got a list",
    ),
    (
        "missing_column.jsonl",
        jsonl(GOOD, {"prompt": "hi", "chosen": "a"}),
        "trl",
        {},
        "missing_column.jsonl: line 2: field 'rejected': missing",
    ),
    (
        "empty_response.jsonl",
        jsonl(GOOD, GOOD | {"chosen": "  "}),
        "trl",
        {},
        "empty_response.jsonl: line 2: field 'chosen': empty response",
    ),
    (
        "same_answer.jsonl",
        jsonl(GOOD, GOOD | {"rejected": "4"}),
        "trl",
        {},
        "same_answer.jsonl: line 2: field 'rejected': chosen and rejected are identical",
    ),
    (
        "mixed_forms.jsonl",
        jsonl(GOOD | {"chosen": [{"role": "assistant", "content": "4"}]}),
        "trl",
        {},
        "mixed_forms.jsonl: line 1: field 'chosen': expected text like the prompt, got a list of messages",
    ),
    (
        "bad_role.jsonl",
        jsonl(
            {
                "prompt": [{"role": "user", "content": "hi"}],
                "chosen": [{"role": "bot", "content": "a"}],
                "rejected": [{"role": "assistant", "content": "b"}],
            }
        ),
        "trl",
        {},
        "bad_role.jsonl: line 1: field 'chosen[0].role': must be system, user or assistant, got 'bot'",
    ),
    (
        "label.jsonl",
        jsonl(
            {"prompt": "hi", "completion": "hello", "label": True},
            {"prompt": "hi", "completion": "go away", "label": "yes"},
        ),
        "trl-unpaired",
        {},
        "label.jsonl: line 2: field 'label': must be a boolean (true or false), got 'yes'",
    ),
    (
        "latin1.jsonl",
        GOOD_TEXT.encode() + '{"prompt": "café", "chosen": "a", "rejected": "b"}\n'.encode("latin-1"),
        "trl",
        {},
        "latin1.jsonl: line 2: not UTF-8 text: byte 0xe9 at position 16; save the file as UTF-8",
    ),
    (
        "utf16.csv",
        "prompt,chosen,rejected\nhi,a,b\n".encode("utf-16"),
        "mapped",
        {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"},
        "utf16.csv: line 1: not UTF-8 text (it looks like UTF-16): byte 0xff at position 1; save the file as UTF-8",
    ),
    (
        "big_row.jsonl",
        jsonl(GOOD, GOOD | {"chosen": "x" * 5000}),
        "trl",
        {},
        "big_row.jsonl: line 2: the row is over the limit of 2,048 bytes per row",
    ),
    (
        "big_file.jsonl",
        jsonl(*[GOOD | {"chosen": f"answer {i}"} for i in range(200)]),
        "trl",
        {},
        "big_file.jsonl: the file is 13,890 bytes, over the upload limit of 8,192 bytes",
    ),
    (
        "missing_mapped.csv",
        "question,good,bad\nhi,a,b\n",
        "mapped",
        {"prompt": "question", "chosen": "good", "rejected": "worse"},
        "missing_mapped.csv: line 1: field 'worse' (mapped to rejected) is not a column; the columns are question, good, bad",
    ),
    (
        "winner.csv",
        "q,a,b,w\nhi,yes,no,1\nhi,yes,no,3\n",
        "mapped",
        {"prompt": "q", "response_a": "a", "response_b": "b", "winner": "w"},
        "winner.csv: line 3: field 'w': must be 1/2, a/b or 0/tie (or both_bad), got '3'",
    ),
    (
        "short_row.csv",
        "prompt,completion,label\nhi,hello,true\nhi,hello\n",
        "trl-unpaired",
        {},
        "short_row.csv: line 3: fewer fields than the header's 3 columns",
    ),
    (
        "pandalm.json",
        json.dumps(
            [
                {
                    "instruction": "Say hi",
                    "input": "",
                    "response1": "hi",
                    "response2": "hello",
                    "annotator1": 1,
                    "annotator2": 5,
                }
            ]
        ),
        "pandalm",
        {},
        "pandalm.json: row 1: field 'annotator2': must be 0 (tie), 1 (response1 better) or 2 (response2 better), got 5",
    ),
    (
        "hh.jsonl",
        jsonl({"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "Human: hi Assistant: go away"}),
        "hh",
        {},
        "hh.jsonl: line 1: field 'rejected': expected a transcript of '\\n\\nHuman: ...' and '\\n\\nAssistant: ...' turns",
    ),
    (
        "hh_ends_with_human.jsonl",
        jsonl(
            {"chosen": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: bye", "rejected": "\n\nHuman: hi\n\nAssistant: hey"}
        ),
        "hh",
        {},
        "hh_ends_with_human.jsonl: line 1: field 'chosen': the transcript must end with an Assistant turn",
    ),
    (
        "oasst.jsonl",
        jsonl(
            {
                "prompt": {
                    "role": "prompter",
                    "text": "hi",
                    "replies": [
                        {"role": "assistant", "text": "a", "rank": 0},
                        {"role": "assistant", "text": "b", "rank": "first"},
                    ],
                }
            }
        ),
        "oasst",
        {},
        "oasst.jsonl: line 1: field 'prompt.replies[1].rank': must be a whole number (0 is best), got 'first'",
    ),
    (
        "no_prompt.jsonl",
        jsonl({"question": "What is DNS?"}),
        "prompts",
        {},
        "no_prompt.jsonl: line 1: field 'prompt': missing: expected a 'prompt', 'instruction' or 'turns' field",
    ),
    (
        "not_parquet.parquet",
        b"PAR1 this is not really parquet",
        "trl",
        {},
        "not_parquet.parquet: not a readable Parquet file",
    ),
    ("empty.jsonl", "\n\n", "trl", {}, "empty.jsonl: the file holds no rows"),
    ("notes.txt", "prompt: hi", "trl", {}, "notes.txt: unsupported file type; use .jsonl, .json, .csv or .parquet"),
    (
        "array.json",
        json.dumps({"rows": [GOOD]}),
        "trl",
        {},
        "array.json: expected a JSON array of objects (or use .jsonl), got an object",
    ),
]


@pytest.mark.parametrize("name, content, fmt, mapping, message", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_it_rejects_a_malformed_file_with_a_clear_message_and_writes_nothing(
    project, binary_project, write, settings, name, content, fmt, mapping, message
):
    settings.IMPORT_MAX_ROW_BYTES = 2048
    settings.IMPORT_MAX_FILE_BYTES = 8192
    path = write(name, content)
    target = binary_project if fmt == "trl-unpaired" else project
    before = db_counts()

    with pytest.raises(imports.ImportFailed) as failure:
        imports.import_file(target, path, fmt=fmt, mapping=mapping)

    assert str(failure.value).startswith(message), str(failure.value)
    assert db_counts() == before


def test_there_are_at_least_fifteen_kinds_of_malformed_file():
    assert len(BAD_FILES) >= 15


def test_a_failure_while_writing_rolls_back_the_whole_import(project, write, monkeypatch):
    path = write("good.jsonl", jsonl(GOOD, GOOD | {"prompt": "What is 3 + 3?", "chosen": "6"}))
    before = db_counts()

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Judgment.objects, "bulk_create", broken)
    with pytest.raises(RuntimeError):
        imports.import_file(project, path, fmt="trl")

    assert db_counts() == before
    monkeypatch.undo()
    assert imports.import_file(project, path, fmt="trl").items == 2  # and the file can be imported after


def test_skip_invalid_imports_the_valid_rows_and_reports_each_bad_one(project, write):
    path = write(
        "some_bad.jsonl",
        jsonl(GOOD, GOOD | {"chosen": ""}, {"prompt": "x"}, {"prompt": "2 + 3?", "chosen": "5", "rejected": "6"}),
    )

    result = imports.import_file(project, path, fmt="trl", skip_invalid=True)

    assert (result.items, result.n_skipped) == (2, 2)
    assert result.skipped == [
        {"where": "line 2", "field": "chosen", "reason": "empty response"},
        {"where": "line 3", "field": "chosen", "reason": "missing"},
    ]
    assert ImportBatch.objects.get(project=project).skipped == result.skipped


def test_it_rejects_an_unknown_mapping_target_and_an_incomplete_mapping(project, write):
    path = write("pairs.csv", "q,good,bad\nhi,a,b\n")
    with pytest.raises(imports.ImportFailed, match="unknown target 'question'; targets are prompt, chosen"):
        imports.parse_mapping(["question=q"])
    with pytest.raises(imports.ImportFailed, match="mapping names chosen, prompt: map exactly one of"):
        imports.import_file(project, path, fmt="mapped", mapping={"prompt": "q", "chosen": "good"})
    with pytest.raises(imports.ImportFailed, match="write it as TARGET=COLUMN"):
        imports.parse_mapping(["prompt"])
