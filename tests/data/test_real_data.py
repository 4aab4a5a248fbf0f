"""Each public data set in ../shared/data/ imports with its importer; expected counts come from the raw files."""

import itertools
import json
from collections import Counter

import pytest

from labeling.data import imports
from labeling.models import Item, Judgment, Project, Prompt, Response
from tests.data.conftest import data_file, db_counts, read_jsonl

pytestmark = pytest.mark.django_db

HH = "hh_rlhf_helpful_base_test.jsonl.gz"
MARK = "\n\nAssistant:"


def _hh_bad_lines(rows: list[dict]) -> list[int]:
    """Rows that cannot be a pair: identical transcripts, or conversations that differ before the last turn."""
    bad = []
    for n, row in enumerate(rows, 1):
        chosen, rejected = row["chosen"], row["rejected"]
        if chosen == rejected or chosen[: chosen.rfind(MARK)] != rejected[: rejected.rfind(MARK)]:
            bad.append(n)
    return bad


def test_hh_without_skip_invalid_fails_at_the_first_bad_line_and_writes_nothing(project):
    bad = _hh_bad_lines(read_jsonl(HH))
    before = db_counts()
    with pytest.raises(imports.ImportFailed) as failure:
        imports.import_file(project, data_file(HH), fmt="hh")
    assert str(failure.value).startswith(f"{HH}: line {bad[0]}: field 'rejected': ")
    assert db_counts() == before


def test_hh_helpful_base_imports_every_valid_pair_and_reports_each_skipped_line(project):
    rows = read_jsonl(HH)
    bad = _hh_bad_lines(rows)
    assert len(rows) == 2354 and bad  # the file has both kinds of bad rows

    result = imports.import_file(project, data_file(HH), fmt="hh", skip_invalid=True)

    assert result.items + result.n_skipped == len(rows)
    assert [s["where"] for s in result.skipped] == [f"line {n}" for n in bad]
    identical = {n for n in bad if rows[n - 1]["chosen"] == rows[n - 1]["rejected"]}
    for skipped in result.skipped:
        n = int(skipped["where"].split()[1])
        expected = "identical" if n in identical else "differs from chosen before the last Assistant turn"
        assert expected in skipped["reason"]
    assert Item.objects.filter(project=project).count() == len(rows) - len(bad)
    assert result.judgments == result.items  # one label per pair: chosen is response A

    # the shared turns became a conversation ending with the human's turn; the last turns the responses
    first = rows[0]
    item = Item.objects.select_related("prompt", "response_a", "response_b").order_by("id").first()
    assert item.prompt.text == "" and item.prompt.conversation[-1]["role"] == "user"
    assert first["chosen"].startswith("\n\nHuman: " + item.prompt.conversation[0]["content"])
    assert first["chosen"].endswith(item.response_a.text) and first["rejected"].endswith(item.response_b.text)
    label = Judgment.objects.get(item=item)
    assert (label.choice, label.annotator, label.source) == ("a", None, f"import:{HH}")
    assert item.judgment_count == 0  # imported labels stay apart from the live human count

    # the same file again adds nothing
    before = db_counts()
    again = imports.import_file(project, data_file(HH), fmt="hh", skip_invalid=True)
    assert again.already_imported and again.counts() == {"prompts": 0, "items": 0, "judgments": 0, "skipped": 0}
    assert db_counts() == before


def test_pandalm_gives_999_items_with_three_judgments_each_ties_kept(project):
    path = data_file("pandalm_testset_v1.json")
    rows = json.loads(path.read_text())
    expected_choices = Counter({0: "tie", 1: "a", 2: "b"}[r[f"annotator{k}"]] for r in rows for k in (1, 2, 3))

    result = imports.import_file(project, path, fmt="pandalm")

    assert (result.items, result.judgments) == (999, 3 * 999)
    assert result.prompts == len({(r["instruction"].strip(), r["input"].strip()) for r in rows})
    judgments = Judgment.objects.filter(item__project=project)
    assert Counter(judgments.values_list("choice", flat=True)) == expected_choices
    assert expected_choices["tie"] > 0
    assert set(Counter(judgments.values_list("item_id", flat=True)).values()) == {3}
    assert set(judgments.values_list("source", flat=True)) == {
        f"import:pandalm_testset_v1.json#annotator{k}" for k in (1, 2, 3)
    }
    # one row, followed through: the annotators' labels on its item, in column order
    row = rows[0]
    item = Item.objects.filter(project=project).order_by("id").first()
    assert (item.prompt.text, item.response_a.text, item.response_b.text) == (
        f"{row['instruction']}\n\n{row['input']}",
        row["response1"],
        row["response2"],
    )
    labels = dict(item.judgments.values_list("source", "choice"))
    assert [labels[f"import:pandalm_testset_v1.json#annotator{k}"] for k in (1, 2, 3)] == [
        {0: "tie", 1: "a", 2: "b"}[row[f"annotator{k}"]] for k in (1, 2, 3)
    ]
    # the models named in cmp_key are the responses' sources
    a_model, b_model = row["cmp_key"].split("_")
    assert (item.response_a.source, item.response_b.source) == (f"model:{a_model}", f"model:{b_model}")


def _oasst_expected(trees: list[dict]) -> tuple[int, int, int, int]:
    """(ranked pairs, voted assistant messages, +1 votes, -1 votes), walking the trees independently."""
    pairs = voted = up = down = 0
    stack = [t["prompt"] for t in trees]
    while stack:
        message = stack.pop()
        replies = [r for r in message.get("replies", []) if not r.get("deleted")]
        ranks = [r["rank"] for r in replies if r.get("rank") is not None and r["role"] == "assistant"]
        pairs += sum(1 for x, y in itertools.combinations(ranks, 2) if x != y)
        if message["role"] == "assistant":
            emojis = message.get("emojis", {})
            if emojis.get("+1", 0) or emojis.get("-1", 0):
                voted += 1
                up += emojis.get("+1", 0)
                down += emojis.get("-1", 0)
        stack.extend(replies)
    return pairs, voted, up, down


def test_oasst_ranked_siblings_become_pairs_with_the_better_one_chosen(project):
    trees = read_jsonl("oasst_en_100_tree.jsonl")
    pairs, _, _, _ = _oasst_expected(trees)

    result = imports.import_file(project, data_file("oasst_en_100_tree.jsonl"), fmt="oasst")

    assert (result.items, result.judgments) == (pairs, pairs)
    assert set(Judgment.objects.filter(item__project=project).values_list("choice", flat=True)) == {"a"}
    # the first tree: three replies ranked 0, 1, 2 -> three pairs, the better-ranked reply as A
    replies = sorted(trees[0]["prompt"]["replies"], key=lambda r: r["rank"])
    texts = [r["text"] for r in replies]
    found = set(
        Item.objects.filter(prompt__conversation=[{"role": "user", "content": trees[0]["prompt"]["text"]}]).values_list(
            "response_a__text", "response_b__text"
        )
    )
    assert found == {(texts[0], texts[1]), (texts[0], texts[2]), (texts[1], texts[2])}
    assert all(p.conversation[-1]["role"] == "user" for p in Prompt.objects.filter(project=project))


def test_oasst_emoji_votes_become_binary_judgments(binary_project):
    trees = read_jsonl("oasst_en_100_tree.jsonl")
    _, voted, up, down = _oasst_expected(trees)

    result = imports.import_file(binary_project, data_file("oasst_en_100_tree.jsonl"), fmt="oasst")

    assert (result.items, result.judgments) == (voted, up + down)
    assert Item.objects.filter(project=binary_project, response_b__isnull=False).count() == 0
    choices = Counter(Judgment.objects.filter(item__project=binary_project).values_list("choice", flat=True))
    assert choices == Counter({"up": up, "down": down})


@pytest.mark.parametrize(
    "name, expected",
    [
        ("self_instruct_user_oriented.jsonl", lambda r: f"{r['instruction']}\n\n{r['instances'][0]['input']}".strip()),
        ("mt_bench_questions.jsonl", lambda r: r["turns"][0]),
        ("arena_hard_v0.1_questions.jsonl", lambda r: r["prompt"]),
    ],
)
def test_prompt_sets_import_one_prompt_per_row(project, name, expected):
    rows = read_jsonl(name)

    result = imports.import_file(project, data_file(name), fmt="prompts")

    assert (result.prompts, result.items, result.judgments) == (len(rows), 0, 0)
    stored = dict(Prompt.objects.filter(project=project).values_list("external_id", "text"))
    ids = [str(r.get("id", r.get("uid", r.get("question_id")))) for r in rows]
    assert sorted(stored) == sorted(ids)
    assert [stored[i] for i in ids] == [expected(r) for r in rows]
    assert Response.objects.filter(prompt__project=project).count() == 0


def test_the_binary_project_kind_is_checked_before_anything_is_read(binary_project):
    before = db_counts()
    with pytest.raises(
        imports.ImportFailed, match="the hh format makes pairwise items, but project 'thumbs' is binary"
    ):
        imports.import_file(binary_project, data_file(HH), fmt="hh")
    assert db_counts() == before
    assert Project.objects.get(slug="thumbs").kind == "binary"
