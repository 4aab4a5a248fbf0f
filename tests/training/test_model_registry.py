"""The model registry is per project: who sees a model, what may be registered, nothing overwritten."""

import os

import pytest
from django.urls import reverse

from labeling.models import DatasetSnapshot
from training import services
from training.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(tmp_path, settings):
    """A configured model root holding one model directory."""
    settings.MODEL_ROOTS = [str(tmp_path / "models")]
    (tmp_path / "models" / "m").mkdir(parents=True)
    return tmp_path / "models"


def test_the_same_name_twice_in_a_project_is_an_error_not_an_overwrite(root, make_project):
    project, other = make_project(n_items=0), make_project(n_items=0)
    first = services.register_model(project=project, name="m", base=str(root / "m"))
    with pytest.raises(ValueError, match="already has a model named 'm'"):
        services.register_model(project=project, name="m", base="Qwen/Qwen2.5-0.5B-Instruct")
    first.refresh_from_db()
    assert first.base == str(root / "m")
    assert services.register_model(project=other, name="m", base=str(root / "m")).project == other


@pytest.mark.parametrize("base", ["/etc", "{root}/../..", "{root}/m/../../..", "../etc", "~"])
def test_a_base_outside_the_model_roots_is_refused(root, make_project, base):
    with pytest.raises(ValueError, match="outside the model roots|is not a directory"):
        services.register_model(project=make_project(n_items=0), name="x", base=base.format(root=root))
    assert not ModelVersion.objects.exists()


def test_a_symlink_out_of_the_roots_is_refused(root, make_project, tmp_path):
    (tmp_path / "secret").mkdir()
    os.symlink(tmp_path / "secret", root / "link")
    with pytest.raises(ValueError, match="outside the model roots"):
        services.register_model(project=make_project(n_items=0), name="x", base=str(root / "link"))


def test_a_hub_id_and_a_directory_under_a_root_are_accepted(root, make_project):
    project = make_project(n_items=0)
    assert services.register_model(project=project, name="hub", base="Qwen/Qwen2.5-0.5B-Instruct").base == (
        "Qwen/Qwen2.5-0.5B-Instruct"
    )
    assert services.register_model(project=project, name="local", base=str(root / "m")).base == str(
        (root / "m").resolve()
    )


def test_researchers_see_and_use_only_the_models_of_their_projects(client, root, make_user, make_project):
    researcher = make_user()
    mine = make_project(n_items=0, members={researcher: "researcher"})
    theirs = make_project(n_items=0)
    own = services.register_model(project=mine, name="own-model", base=str(root / "m"))
    foreign = services.register_model(project=theirs, name="foreign-model", base=str(root / "m"))
    client.force_login(researcher)
    listing = client.get(reverse("training:models")).content.decode()
    assert (
        "own-model" in listing
        and "foreign-model" not in listing
        and str(root) not in listing.replace(str((root / "m").resolve()), "")
    )
    assert client.get(reverse("training:model", args=[own.pk])).status_code == 200
    assert client.get(reverse("training:model", args=[foreign.pk])).status_code == 404
    snapshot = DatasetSnapshot.objects.create(
        project=mine, format="preference", file_type="jsonl", spec={}, sha256="0" * 64, rows=10, size_bytes=100
    )
    with pytest.raises(ValueError, match="belongs to another project"):
        services.launch_job(algorithm="sft", base_model=foreign, snapshot=snapshot, overrides={})


def test_the_register_form_offers_only_the_researchers_projects_and_names_a_bad_base(
    client, root, make_user, make_project
):
    researcher = make_user()
    mine = make_project(n_items=0, members={researcher: "researcher"})
    theirs = make_project(n_items=0)
    client.force_login(researcher)
    page = client.get(reverse("training:models")).content.decode()
    assert mine.name in page and theirs.name not in page
    response = client.post(
        reverse("training:models"), {"project": theirs.pk, "name": "x", "base": "org/model", "kind": "policy"}
    )
    assert response.status_code == 200 and not ModelVersion.objects.exists()
    response = client.post(
        reverse("training:models"), {"project": mine.pk, "name": "x", "base": "/etc", "kind": "policy"}
    )
    assert "outside the model roots" in response.content.decode() and not ModelVersion.objects.exists()
