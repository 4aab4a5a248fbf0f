"""The launch form and the model page read the algorithm table: right snapshots, right base models, readable numbers."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import DatasetSnapshot
from training import algorithms, services
from training.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def researcher(make_user):
    return make_user()


@pytest.fixture
def project(make_project, researcher):
    project = make_project(n_items=0, members={researcher: "researcher"})
    project.name = "Marker task"
    project.save(update_fields=["name"])
    return project


def snapshot(project, fmt="preference", rows=10, age_days=0, **spec):
    snap = DatasetSnapshot.objects.create(
        project=project,
        format=fmt,
        file_type="jsonl",
        spec={"format": fmt, **spec},
        sha256=f"{DatasetSnapshot.objects.count():064d}",
        rows=rows,
        size_bytes=100,
    )
    DatasetSnapshot.objects.filter(pk=snap.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    snap.refresh_from_db()
    return snap


def model(project, name, kind="policy", age_days=0, **fields):
    version = ModelVersion.objects.create(project=project, name=name, base=f"org/{name}", kind=kind, **fields)
    ModelVersion.objects.filter(pk=version.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return version


def options(page: str, select: str) -> list[tuple[str, str, bool]]:
    """(value, label, selected) of each option of the <select name=...> on the page."""
    body = re.search(rf'<select name="{select}"[^>]*>(.*?)</select>', page, re.S).group(1)
    return [
        (value, label.strip(), "selected" in attrs)
        for value, attrs, label in re.findall(r'<option value="([^"]*)"([^>]*)>([^<]*)</option>', body)
        if value
    ]


def launch_page(client, researcher, algorithm: str) -> str:
    client.force_login(researcher)
    response = client.get(reverse("training:job_new") + f"?algorithm={algorithm}")
    assert response.status_code == 200
    return response.content.decode()


def test_snapshots_show_project_format_split_rows_and_date_newest_first(client, researcher, project):
    old = snapshot(project, rows=999, age_days=3)
    new = snapshot(project, rows=123, split="train", test_size=0.1, seed=0)
    unpaired = snapshot(project, fmt="unpaired", rows=40)
    listed = options(launch_page(client, researcher, "dpo"), "snapshot")
    assert [value for value, _, _ in listed] == [str(new.pk), str(old.pk)]  # newest first; DPO cannot use unpaired
    label = listed[0][1]
    for part in [
        "Marker task",
        "preference",
        "train side of a 0.1 test split",
        "123 rows",
        timezone.localtime(new.created_at).strftime("%Y-%m-%d"),
    ]:
        assert part in label, (part, label)
    assert "all" in listed[1][1] and "999 rows" in listed[1][1]
    assert listed[0][2]  # the newest is preselected
    assert [value for value, _, _ in options(launch_page(client, researcher, "kto"), "snapshot")] == [str(unpaired.pk)]


def test_the_base_model_list_offers_only_the_kinds_the_algorithm_starts_from(client, researcher, project):
    older_policy = model(project, "older-policy", age_days=2)
    policy = model(project, "newest-policy", age_days=1)
    reward = model(project, "reward-model", kind="reward")
    dpo = options(launch_page(client, researcher, "dpo"), "base_model")
    assert [value for value, _, _ in dpo] == [str(policy.pk), str(older_policy.pk)]  # no reward model for DPO
    assert dpo[0][2] and "newest-policy" in dpo[0][1]  # the newest policy is the default
    rm = options(launch_page(client, researcher, "reward"), "base_model")
    assert {value for value, _, _ in rm} == {str(policy.pk), str(older_policy.pk), str(reward.pk)}
    assert [label for _, label, selected in rm if selected] == [dpo[0][1]]  # a reward model starts from a policy


def test_switching_the_algorithm_swaps_the_lists(client, researcher, project):
    model(project, "policy")
    reward = model(project, "reward-model", kind="reward")
    client.force_login(researcher)
    partial = client.get(reverse("training:job_new") + "?algorithm=sft", HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<div id="launch-fields"') and "reward-model" not in partial
    assert 'name="cfg_packing"' not in partial and 'name="cfg_beta"' not in partial  # SFT has no beta
    partial = client.get(reverse("training:job_new") + "?algorithm=reward", HTTP_HX_REQUEST="true").content.decode()
    assert f'value="{reward.pk}"' in partial


def test_a_page_without_a_model_of_the_right_kind_says_so(client, researcher, project):
    model(project, "reward-model", kind="reward")
    page = launch_page(client, researcher, "dpo")
    assert "No policy model in your projects yet" in page and "No preference snapshot yet" in page


def test_an_unknown_algorithm_is_an_error_not_a_fallback_to_dpo(client, researcher, project):
    client.force_login(researcher)
    response = client.get(reverse("training:job_new") + "?algorithm=<b>ppo</b>")
    text = response.content.decode()
    assert response.status_code == 400 and "algorithm: must be one of reward, sft, dpo, kto, orpo" in text
    assert "<b>" not in text and "&lt;b&gt;" in text


def test_a_reward_model_is_refused_as_the_base_of_a_dpo_job(project):
    reward = model(project, "reward-model", kind="reward")
    with pytest.raises(algorithms.ConfigError, match="base_model: DPO starts from a policy model, not a reward model"):
        services.launch_job(algorithm="dpo", base_model=reward, snapshot=snapshot(project), overrides={})


def test_numbers_on_the_form_are_formatted(client, researcher, project):
    page = launch_page(client, researcher, "dpo")
    assert 'name="cfg_num_train_epochs" value="3"' in page  # not 3.0
    assert 'name="cfg_learning_rate" value="1e-06"' in page
    assert "(default 8; ≥ 1, ≤ 4096)" in page  # the batch size's bounds, from the table


def test_the_model_page_formats_its_evaluation(client, researcher, project):
    version = model(
        project,
        "rm",
        kind="reward",
        evaluation={"pairwise_accuracy": 0.7235772357723578, "test_pairs": 123.0, "train": {"loss": 0.5}},
    )
    client.force_login(researcher)
    page = client.get(reverse("training:model", args=[version.pk])).content.decode()
    assert re.search(r'data-testid="eval-pairwise_accuracy">0\.724<', page)
    assert re.search(r'data-testid="eval-test_pairs">123<', page)
    assert "0.7235772" not in page and "123.0" not in page


def test_a_model_without_held_out_rows_says_why_and_how_to_get_them(client, researcher, project):
    base = model(project, "base")
    client.force_login(researcher)
    page = client.get(reverse("training:model", args=[base.pk])).content.decode()
    assert "Not evaluated: this model was registered" in page
    job = services.launch_job(algorithm="sft", base_model=base, snapshot=snapshot(project), overrides={})
    trained = model(
        project, "sft-out", produced_by=job, evaluation={"train": {"loss": 1.0}}
    )  # as a finished job leaves it
    page = client.get(reverse("training:model", args=[trained.pk])).content.decode()
    assert "without a held-out split" in page and "split = train" in page and "test size" in page
