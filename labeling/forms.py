from typing import Any

from django import forms

from labeling.models import Membership, Project


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
            "name",
            "slug",
            "kind",
            "guidelines",
            "overlap",
            "allow_tie",
            "allow_both_bad",
            "ask_strength",
            "ask_rationale",
        ]


class ProjectCreateForm(ProjectForm):
    """The new-project form: the slug may be left empty, then it is made from the name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["slug"].help_text = "Used in addresses; filled in from the name when left empty."

    def clean_slug(self) -> str:
        from django.utils.text import slugify

        slug = self.cleaned_data.get("slug") or slugify(self.data.get("name", ""))[:100].strip("-")
        if not slug:
            raise forms.ValidationError("Give a slug: letters, numbers, hyphens or underscores.")
        if Project.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"A project with the slug {slug!r} exists already; choose another.")
        return slug


class ProjectSettingsForm(forms.ModelForm):
    """What can change once a project exists: its name, guidelines, k and the answer options.

    The slug (in every address and export) and the kind (the items were built for it) stay fixed.
    """

    class Meta:
        model = Project
        fields = ["name", "guidelines", "overlap", "allow_tie", "allow_both_bad", "ask_strength", "ask_rationale"]
        widgets = {"guidelines": forms.Textarea(attrs={"rows": 8})}


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)

    def __init__(self, *args: Any, offer_admin: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = self.fields["role"]
        assert isinstance(role, forms.ChoiceField)
        if not offer_admin:  # only an admin grants it (services.add_member refuses it with the reason)
            role.choices = [c for c in Membership.Role.choices if c[0] != Membership.Role.ADMIN]


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
