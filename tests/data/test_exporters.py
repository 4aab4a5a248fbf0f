"""Exports: TRL rows under each policy, ties and both-bad, seeded split by prompt, byte-reproducible files."""

import hashlib
import json
import uuid

import pyarrow.parquet as pq
import pytest
from django.contrib.auth import get_user_model

from labeling.data import exporters
from labeling.data.exporters import ExportSpec
from labeling.models import Item, Judgment, Prompt, Response

pytestmark = pytest.mark.django_db


@pytest.fixture
def raters(db):
    return [get_user_model().objects.create_user(username=f"rater{i}") for i in range(3)]


def make_item(project, prompt, a="A", b="B"):
    if not isinstance(prompt, Prompt):
        is_text = isinstance(prompt, str)
        prompt = Prompt.objects.create(
            project=project, text=prompt if is_text else "", conversation=None if is_text else prompt
        )
    return Item.objects.create(
        project=project,
        prompt=prompt,
        response_a=Response.objects.create(prompt=prompt, text=a),
        response_b=Response.objects.create(prompt=prompt, text=b) if b is not None else None,
    )


def judge(item, user, choice, **fields):
    return Judgment.objects.create(item=item, annotator=user, choice=choice, client_token=uuid.uuid4().hex, **fields)


def rows_of(project, tmp_path, **spec):
    out = tmp_path / f"out-{uuid.uuid4().hex}.jsonl"
    result = exporters.export(project, ExportSpec(**spec), out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert result.rows == len(rows)
    return rows


@pytest.fixture
def votes(project, raters):
    """Four pairs judged by three raters: a clear A, a 2-1 B, a split with a tie, and a unanimous both-bad."""
    r1, r2, r3 = raters
    clear, split_b, with_tie, all_bad = (make_item(project, f"p{i}", f"A{i}", f"B{i}") for i in range(4))
    for user in raters:
        judge(clear, user, "a")
        judge(all_bad, user, "both_bad")
    judge(split_b, r1, "b"), judge(split_b, r2, "b"), judge(split_b, r3, "a")
    judge(with_tie, r1, "a"), judge(with_tie, r2, "tie"), judge(with_tie, r3, "tie")
    make_item(project, "never judged")
    return clear, split_b, with_tie, all_bad


def test_majority_keeps_the_choice_more_than_half_made_and_drops_ties_before_the_vote(project, votes, tmp_path):
    assert rows_of(project, tmp_path, policy="majority") == [
        {"prompt": "p0", "chosen": "A0", "rejected": "B0"},
        {"prompt": "p1", "chosen": "B1", "rejected": "A1"},
        {"prompt": "p2", "chosen": "A2", "rejected": "B2"},  # the two ties were dropped: A is 1 of 1
    ]


def test_unanimous_keeps_only_items_all_raters_agree_on(project, votes, tmp_path):
    assert rows_of(project, tmp_path, policy="unanimous") == [
        {"prompt": "p0", "chosen": "A0", "rejected": "B0"},
        {"prompt": "p2", "chosen": "A2", "rejected": "B2"},
    ]


def test_every_judgment_can_be_its_own_row(project, votes, tmp_path):
    rows = rows_of(project, tmp_path, policy="every")
    assert [(r["prompt"], r["chosen"]) for r in rows] == [
        ("p0", "A0"),
        ("p0", "A0"),
        ("p0", "A0"),
        ("p1", "B1"),
        ("p1", "B1"),
        ("p1", "A1"),
        ("p2", "A2"),
    ]


def test_kept_ties_count_as_votes_and_a_tie_outcome_gives_the_pair_both_ways_round(project, votes, tmp_path):
    rows = rows_of(project, tmp_path, policy="majority", ties="keep", both_bad="keep")
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in rows] == [
        ("p0", "A0", "B0"),
        ("p1", "B1", "A1"),
        ("p2", "A2", "B2"),
        ("p2", "B2", "A2"),  # 2 of 3 said tie
        ("p3", "A3", "B3"),
        ("p3", "B3", "A3"),  # all said both bad
    ]


def test_unpaired_rows_come_from_binary_judgments_and_optionally_from_pairs(project, binary_project, raters, tmp_path):
    good = make_item(binary_project, "hi", "hello", None)
    bad = make_item(binary_project, "hi", "go away", None)
    judge(good, raters[0], "up"), judge(bad, raters[0], "down"), judge(bad, raters[1], "down")
    pair = make_item(project, "2 + 2 =", "4", "5")
    judge(pair, raters[0], "a")
    bad_pair = make_item(project, "3 + 3 =", "7", "8")
    judge(bad_pair, raters[0], "both_bad")

    assert rows_of(binary_project, tmp_path, format="unpaired") == [
        {"prompt": "hi", "completion": "hello", "label": True},
        {"prompt": "hi", "completion": "go away", "label": False},
    ]
    assert rows_of(project, tmp_path, format="unpaired") == []
    assert rows_of(project, tmp_path, format="unpaired", from_pairs=True, both_bad="keep") == [
        {"prompt": "2 + 2 =", "completion": "4", "label": True},
        {"prompt": "2 + 2 =", "completion": "5", "label": False},
        {"prompt": "3 + 3 =", "completion": "7", "label": False},
        {"prompt": "3 + 3 =", "completion": "8", "label": False},
    ]


def test_the_conversational_form_gives_message_lists_and_auto_picks_it_for_conversations(project, raters, tmp_path):
    conversation = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Name a prime"},
    ]
    judge(make_item(project, conversation, "7", "8"), raters[0], "b")
    judge(make_item(project, "2 + 2 =", "4", "5"), raters[0], "a")

    rows = rows_of(project, tmp_path)  # form=auto
    assert rows == [
        {
            "prompt": conversation,
            "chosen": [{"role": "assistant", "content": "8"}],
            "rejected": [{"role": "assistant", "content": "7"}],
        },
        {
            "prompt": [{"role": "user", "content": "2 + 2 ="}],
            "chosen": [{"role": "assistant", "content": "4"}],
            "rejected": [{"role": "assistant", "content": "5"}],
        },
    ]
    with pytest.raises(exporters.ExportError, match="is a conversation of 3 turns: export it in conversational form"):
        rows_of(project, tmp_path, form="standard")
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))


def test_the_split_is_by_prompt_seeded_and_disjoint(project, raters, tmp_path):
    for i in range(40):
        prompt = Prompt.objects.create(project=project, text=f"prompt {i}")
        for j in range(2):  # two items per prompt: both must land on the same side
            judge(make_item(project, prompt, f"a{i}.{j}", f"b{i}.{j}"), raters[0], "a")

    train = rows_of(project, tmp_path, split="train", test_size=0.25, seed=7)
    test = rows_of(project, tmp_path, split="test", test_size=0.25, seed=7)
    train_prompts, test_prompts = {r["prompt"] for r in train}, {r["prompt"] for r in test}

    assert len(train) + len(test) == 80 and not train_prompts & test_prompts
    assert 0 < len(test_prompts) < 20
    assert rows_of(project, tmp_path, split="test", test_size=0.25, seed=7) == test  # same seed, same split
    assert {r["prompt"] for r in rows_of(project, tmp_path, split="test", test_size=0.25, seed=8)} != test_prompts


def test_without_a_test_size_the_split_follows_each_prompts_stored_split(project, raters, tmp_path):
    judge(make_item(project, "kept for training"), raters[0], "a")
    held_out = make_item(project, "held out")
    Prompt.objects.filter(pk=held_out.prompt_id).update(split="test")
    judge(held_out, raters[0], "a")

    assert [r["prompt"] for r in rows_of(project, tmp_path, split="test")] == ["held out"]
    assert [r["prompt"] for r in rows_of(project, tmp_path, format="prompts", split="train")] == ["kept for training"]


def test_the_same_spec_gives_the_same_bytes_and_a_new_judgment_changes_them(project, votes, raters, tmp_path):
    for file_type in ("jsonl", "parquet"):
        spec = ExportSpec(file_type=file_type, policy="majority")
        first = exporters.export(project, spec, tmp_path / f"one.{file_type}")
        second = exporters.export(project, spec, tmp_path / f"two.{file_type}")
        assert first.sha256 == second.sha256 == hashlib.sha256((tmp_path / f"two.{file_type}").read_bytes()).hexdigest()
        assert (tmp_path / f"one.{file_type}").read_bytes() == (tmp_path / f"two.{file_type}").read_bytes()

    before = exporters.export(project, ExportSpec(), tmp_path / "before.jsonl")
    judge(Item.objects.get(prompt__text="never judged"), raters[0], "b")
    after = exporters.export(project, ExportSpec(), tmp_path / "after.jsonl")
    assert after.rows == before.rows + 1 and after.sha256 != before.sha256


def test_parquet_holds_the_same_rows_as_jsonl(project, raters, tmp_path):
    conversation = [{"role": "user", "content": "Hi ☃"}]
    judge(make_item(project, conversation, "7", "8"), raters[0], "a")
    judge(make_item(project, "2 + 2 =", "4", "5"), raters[0], "b")
    for form in ("standard", "conversational"):
        jsonl = rows_of(project, tmp_path, form=form)
        exporters.export(project, ExportSpec(file_type="parquet", form=form), tmp_path / "out.parquet")
        assert pq.read_table(tmp_path / "out.parquet").to_pylist() == jsonl


def test_the_prompts_format_lists_every_prompt_once(project, raters, tmp_path):
    make_item(project, "judged"), make_item(project, "not judged yet")
    Prompt.objects.create(project=project, text="no responses yet")
    assert rows_of(project, tmp_path, format="prompts") == [
        {"prompt": "judged"},
        {"prompt": "not judged yet"},
        {"prompt": "no responses yet"},
    ]


def test_raw_judgments_carry_a_pseudonymous_annotator_and_every_field(project, votes, raters, tmp_path):
    Judgment.objects.filter(annotator=raters[0], item=votes[0]).update(
        strength=3, rationale="clearly", ms_taken=1200, left="b"
    )
    Judgment.objects.create(item=votes[0], choice="a", source="import:old.jsonl", client_token="imported-1")

    rows = rows_of(project, tmp_path, format="raw")

    assert len(rows) == Judgment.objects.count() == 13
    first = rows[0]
    assert list(first) == [
        "item_id",
        "prompt_id",
        "annotator",
        "choice",
        "strength",
        "rationale",
        "left",
        "ms_taken",
        "source",
        "created_at",
    ]
    assert (
        first["choice"],
        first["strength"],
        first["rationale"],
        first["left"],
        first["ms_taken"],
        first["source"],
    ) == ("a", 3, "clearly", "b", 1200, "human")
    names = {r["annotator"] for r in rows}
    assert len(names) == 4  # three raters and the imported file
    assert all(len(n) == 16 for n in names)
    text = (tmp_path / next(p.name for p in tmp_path.glob("out-*.jsonl"))).read_text()
    for user in raters:
        assert user.username not in text and f'"annotator": "{user.pk}"' not in text
    assert {r["choice"] for r in rows} == {"a", "b", "tie", "both_bad"}  # raw keeps every answer


def test_only_human_or_only_imported_judgments_can_be_exported(project, raters, tmp_path):
    item = make_item(project, "p")
    judge(item, raters[0], "a")
    Judgment.objects.create(item=item, choice="b", source="import:labels.jsonl", client_token="imported-1")

    assert rows_of(project, tmp_path, source="human", policy="every")[0]["chosen"] == "A"
    assert rows_of(project, tmp_path, source="imported", policy="every")[0]["chosen"] == "B"
    assert rows_of(project, tmp_path, source="all", policy="majority") == []  # 1 against 1: no majority


def test_an_ai_judges_judgments_are_not_human_and_can_be_exported_alone(project, raters, tmp_path):
    """A judge answers as an (inactive) user of its own, with source judge:NAME: "human" leaves it out."""
    item = make_item(project, "p")
    judge(item, raters[0], "a")
    robot = get_user_model().objects.create_user(username="judge:p:rule-len", is_active=False)
    judge(item, robot, "b", source="judge:rule-len")

    assert [r["chosen"] for r in rows_of(project, tmp_path, source="human", policy="every")] == ["A"]
    assert [r["chosen"] for r in rows_of(project, tmp_path, source="judges", policy="every")] == ["B"]
    assert len(rows_of(project, tmp_path, source="all", policy="every")) == 2


@pytest.mark.parametrize(
    "options, message",
    [
        ({"policy": "mean"}, "policy must be one of majority, unanimous, every; got 'mean'"),
        ({"test_size": 1.5, "split": "test"}, "test_size must be a fraction between 0 and 1"),
        ({"test_size": 0.2}, "test_size needs split train or test"),
        ({"file_type": "csv"}, "file_type must be one of jsonl, parquet"),
    ],
)
def test_it_rejects_an_impossible_spec(options, message):
    with pytest.raises(exporters.ExportError, match=message):
        ExportSpec(**options)
