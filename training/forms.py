import json

from django import forms

from training import configs


class LaunchForm(forms.Form):
    """Model, snapshot, the hyperparameters people tune (TRL's defaults shown) and a JSON box for the rest."""

    algorithm = forms.ChoiceField(choices=list(configs.ALGORITHM_LABELS.items()))
    base_model = forms.ModelChoiceField(queryset=None)
    snapshot = forms.ModelChoiceField(queryset=None)
    advanced = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Any other setting as JSON, e.g. {"save_steps": 50, "lora_r": 8}.',
    )

    def __init__(self, *args, algorithm: str, models, snapshots, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["algorithm"].initial = algorithm
        self.fields["base_model"].queryset = models
        self.fields["snapshot"].queryset = snapshots
        self.tuned = []
        for name, spec in configs.schema()[algorithm].items():
            if name not in configs.FORM_FIELDS:
                continue
            label = name.replace("_", " ")
            if spec["type"] == "boolean":
                field = forms.BooleanField(required=False, initial=spec["default"], label=label, help_text=spec["help"])
            elif "choices" in spec:
                field = forms.ChoiceField(choices=[(c, c) for c in spec["choices"]], initial=spec["default"],
                                          label=label, help_text=spec["help"], required=False)
            else:
                field = forms.CharField(initial=spec["default"], label=label, required=False,
                                        help_text=f"{spec['help']} (default {spec['default']})")
            self.fields[f"cfg_{name}"] = field
            self.tuned.append(f"cfg_{name}")

    def clean_advanced(self):
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

    def overrides(self) -> dict:
        """The settings from the tuned fields (left empty: TRL's default) and the JSON box, for `configs.validate`."""
        values = {name.removeprefix("cfg_"): self.cleaned_data[name] for name in self.tuned if self.cleaned_data[name] != ""}
        values.update(self.cleaned_data["advanced"])
        return values


class RegisterModelForm(forms.Form):
    name = forms.SlugField(max_length=100)
    base = forms.CharField(max_length=500, help_text="A hub id (Qwen/Qwen2.5-0.5B-Instruct) or a local directory.")
    kind = forms.ChoiceField(choices=[("policy", "policy"), ("reward", "reward")])
