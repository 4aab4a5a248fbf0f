from django import forms

from labeling.models import Project


class JudgmentForm(forms.Form):
    choice = forms.CharField(max_length=16)
    client_token = forms.CharField(max_length=64)
    strength = forms.IntegerField(required=False, min_value=1, max_value=3)
    rationale = forms.CharField(required=False, max_length=5000)
    ms = forms.IntegerField(required=False, min_value=0, max_value=24 * 3600 * 1000)


class SkipForm(forms.Form):
    reason = forms.CharField(required=False, max_length=200)


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = [
            "name", "slug", "kind", "guidelines", "overlap",
            "allow_tie", "allow_both_bad", "ask_strength", "ask_rationale",
        ]
