import json
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from labeling.models import DatasetSnapshot, Project
from training import algorithms
from training.models import ModelVersion
from training.templatetags.numbers import format_number


class SnapshotChoiceField(forms.ModelChoiceField):
    """Snapshots told apart: project, format, split, rows and date."""

    def label_from_instance(self, obj: DatasetSnapshot) -> str:
        spec = obj.spec or {}
        split = spec.get("split") or "all"
        if spec.get("test_size") and split != "all":
            split = f"{split} side of a {format_number(spec['test_size'])} test split"
        created = timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M") if obj.created_at else ""
        return f"#{obj.pk} {obj.project.name} · {obj.format} · {split} · {obj.rows} rows · {created}"


class ModelVersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ModelVersion) -> str:
        adapters = f" + {len(obj.adapters)} LoRA" if obj.adapters else ""
        project = f" ({obj.project.name})" if obj.project is not None else ""
        return f"{obj.name}{project} · {obj.kind}{adapters}"


class LaunchForm(forms.Form):
    """Model, snapshot, the hyperparameters people tune (TRL's defaults shown) and a JSON box for the rest.

    Everything comes from the algorithm's row in `training.algorithms`: the snapshots it trains on,
    the model kinds it starts from, its fields with their defaults, bounds and help.
    """

    algorithm = forms.ChoiceField(choices=algorithms.CHOICES)
    base_model = ModelVersionChoiceField(queryset=None)
    snapshot = SnapshotChoiceField(queryset=None)
    advanced = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Any other setting as JSON, e.g. {"save_steps": 50, "lora_r": 8}.',
    )

    def __init__(
        self,
        *args: Any,
        algorithm: str,
        models: QuerySet[ModelVersion],
        snapshots: QuerySet[DatasetSnapshot],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        row = algorithms.get(algorithm)
        self.row = row
        self.fields["algorithm"].initial = algorithm
        models = models.filter(kind__in=row.starts_from).order_by("-created_at", "-id")
        base_field = self.fields["base_model"]
        assert isinstance(base_field, forms.ModelChoiceField)
        base_field.queryset = models
        base_field.help_text = f"{row.label} starts from a {' or '.join(row.starts_from)} model."
        preferred = models.filter(kind=row.starts_from[0]).first()  # the newest of the kind it usually starts from
        base_field.initial = preferred.pk if preferred else None
        snapshots = snapshots.filter(format__in=row.trains_on).select_related("project").order_by("-created_at", "-id")
        snapshot_field = self.fields["snapshot"]
        assert isinstance(snapshot_field, forms.ModelChoiceField)
        snapshot_field.queryset = snapshots
        snapshot_field.help_text = f"{row.label} trains on a {' or '.join(row.trains_on)} snapshot; newest first."
        first = snapshots.first()
        snapshot_field.initial = first.pk if first else None
        self.tuned: list[str] = []
        for name, spec in row.fields().items():
            if name not in algorithms.FORM_FIELDS:
                continue
            label = name.replace("_", " ")
            default = format_number(spec["default"])
            field: forms.Field
            if spec["type"] == "boolean":
                field = forms.BooleanField(required=False, initial=spec["default"], label=label, help_text=spec["help"])
            elif "choices" in spec:
                field = forms.ChoiceField(
                    choices=[(c, c) for c in spec["choices"]],
                    initial=spec["default"],
                    label=label,
                    help_text=spec["help"],
                    required=False,
                )
            else:
                field = forms.CharField(
                    initial=default,
                    label=label,
                    required=False,
                    help_text=f"{spec['help']} (default {default}{_bounds(spec)})",
                )
            self.fields[f"cfg_{name}"] = field
            self.tuned.append(f"cfg_{name}")

    def clean_advanced(self) -> dict[str, Any]:
        text = self.cleaned_data["advanced"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("must be a JSON object of setting: value")
        return value

    def overrides(self) -> dict[str, Any]:
        """The settings from the tuned fields (left empty: TRL's default) and the JSON box, for `algorithms.validate`."""
        values = {
            name.removeprefix("cfg_"): self.cleaned_data[name] for name in self.tuned if self.cleaned_data[name] != ""
        }
        values.update(self.cleaned_data["advanced"])
        return values


def _bound(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) and abs(value) >= 10_000 else str(format_number(value))


def _bounds(spec: dict[str, Any]) -> str:
    """'; > 0, ≤ 1': a field's bounds for its help text (thousands separated: ≤ 10,000,000)."""
    low = (
        f"> {_bound(spec['exclusive_min'])}"
        if "exclusive_min" in spec
        else (f"≥ {_bound(spec['min'])}" if "min" in spec else "")
    )
    high = f"≤ {_bound(spec['max'])}" if "max" in spec else ""
    both = ", ".join(part for part in (low, high) if part)
    return f"; {both}" if both else ""


class RegisterModelForm(forms.Form):
    project: forms.ModelChoiceField = forms.ModelChoiceField(queryset=None)
    name = forms.SlugField(max_length=100)
    base = forms.CharField(max_length=500, help_text="A hub id (Qwen/Qwen2.5-0.5B-Instruct) or a local directory.")
    kind = forms.ChoiceField(choices=[("policy", "policy"), ("reward", "reward")])

    def __init__(self, *args: Any, projects: QuerySet[Project], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        project_field = self.fields["project"]
        assert isinstance(project_field, forms.ModelChoiceField)
        project_field.queryset = projects
