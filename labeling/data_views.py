"""Researcher pages for data in and out: upload -> preview -> confirm; export and snapshots.

Thin: every view fetches the project through `get_project_for_user(..., research=True)` (404 for
non-members, 403 for annotators), parses a form, calls one service, renders.
"""

import json
import os
import tempfile

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from labeling import exporters, importers
from labeling.selectors import get_project_for_user


class UploadForm(forms.Form):
    file = forms.FileField(help_text=".jsonl, .json, .csv or .parquet (.gz for the text ones)")
    format = forms.ChoiceField(choices=[(f, f) for f in importers.FORMATS])
    mapping = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="mapped and prompts formats: one TARGET=COLUMN per line, e.g. prompt=question",
    )
    skip_invalid = forms.BooleanField(required=False, label="Skip invalid rows (and list them)")


class StagedForm(forms.Form):
    """The preview's form: the stored upload, with format and mapping still editable."""

    token = forms.CharField(widget=forms.HiddenInput, max_length=80)
    file_name = forms.CharField(widget=forms.HiddenInput, max_length=255)
    format = forms.ChoiceField(choices=[(f, f) for f in importers.FORMATS])
    mapping = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    skip_invalid = forms.BooleanField(required=False, label="Skip invalid rows (and list them)")


def _choices(values):
    return [(v, v) for v in values]


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=_choices(exporters.FORMATS))
    file_type = forms.ChoiceField(choices=_choices(exporters.FILE_TYPES), label="File")
    policy = forms.ChoiceField(choices=_choices(exporters.POLICIES), help_text="for items with several judgments")
    ties = forms.ChoiceField(choices=_choices(exporters.KEEP_OR_DROP))
    both_bad = forms.ChoiceField(choices=_choices(exporters.KEEP_OR_DROP), label="Both bad")
    form = forms.ChoiceField(choices=_choices(exporters.FORMS), label="Form")
    split = forms.ChoiceField(choices=_choices(exporters.SPLITS))
    test_size = forms.FloatField(required=False, min_value=0.0, max_value=1.0,
                                 help_text="split by a seeded hash of each prompt (blank: each prompt's stored split)")
    seed = forms.IntegerField(initial=0, required=False)
    from_pairs = forms.BooleanField(required=False, label="Unpaired: also rows from pairs")
    source = forms.ChoiceField(choices=_choices(exporters.SOURCES), label="Judgments")
    snapshot = forms.BooleanField(required=False, label="Freeze as a snapshot")

    def spec(self) -> exporters.ExportSpec:
        data = dict(self.cleaned_data)
        data.pop("snapshot")
        data["seed"] = data["seed"] or 0
        return exporters.ExportSpec(**data)


def _cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + "…"


def _preview_context(project, staged: StagedForm, token: str, file_name: str) -> dict:
    data = staged.cleaned_data
    context = {"project": project, "form": staged, "file_name": file_name}
    try:
        mapping = importers.parse_mapping(data["mapping"])
        preview = importers.preview_file(importers.staged_path(token), fmt=data["format"], kind=project.kind,
                                         file_name=file_name, mapping=mapping)
    except importers.ImportFailed as exc:
        context["error"] = str(exc)
        return context
    context.update(
        mapping=mapping,
        columns=preview.columns,
        records=[(where, [_cell(record.get(c, "")) for c in preview.columns]) for where, record in preview.records],
        rows=[{"where": row.where, "prompt": _cell(row.prompt), "responses": [_cell(r) for r in row.responses],
               "labels": ", ".join(choice for _, choice in row.labels)} for row in preview.rows[:10]],
        skipped=preview.skipped,
        error=preview.error,
    )
    return context


def _render_preview(request, context):
    template = "labeling/data/partials/preview.html" if request.htmx else "labeling/data/import.html"
    return render(request, template, context)


@login_required
def import_data(request, slug):
    """GET: the upload form. POST a file: store it and preview it. POST a stored upload: preview it again."""
    project = get_project_for_user(request.user, slug, research=True)
    if request.method == "POST" and "token" in request.POST:
        staged = StagedForm(request.POST)
        if staged.is_valid():
            token = staged.cleaned_data["token"]
            file_name = importers.staged_name(token, staged.cleaned_data["file_name"])
            return _render_preview(request, _preview_context(project, staged, token, file_name))
        return _render_preview(request, {"project": project, "form": staged, "error": "Upload the file again."})
    upload = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and upload.is_valid():
        data = upload.cleaned_data
        try:
            token = importers.stage_upload(data["file"])
        except importers.ImportFailed as exc:
            return render(request, "labeling/data/import.html", {"project": project, "upload": upload, "error": str(exc)}, status=400)
        file_name = importers.staged_name(token, data["file"].name)
        staged = StagedForm({"token": token, "file_name": file_name, "format": data["format"],
                             "mapping": data["mapping"], "skip_invalid": data["skip_invalid"]})
        staged.is_valid()
        return _render_preview(request, _preview_context(project, staged, token, file_name))
    return render(request, "labeling/data/import.html", {"project": project, "upload": upload},
                  status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def import_confirm(request, slug):
    project = get_project_for_user(request.user, slug, research=True)
    staged = StagedForm(request.POST)
    if not staged.is_valid():
        return render(request, "labeling/data/import.html", {"project": project, "upload": UploadForm(),
                                                             "error": "Upload the file again."}, status=400)
    data = staged.cleaned_data
    token = data["token"]
    file_name = importers.staged_name(token, data["file_name"])
    try:
        result = importers.import_file(
            project, importers.staged_path(token), fmt=data["format"], file_name=file_name,
            mapping=importers.parse_mapping(data["mapping"]), skip_invalid=data["skip_invalid"], user=request.user,
        )
    except importers.ImportFailed as exc:
        context = _preview_context(project, staged, token, file_name)
        context["error"] = str(exc)
        return render(request, "labeling/data/import.html", context, status=400)
    importers.discard_staged(token)
    return render(request, "labeling/data/import_done.html",
                  {"project": project, "result": result, "file_name": file_name})


@login_required
def export_data(request, slug):
    """GET: the export form. POST: download the export, or freeze it as a snapshot."""
    project = get_project_for_user(request.user, slug, research=True)
    form = ExportForm(request.POST or None, initial={"seed": 0})
    if request.method != "POST" or not form.is_valid():
        return render(request, "labeling/data/export.html", {"project": project, "form": form},
                      status=400 if request.method == "POST" else 200)
    try:
        spec = form.spec()
        if form.cleaned_data["snapshot"]:
            from training.services import create_snapshot  # snapshots live in the training domain

            create_snapshot(project, spec, user=request.user)
            return redirect("labeling:snapshots", project.slug)
        return export_download(project, spec)
    except exporters.ExportError as exc:
        return render(request, "labeling/data/export.html", {"project": project, "form": form, "error": str(exc)}, status=400)


def export_download(project, spec) -> FileResponse:
    """An export streamed back as a file download; headers X-Rows and X-Sha256 describe it (also used by the API)."""
    fd, name = tempfile.mkstemp(suffix=f".{spec.file_type}")
    os.close(fd)
    try:
        result = exporters.export(project, spec, name)
        handle = open(name, "rb")
    finally:
        os.unlink(name)  # the open handle keeps the bytes until the response is sent
    response = FileResponse(handle, as_attachment=True, filename=f"{project.slug}-{spec.format}.{spec.file_type}")
    response["X-Rows"] = str(result.rows)
    response["X-Sha256"] = result.sha256
    return response


@login_required
def snapshots(request, slug):
    from training.models import DatasetSnapshot

    project = get_project_for_user(request.user, slug, research=True)
    return render(request, "labeling/data/snapshots.html",
                  {"project": project, "snapshots": DatasetSnapshot.objects.filter(project=project)})


@login_required
def snapshot_download(request, slug, pk):
    from training.models import DatasetSnapshot

    project = get_project_for_user(request.user, slug, research=True)
    snapshot = DatasetSnapshot.objects.filter(project=project, pk=pk).first()
    if snapshot is None or not snapshot.path.is_file():
        raise Http404("No such snapshot")
    return FileResponse(open(snapshot.path, "rb"), as_attachment=True, filename=snapshot.download_name)
