"""Schemathesis against /api/openapi.json: generated requests to every operation, as a researcher with a
valid token, through the real Django application (WSGI, in process, on the test database).

Every response must be a documented status code with a body that matches the documented schema and
content type, and never a server error. Bounded: EXAMPLES generated cases per operation, half of
them on real objects (the researcher's project, snapshot, model, job) and half on generated ids.
"""

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from labeling.data.exporters import ExportSpec
from labeling.data.snapshots import create_snapshot
from training.models import ModelVersion
from webapp.services import issue_token

pytestmark = pytest.mark.django_db

EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def world(make_user, make_project, settings, tmp_path):
    """A researcher (admin of a project with items and a judgment), a snapshot and a model in it."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ALLOWED_HOSTS = ["*"]
    rita, anna = make_user(username="rita"), make_user(username="anna")
    project = make_project(n_items=4, members={rita: "admin", anna: "annotator"})
    snapshot = create_snapshot(project, ExportSpec())
    model = ModelVersion.objects.create(project=project, name="tiny", base="org/tiny")
    _, secret = issue_token(rita)
    real = {"slug": project.slug, "snapshot_id": snapshot.pk, "model_id": model.pk, "username": "anna", "job_id": 1}
    # The app runs in this thread, inside the test's transaction: keep the connection open across
    # requests, as Django's own test client does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield {"headers": {"Authorization": f"Bearer {secret}"}, "real": real}
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _fuzz(operation, world: dict, cases: dict, failures: dict) -> None:
    label = operation.label
    cases[label] = 0

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(), on_real_objects=st.booleans())
    def run(case, on_real_objects):
        cases[label] += 1
        if on_real_objects and case.path_parameters:
            case.path_parameters = {
                name: world["real"].get(name, value) for name, value in case.path_parameters.items()
            }
        response = case.call(headers=world["headers"])
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # record and go on: every operation is tried, nothing is shrunk
            key = (label, f"{response.status_code} {type(exc).__name__}")
            failures.setdefault(
                key, f"{str(exc)[:600]}\n  request: {case.path_parameters} {case.query} {str(case.body)[:200]}"
            )

    run()


def test_every_operation_answers_only_documented_responses_and_never_a_server_error(world):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
    failures: dict[tuple[str, str], str] = {}
    cases: dict[str, int] = {}

    for result in schema.get_all_operations():
        _fuzz(result.ok(), world, cases, failures)

    print(f"schemathesis: {len(cases)} operations, {sum(cases.values())} cases")
    assert len(cases) >= 14 and sum(cases.values()) >= 10 * len(cases)
    assert not failures, "\n\n".join(f"{label}: {kind}\n{detail}" for (label, kind), detail in failures.items())
