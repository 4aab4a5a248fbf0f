"""The mapped import's `category` target (`--map category=scenario`): stored with the prompt, kept by exports;
pairwise `label` as the better response's 0-based index (Auto-J); exports without categories unchanged."""

import json
import re
from collections import Counter

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from labeling.data import exporters, imports
from labeling.data.exporters import ExportSpec
from labeling.models import Item, Judgment, Prompt
from tests.shared_data import shared_file

pytestmark = pytest.mark.django_db

AUTOJ = {
    "prompt": "prompt",
    "response_a": "response 1",
    "response_b": "response 2",
    "label": "label",
    "category": "scenario",
}


def export_rows(project, tmp_path, name="out.jsonl", **spec):
    out = tmp_path / name
    result = exporters.export(project, ExportSpec.for_file(out, **spec), out)
    return result, out


def test_the_autoj_test_set_imports_with_its_scenarios_as_categories_and_its_labels_as_choices(project, tmp_path):
    path = shared_file("autoj_pairwise.jsonl")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    result = imports.import_file(project, path, fmt="mapped", mapping=AUTOJ, skip_invalid=True)

    # a few pairs hold one response twice, one an empty response: those rows are skipped
    kept = [
        r for r in records if r["response 1"] != r["response 2"] and r["response 1"].strip() and r["response 2"].strip()
    ]
    assert result.n_skipped == len(records) - len(kept) > 0
    assert result.items == len(kept)
    categories = Counter(p.metadata["category"] for p in Prompt.objects.filter(project=project))
    assert len(categories) == 58
    # label 0: response 1 better, 1: response 2 better, 2: a tie
    expected = Counter({0: "a", 1: "b", 2: "tie"}[r["label"]] for r in kept)
    assert Counter(Judgment.objects.filter(item__project=project).values_list("choice", flat=True)) == expected
    first = Item.objects.filter(project=project).select_related("prompt", "response_a").order_by("id").first()
    assert first.prompt.metadata == {"category": kept[0]["scenario"]}
    assert first.response_a.text == kept[0]["response 1"]


def test_the_import_command_takes_the_category_mapping(project, write):
    path = write("scen.jsonl", [{"q": "Say hi", "one": "hi", "two": "yo", "l": 1, "scenario": "chitchat"}])

    call_command(
        "import_data",
        str(path),
        project=project.slug,
        format="mapped",
        map=["prompt=q", "response_a=one", "response_b=two", "label=l", "category=scenario"],
    )

    item = Item.objects.get(project=project)
    assert item.prompt.metadata == {"category": "chitchat"}
    assert list(item.judgments.values_list("choice", flat=True)) == ["b"]


def test_preference_and_prompt_exports_end_with_a_category_column_when_prompts_have_one(project, write, tmp_path):
    path = write(
        "pairs.jsonl",
        [
            {"q": "Sum 2+2", "good": "4", "bad": "5", "topic": "math"},
            {"q": "Greet me", "good": "Hello!", "bad": "Go away.", "topic": ""},  # no category
        ],
    )
    imports.import_file(
        project, path, fmt="mapped", mapping={"prompt": "q", "chosen": "good", "rejected": "bad", "category": "topic"}
    )

    _, out = export_rows(project, tmp_path)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [
        {"prompt": "Sum 2+2", "chosen": "4", "rejected": "5", "category": "math"},
        {"prompt": "Greet me", "chosen": "Hello!", "rejected": "Go away.", "category": None},
    ]
    _, out = export_rows(project, tmp_path, name="prompts.parquet", format="prompts")
    assert pq.read_table(out).to_pylist() == [
        {"prompt": "Sum 2+2", "category": "math"},
        {"prompt": "Greet me", "category": None},
    ]
    _, out = export_rows(project, tmp_path, name="raw.jsonl", format="raw")
    assert "category" not in json.loads(out.read_text().splitlines()[0])


def test_a_kept_tie_gives_both_rows_the_prompts_category(project, write, tmp_path):
    path = write("tie.jsonl", [{"q": "Pick", "x": "left", "y": "right", "l": 2, "c": "choice"}])
    imports.import_file(
        project,
        path,
        fmt="mapped",
        mapping={"prompt": "q", "response_a": "x", "response_b": "y", "label": "l", "category": "c"},
    )

    _, out = export_rows(project, tmp_path, ties="keep")

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["chosen"], r["category"]) for r in rows] == [("left", "choice"), ("right", "choice")]


def test_an_export_without_categories_keeps_its_exact_bytes(project, write, tmp_path):
    path = write("plain.jsonl", [{"q": "Sum 2+2", "good": "4", "bad": "5"}])
    imports.import_file(project, path, fmt="mapped", mapping={"prompt": "q", "chosen": "good", "rejected": "bad"})

    result, out = export_rows(project, tmp_path)

    assert out.read_bytes() == b'{"prompt": "Sum 2+2", "chosen": "4", "rejected": "5"}\n'
    assert result.sha256 == export_rows(project, tmp_path, name="again.jsonl")[0].sha256


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"q": "Pick", "x": "l", "y": "r", "l": 3, "c": "a"}, "field 'l': with two responses, the better one's index"),
        (
            {"q": "Pick", "x": "l", "y": "r", "l": 0, "c": ["a"]},
            "field 'c': expected a category name (text), got a list",
        ),
        ({"q": "Pick", "x": "l", "y": "r", "l": 0, "c": "x" * 101}, "field 'c': a category name has at most 100"),
    ],
)
def test_a_bad_label_or_category_names_its_column(project, write, row, message):
    path = write("bad.jsonl", [row])
    mapping = {"prompt": "q", "response_a": "x", "response_b": "y", "label": "l", "category": "c"}

    with pytest.raises(imports.ImportFailed, match=re.escape(message)):
        imports.import_file(project, path, fmt="mapped", mapping=mapping)
    assert not Prompt.objects.exists()


def test_an_export_with_categories_imports_back_with_them_in_the_trl_formats(project, binary_project, write, tmp_path):
    path = write("pairs.jsonl", [{"q": "Sum 2+2", "good": "4", "bad": "5", "topic": "math"},
                                 {"q": "Greet me", "good": "Hello!", "bad": "Go away.", "topic": ""}])  # fmt: skip
    imports.import_file(
        project, path, fmt="mapped", mapping={"prompt": "q", "chosen": "good", "rejected": "bad", "category": "topic"}
    )
    _, pairs = export_rows(project, tmp_path, name="pairs-out.jsonl")
    _, unpaired = export_rows(project, tmp_path, name="unpaired-out.jsonl", format="unpaired", from_pairs=True)
    for prompt in Prompt.objects.filter(project=project):
        prompt.delete()  # the same prompts come back from the files

    imports.import_file(project, pairs, fmt="trl")
    imports.import_file(binary_project, unpaired, fmt="trl-unpaired")

    for target in (project, binary_project):
        assert {p.text: p.metadata.get("category") for p in Prompt.objects.filter(project=target)} == {
            "Sum 2+2": "math",
            "Greet me": None,
        }
    bad = write("bad.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b", "category": ["not", "a", "name"]}])
    with pytest.raises(Exception, match="field 'category': expected a category name"):
        imports.import_file(project, bad, fmt="trl")
