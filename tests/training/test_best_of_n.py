"""Best-of-n / rejection sampling as a job: n samples per prompt, ranked by a judge or a reward version, the
best as SFT rows and best-vs-worst as preference rows, in snapshots whose spec names their lineage."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.data.snapshots import snapshot_rows
from labeling.models import DatasetSnapshot, Prompt
from training import best_of_n
from training.models import BestOfNRun, Generation, Job

QUESTIONS = ["Tell me about foxes.", "Tell me about clouds.", "Tell me about ponds."]


def test_the_best_has_the_highest_score_and_the_worst_the_lowest_the_earlier_on_equal_scores():
    assert best_of_n.rank([0.2, 0.9, 0.1, 0.9]) == (1, 2)
    assert best_of_n.rank([0.5, 0.5, 0.5]) == (0, 0)


def test_a_tournament_counts_a_win_as_one_and_a_tie_as_a_half():
    games = best_of_n.round_robin(3)
    assert games == [(0, 1), (0, 2), (1, 2)]
    assert best_of_n.wins(3, games, ["b", "tie", "b"]) == [0.5, 1.0, 1.5]  # 1 beat 0, 0 and 2 tied, 2 beat 1


@pytest.mark.django_db
def test_a_best_of_n_job_is_refused_with_the_field_at_fault(tiny_models, training_project):
    Prompt.objects.create(project=training_project, text="hi")
    policy, reward = tiny_models["policy"], tiny_models["reward"]
    cases = [
        ({"policy": policy, "n": 4}, "^judge: name either a judge"),
        ({"policy": policy, "n": 4, "judge": "rule:length", "reward": reward}, "^judge: name either a judge"),
        ({"policy": policy, "n": 1, "judge": "rule:length"}, "^n: samples per prompt"),
        ({"policy": reward, "n": 4, "judge": "rule:length"}, "^model: tiny-reward is a reward model"),
        ({"policy": policy, "n": 4, "reward": policy}, "^reward: tiny-policy must be a reward version"),
        ({"policy": policy, "n": 4, "judge": "rule:length", "split": "test"}, "^prompts: project .* has no prompts"),
        ({"policy": policy, "n": 4, "judge": "nobody"}, "^judge: no judge named 'nobody'"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            best_of_n.start_best_of_n(**kwargs)
    assert not BestOfNRun.objects.exists()


@pytest.mark.ml
@pytest.mark.django_db(transaction=True)
def test_best_of_n_on_a_real_worker_snapshots_the_best_and_the_worst_of_each_prompt(
    start_worker, tiny_models, tiny_dirs, training_project
):
    from transformers import AutoTokenizer

    from training.ml import rules

    for text in QUESTIONS:
        Prompt.objects.create(project=training_project, text=text, split="train")
    Prompt.objects.create(project=training_project, text="A held-out question.", split="test")
    worker = start_worker()
    out = io.StringIO()

    call_command(
        "best_of_n",
        *("--model", "tiny-policy", "--project", training_project.slug, "--n", "4", "--judge", "rule:vocab-share"),
        *("--split", "train", "--max-new-tokens", "12", "--wait", "--timeout", "300"),
        stdout=out,
    )

    result = json.loads(out.getvalue().strip().splitlines()[-1])
    run = BestOfNRun.objects.select_related("judge").get(pk=result["job"])
    assert result["status"] == "succeeded", run.error + worker.output()
    assert result["prompts"] == len(QUESTIONS)
    assert (run.step, run.total) == (len(QUESTIONS) * 5, len(QUESTIONS) * 5)
    assert Generation.objects.filter(job=run).count() == len(QUESTIONS) * 4  # the train split only, 4 each
    sft = DatasetSnapshot.objects.get(pk=result["sft_snapshot"])
    preference = DatasetSnapshot.objects.get(pk=result["preference_snapshot"])
    for snapshot in (sft, preference):  # lineage: this job (which holds the samples), the policy, the judge
        assert snapshot.spec["origin"] == "best_of_n"
        assert snapshot.spec["job"] == snapshot.spec["generation_job"] == run.pk
        assert snapshot.spec["policy"] == "tiny-policy" and snapshot.spec["n"] == 4
        assert snapshot.spec["judge"] == run.judge.name == "rule-vocab-share"
    sft_rows, preference_rows = snapshot_rows(sft), snapshot_rows(preference)
    assert sft.format == "unpaired" and [r["prompt"] for r in sft_rows] == QUESTIONS
    assert all(r["label"] is True for r in sft_rows)
    samples = {q: set() for q in QUESTIONS}
    for g in Generation.objects.filter(job=run).select_related("prompt", "response"):
        samples[g.prompt.text].add(g.response.text)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs["tiny-policy"])

    def share(text):
        return rules.get("vocab-share")([""], [text], [tokenizer(text, add_special_tokens=False)["input_ids"]])[0]

    for row in sft_rows:
        assert row["completion"] in samples[row["prompt"]]
        assert share(row["completion"]) == max(share(s) for s in samples[row["prompt"]])  # the best of n
    assert preference.format == "preference" and 0 < len(preference_rows) <= len(QUESTIONS)
    best = {r["prompt"]: r["completion"] for r in sft_rows}
    for row in preference_rows:
        assert row["chosen"] == best[row["prompt"]] and row["rejected"] in samples[row["prompt"]]
        assert share(row["chosen"]) >= share(row["rejected"])
        assert share(row["rejected"]) == min(share(s) for s in samples[row["prompt"]])  # the worst of n
    assert Job.objects.get(pk=run.pk).metric_points.filter(name="best_score").exists()


@pytest.mark.ml
@pytest.mark.django_db
def test_the_best_of_n_command_names_a_missing_reward_version(tiny_models, training_project):
    with pytest.raises(CommandError, match="--reward: no model named 'nope'"):
        call_command("best_of_n", "--model", "tiny-policy", "--project", training_project.slug, "--reward", "nope")
