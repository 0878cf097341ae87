"""Forms for pools, invitations, raters, gates, gold questions, reviews and crowd studies.
They parse the shape of input; services check the domain rules. Choices of projects and
pools come from the access layer, so a form never offers (or accepts) what the user may not
manage."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from annotations.access import pools_managed_by, projects_managed_by
from annotations.models import (
    CrowdPlatform,
    GateComparison,
    GateSignal,
    MembershipStatus,
    RaterPool,
    ReviewVerdict,
    Role,
)
from annotations.services.crowd import CrowdStudyConfig
from annotations.services.gating import GateConfig
from annotations.services.invitations import InvitationPreset, NewAccount

MAX_DAYS = 365


class PoolForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class UsernameForm(forms.Form):
    username = forms.CharField(max_length=150)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=MembershipStatus.choices)
    reason = forms.CharField(max_length=500, required=False)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ExclusionForm(forms.Form):
    excluded = forms.BooleanField(required=False)
    reason = forms.CharField(max_length=500, required=False)


class CapForm(forms.Form):
    username = forms.CharField(max_length=150, required=False,
                               help_text="Empty: the default for every rater.")
    per_day = forms.IntegerField(min_value=1, required=False, label="Per day")
    per_project = forms.IntegerField(min_value=1, required=False, label="In total")


class GateForm(forms.Form):
    signal = forms.ChoiceField(choices=GateSignal.choices)
    comparison = forms.ChoiceField(choices=GateComparison.choices)
    threshold = forms.FloatField()
    min_judgments = forms.IntegerField(min_value=1, initial=10, label="After at least")
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: object, signals: list[str] | None = None,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if signals is not None:  # only the signals of the project's kind
            self.fields["signal"].choices = [choice for choice in GateSignal.choices
                                             if choice[0] in signals]

    def to_config(self) -> GateConfig:
        return GateConfig(**self.cleaned_data)


class AttachPoolForm(forms.Form):
    pool = forms.ModelChoiceField(queryset=RaterPool.objects.none())

    def __init__(self, *args: object, user: AbstractBaseUser, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pool"].queryset = pools_managed_by(user).order_by("name")


class GoldImportForm(forms.Form):
    file = forms.FileField(help_text="CSV: left_external_id, right_external_id, expected "
                                     "(one of the two ids, or tie), optional explanation.")


class GoldRateForm(forms.Form):
    rate = forms.FloatField(min_value=0.0, max_value=0.5,
                            help_text="Share of served tasks that are gold pairs (0 to 0.5).")


class ReviewForm(forms.Form):
    verdict = forms.ChoiceField(choices=ReviewVerdict.choices)
    reason = forms.CharField(max_length=1000, required=False)


class InvitationForm(forms.Form):
    project = forms.ModelChoiceField(queryset=None, required=False)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)
    pool = forms.ModelChoiceField(queryset=None, required=False)
    max_uses = forms.IntegerField(min_value=1, max_value=10_000, initial=1,
                                  label="Uses", help_text="1: a single-use link.")
    expires_in_days = forms.IntegerField(min_value=1, max_value=MAX_DAYS, initial=14)

    def __init__(self, *args: object, user: AbstractBaseUser, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects_managed_by(user).order_by("name")
        self.fields["pool"].queryset = pools_managed_by(user).order_by("name")

    def to_preset(self) -> InvitationPreset:
        data = self.cleaned_data
        return InvitationPreset(
            expires_at=timezone.now() + timedelta(days=data["expires_in_days"]),
            project=data["project"], role=data["role"], pool=data["pool"],
            max_uses=data.get("max_uses") or 1)


class BulkInvitationForm(InvitationForm):
    file = forms.FileField(help_text="CSV with a column 'email' (or one email per line).")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["max_uses"]


class AccountForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    password_again = forms.CharField(widget=forms.PasswordInput, strip=False,
                                     label="Password (again)")

    def clean(self) -> dict[str, object]:
        data = super().clean()
        if data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data

    def to_account(self) -> NewAccount:
        data = self.cleaned_data
        return NewAccount(username=data["username"], password=data["password"],
                          email=data.get("email") or "")


class CrowdStudyForm(forms.Form):
    name = forms.CharField(max_length=200)
    platform = forms.ChoiceField(choices=CrowdPlatform.choices)
    tasks_per_participant = forms.IntegerField(min_value=1, max_value=10_000, initial=20)
    completion_code = forms.CharField(max_length=64, required=False,
                                      help_text="Empty: one is generated.")
    max_participants = forms.IntegerField(min_value=1, required=False)
    expires_in_days = forms.IntegerField(min_value=1, max_value=MAX_DAYS, required=False)

    def to_config(self) -> CrowdStudyConfig:
        data = self.cleaned_data
        days = data.get("expires_in_days")
        return CrowdStudyConfig(
            name=data["name"], platform=data["platform"],
            tasks_per_participant=data["tasks_per_participant"],
            completion_code=data.get("completion_code") or "",
            max_participants=data.get("max_participants"),
            expires_at=timezone.now() + timedelta(days=days) if days else None)


class AuditFilterForm(forms.Form):
    action = forms.CharField(max_length=50, required=False)
    actor = forms.CharField(max_length=150, required=False)
    project = forms.IntegerField(min_value=1, required=False, label="Project id")

