"""Researcher pages for data in and out: upload -> preview -> confirm; export and snapshots.

Thin: every view fetches the project through `get_project_for_user(..., research=True)` (404 for
non-members, 403 for annotators), parses a form, calls the import service (labeling/data/imports.py),
the exporters or the snapshots, and renders.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from labeling.data import downloads, exporters, formats, imports
from labeling.data.files import FILE_HELP
from labeling.data.rows import printable
from labeling.data.snapshots import create_snapshot
from labeling.models import DatasetSnapshot, Project
from labeling.selectors import get_project_for_user
from webapp.http import SignedInRequest

CELL_CHARS = 300  # a cell of the preview shows this much of its value


class UploadForm(forms.Form):
    file = forms.FileField(help_text=FILE_HELP)
    format = forms.ChoiceField(choices=formats.choices)
    mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="mapped and prompts formats: one TARGET=COLUMN per line, e.g. prompt=question",
    )
    skip_invalid = forms.BooleanField(required=False, label="Skip invalid rows (and list them)")


class StagedForm(forms.Form):
    """The preview's form: the stored upload, with format and mapping still editable."""

    token = forms.CharField(widget=forms.HiddenInput, max_length=80)
    file_name = forms.CharField(widget=forms.HiddenInput, max_length=255)
    format = forms.ChoiceField(choices=formats.choices)
    mapping = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    skip_invalid = forms.BooleanField(required=False, label="Skip invalid rows (and list them)")


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=DatasetSnapshot.Format.choices)
    file_type = forms.ChoiceField(choices=DatasetSnapshot.FileType.choices, label="File")
    policy = forms.ChoiceField(choices=_choices(exporters.POLICIES), help_text="for items with several judgments")
    ties = forms.ChoiceField(choices=_choices(exporters.KEEP_OR_DROP))
    both_bad = forms.ChoiceField(choices=_choices(exporters.KEEP_OR_DROP), label="Both bad")
    form = forms.ChoiceField(choices=_choices(exporters.FORMS), label="Form")
    split = forms.ChoiceField(choices=_choices(exporters.SPLITS))
    test_size = forms.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="split by a seeded hash of each prompt (blank: each prompt's stored split)",
    )
    seed = forms.IntegerField(initial=0, required=False)
    from_pairs = forms.BooleanField(required=False, label="Unpaired: also rows from pairs")
    source = forms.ChoiceField(choices=_choices(exporters.SOURCES), label="Judgments")
    snapshot = forms.BooleanField(required=False, label="Freeze as a snapshot")

    def spec(self) -> exporters.ExportSpec:
        data = dict(self.cleaned_data)
        data.pop("snapshot")
        data["seed"] = data["seed"] or 0
        return exporters.ExportSpec(**data)


def _plain(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value):,} bytes of binary data>"
    return str(value)  # timestamps, decimals, ...


def _cell(value: Any) -> str:
    """Any value read from a file, as at most CELL_CHARS of printable text."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes | bytearray | memoryview):
        text = _plain(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=_plain)
        except (RecursionError, ValueError, TypeError):
            text = "<nested too deeply to show>"
    text = printable(text)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "…"


def _turns(prompt: str | list[dict]) -> list[dict]:
    turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    return [{"role": turn["role"], "content": _cell(turn["content"])} for turn in turns]


def _preview_context(request: SignedInRequest, project: Project, staged: StagedForm) -> dict:
    data = staged.cleaned_data
    file_name = imports.staged_name(data["token"], data["file_name"])
    context: dict[str, Any] = {"project": project, "form": staged, "file_name": file_name}
    try:
        mapping = imports.parse_mapping(data["mapping"])
        preview = imports.preview(project, request.user, data["token"], file_name, fmt=data["format"], mapping=mapping)
    except imports.UploadNotFound:
        raise Http404("No such upload") from None
    except imports.ImportFailed as exc:
        context["error"] = str(exc)
        return context
    context.update(
        mapping=mapping,
        columns=[_cell(c) for c in preview.columns],
        records=[(where, [_cell(record.get(c, "")) for c in preview.columns]) for where, record in preview.records],
        rows=[
            {
                "where": row.where,
                "turns": _turns(row.prompt),
                "responses": [_cell(r) for r in row.responses],
                "labels": ", ".join(choice for _, choice in row.labels),
            }
            for row in preview.rows[:10]
        ],
        skipped=preview.skipped[:20],
        preview=preview,
        error=preview.error,
    )
    return context


def _render_preview(request: SignedInRequest, context: dict, status: int = 200) -> HttpResponse:
    template = "labeling/data/partials/preview.html" if request.htmx else "labeling/data/import.html"
    return render(request, template, context, status=status)


def _upload_page(
    request: SignedInRequest, project: Project, upload: UploadForm, *, error: str = "", status: int = 200
) -> HttpResponse:
    return render(
        request,
        "labeling/data/import.html",
        {"project": project, "upload": upload, "error": error, "formats": formats.FORMATS.values()},
        status=status,
    )


@login_required
def import_data(request: SignedInRequest, slug: str) -> HttpResponse:
    """GET: the upload form. POST a file: store it and preview it. POST a stored upload: preview it again."""
    project = get_project_for_user(request.user, slug, research=True)
    if request.method == "POST" and "token" in request.POST:
        staged = StagedForm(request.POST)
        if staged.is_valid():
            return _render_preview(request, _preview_context(request, project, staged))
        return _render_preview(request, {"project": project, "form": staged, "error": "Upload the file again."}, 400)
    upload = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and upload.is_valid():
        data = upload.cleaned_data
        try:
            stored = imports.stage(data["file"], project=project, user=request.user)
        except imports.ImportFailed as exc:
            return _upload_page(request, project, upload, error=str(exc), status=400)
        staged = StagedForm(
            {
                "token": stored.token,
                "file_name": stored.file_name,
                "format": data["format"],
                "mapping": data["mapping"],
                "skip_invalid": data["skip_invalid"],
            }
        )
        staged.is_valid()
        return _render_preview(request, _preview_context(request, project, staged))
    return _upload_page(request, project, upload, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def import_confirm(request: SignedInRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, research=True)
    staged = StagedForm(request.POST)
    if not staged.is_valid():
        return _upload_page(request, project, UploadForm(), error="Upload the file again.", status=400)
    data = staged.cleaned_data
    file_name = imports.staged_name(data["token"], data["file_name"])
    try:
        result = imports.confirm(
            project,
            request.user,
            data["token"],
            file_name,
            fmt=data["format"],
            mapping=imports.parse_mapping(data["mapping"]),
            skip_invalid=data["skip_invalid"],
        )
    except imports.UploadNotFound:
        raise Http404("No such upload") from None
    except imports.ImportFailed as exc:
        context = _preview_context(request, project, staged)
        context["error"] = str(exc)
        return render(request, "labeling/data/import.html", context, status=400)
    return render(
        request, "labeling/data/import_done.html", {"project": project, "result": result, "file_name": file_name}
    )


@login_required
def export_data(request: SignedInRequest, slug: str) -> HttpResponseBase:
    """GET: the export form. POST: download the export, or freeze it as a snapshot."""
    project = get_project_for_user(request.user, slug, research=True)
    form = ExportForm(request.POST or None, initial={"seed": 0})
    if request.method != "POST" or not form.is_valid():
        return render(
            request,
            "labeling/data/export.html",
            {"project": project, "form": form},
            status=400 if request.method == "POST" else 200,
        )
    try:
        spec = form.spec()
        if form.cleaned_data["snapshot"]:
            create_snapshot(project, spec, user=request.user)
            return redirect("labeling:snapshots", project.slug)
        return downloads.export_download(project, spec)
    except exporters.ExportError as exc:
        return render(
            request, "labeling/data/export.html", {"project": project, "form": form, "error": str(exc)}, status=400
        )


@login_required
def snapshots(request: SignedInRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, research=True)
    return render(
        request,
        "labeling/data/snapshots.html",
        {"project": project, "snapshots": DatasetSnapshot.objects.filter(project=project)},
    )


@login_required
def snapshot_download(request: SignedInRequest, slug: str, pk: int) -> FileResponse:
    project = get_project_for_user(request.user, slug, research=True)
    return downloads.snapshot_download(DatasetSnapshot.objects.filter(project=project, pk=pk).first())
