"""Each format reads what its users write: TRL rows in both forms, implicit prompts, mappings over CSV/Parquet."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeling.data import imports
from labeling.models import Item, Judgment, Prompt

pytestmark = pytest.mark.django_db

CONVERSATION = [
    {"role": "user", "content": "Hi!"},
    {"role": "assistant", "content": "Hello, how can I help?"},
    {"role": "user", "content": "Name a prime."},
]


def _pairs(project):
    return [
        (
            item.prompt.text or item.prompt.conversation,
            item.response_a.text,
            item.response_b.text,
            [j.choice for j in item.judgments.all()],
        )
        for item in Item.objects.filter(project=project)
        .select_related("prompt", "response_a", "response_b")
        .order_by("id")
    ]


def test_it_reads_trl_preference_rows_in_standard_and_conversational_form(project, write):
    path = write(
        "prefs.jsonl",
        [
            {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
            {
                "prompt": CONVERSATION,
                "chosen": [{"role": "assistant", "content": "7"}],
                "rejected": [{"role": "assistant", "content": "8"}],
            },
        ],
    )

    result = imports.import_file(project, path, fmt="trl")

    assert result.counts() == {"prompts": 2, "items": 2, "judgments": 2, "skipped": 0}
    assert _pairs(project) == [("The sky is", " blue.", " green.", ["a"]), (CONVERSATION, "7", "8", ["a"])]
    assert Prompt.objects.get(conversation__isnull=False).text == ""


def test_it_finds_the_implicit_prompt_shared_by_chosen_and_rejected(project, write):
    path = write(
        "implicit.jsonl",
        [
            {"chosen": "The sky is blue.", "rejected": "The sky is green."},
            {
                "chosen": CONVERSATION + [{"role": "assistant", "content": "7"}],
                "rejected": CONVERSATION + [{"role": "assistant", "content": "8"}],
            },
        ],
    )

    imports.import_file(project, path, fmt="trl")

    assert _pairs(project) == [("The sky is", " blue.", " green.", ["a"]), (CONVERSATION, "7", "8", ["a"])]


def test_it_reads_trl_unpaired_rows_as_binary_items_from_jsonl_and_csv(binary_project, write):
    imports.import_file(
        binary_project,
        write(
            "kto.jsonl",
            [
                {"prompt": "2 + 2 =", "completion": " 4", "label": True},
                {"prompt": "2 + 2 =", "completion": " 5", "label": False},
            ],
        ),
        fmt="trl-unpaired",
    )
    imports.import_file(
        binary_project, write("kto.csv", "prompt,completion,label\n3 + 3 =, 6,TRUE\n3 + 3 =, 7,0\n"), fmt="trl-unpaired"
    )

    items = Item.objects.filter(project=binary_project).order_by("id")
    assert [(i.prompt.text, i.response_a.text, i.response_b, i.judgments.get().choice) for i in items] == [
        ("2 + 2 =", " 4", None, "up"),
        ("2 + 2 =", " 5", None, "down"),
        ("3 + 3 =", " 6", None, "up"),
        ("3 + 3 =", " 7", None, "down"),
    ]
    assert Prompt.objects.filter(project=binary_project).count() == 2  # one prompt, two completions each


def test_a_mapped_csv_with_a_winner_column_reads_every_way_of_naming_the_winner(project, write):
    path = write(
        "arena.csv",
        "question,model_a_answer,model_b_answer,winner\n"
        "q1,a1,b1,1\nq2,a2,b2,b\nq3,a3,b3,tie\nq4,a4,b4,0\nq5,a5,b5,model_a\nq6,a6,b6,tie (bothbad)\n",
    )
    mapping = imports.parse_mapping(
        "prompt=question, response_a=model_a_answer, response_b=model_b_answer, winner=winner"
    )

    result = imports.import_file(project, path, fmt="mapped", mapping=mapping)

    assert result.items == 6
    assert [choices for *_, choices in _pairs(project)] == [["a"], ["b"], ["tie"], ["tie"], ["a"], ["both_bad"]]


def test_a_mapped_parquet_file_with_completion_and_label_makes_binary_items(binary_project, write, tmp_path):
    path = tmp_path / "feedback.parquet"
    pq.write_table(pa.table({"q": ["hi", "bye"], "answer": ["hello", "go"], "ok": [True, False], "n": [1, 2]}), path)

    result = imports.import_file(
        binary_project, path, fmt="mapped", mapping={"prompt": "q", "completion": "answer", "label": "ok", "id": "n"}
    )

    assert (result.items, result.judgments) == (2, 2)
    assert list(Prompt.objects.filter(project=binary_project).order_by("id").values_list("external_id", "text")) == [
        ("1", "hi"),
        ("2", "bye"),
    ]
    assert list(Judgment.objects.order_by("id").values_list("choice", flat=True)) == ["up", "down"]


def test_a_mapped_json_array_with_chosen_and_rejected_columns_imports(project, write):
    path = write("pairs.json", json.dumps([{"instruction": "Say hi", "good": "Hi!", "bad": "No."}]))

    imports.import_file(
        project, path, fmt="mapped", mapping={"prompt": "instruction", "chosen": "good", "rejected": "bad"}
    )

    assert _pairs(project) == [("Say hi", "Hi!", "No.", ["a"])]


def test_prompts_can_come_from_a_mapped_column_of_a_gzipped_file(project, write):
    path = write(
        "questions.jsonl.gz",
        gzip.compress(b'{"q": "Why is the sky blue?", "key": 7}\n{"q": "What is DNS?", "key": 8}\n'),
    )

    result = imports.import_file(project, path, fmt="prompts", mapping={"prompt": "q", "id": "key"})

    assert result.counts() == {"prompts": 2, "items": 0, "judgments": 0, "skipped": 0}
    assert list(Prompt.objects.order_by("id").values_list("external_id", "text")) == [
        ("7", "Why is the sky blue?"),
        ("8", "What is DNS?"),
    ]


def test_a_prompt_already_in_the_project_is_reused_by_a_later_import(project, write):
    imports.import_file(project, write("prompts.jsonl", [{"prompt": "Name a prime."}]), fmt="prompts")

    result = imports.import_file(
        project,
        write(
            "pairs.jsonl",
            [
                {"prompt": "Name a prime.", "chosen": "7", "rejected": "8"},
                {"prompt": "Name a prime.", "chosen": "2", "rejected": "9"},
            ],
        ),
        fmt="trl",
    )

    assert (result.prompts, result.items) == (0, 2)
    assert Prompt.objects.filter(project=project).count() == 1


def test_the_same_bytes_under_another_file_name_add_nothing(project, write):
    rows = [{"prompt": "Name a prime.", "chosen": "7", "rejected": "8"}]
    first = imports.import_file(project, write("a.jsonl", rows), fmt="trl")
    same_bytes = imports.import_file(project, write("renamed.jsonl", rows), fmt="trl")

    assert first.items == 1
    assert same_bytes.already_imported and same_bytes.batch == first.batch
    assert Judgment.objects.count() == 1
