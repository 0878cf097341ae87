"""Forms parse and validate the shape of input; services check the domain rules."""

from __future__ import annotations

from django import forms

from annotations.models import Outcome, ProjectKind, RationaleMode, Role
from annotations.services.judgments import CRITERION_VERDICTS, JudgmentInput
from annotations.services.projects import TaskConfig


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=ProjectKind.choices, initial=ProjectKind.PAIRWISE)
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False,
                                   help_text="Markdown.")
    criteria = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False,
                               help_text="One criterion per line, e.g. Helpfulness.")
    allow_ties = forms.BooleanField(required=False, initial=True, label="Allow ties")
    allow_both_bad = forms.BooleanField(required=False, label='Allow "both bad"')
    strength_scale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Strength scale",
        help_text="Optional: 2 to 5 levels, weakest first, one per line "
                  "(e.g. Slightly better / Clearly better / Much better).")
    rationale = forms.ChoiceField(choices=RationaleMode.choices, initial=RationaleMode.OFF)
    fit_every_n = forms.IntegerField(min_value=1, max_value=100_000, initial=20,
                                     label="Refit after every N judgments")

    def to_config(self) -> TaskConfig:
        data = self.cleaned_data
        return TaskConfig(
            name=data["name"], kind=data["kind"], instructions=data["instructions"],
            criteria=_lines(data["criteria"]), allow_ties=data["allow_ties"],
            allow_both_bad=data["allow_both_bad"],
            strength_scale=_lines(data["strength_scale"]), rationale=data["rationale"],
            fit_every_n=data["fit_every_n"])

    @classmethod
    def initial_from(cls, project) -> dict[str, object]:
        return {
            "name": project.name, "kind": project.kind, "instructions": project.instructions,
            "criteria": "\n".join(project.criteria), "allow_ties": project.allow_ties,
            "allow_both_bad": project.allow_both_bad,
            "strength_scale": "\n".join(project.strength_scale),
            "rationale": project.rationale, "fit_every_n": project.fit_every_n,
        }


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL or CSV with external_id, group, source, prompt, "
                                     "content and an optional metadata object.")


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class JudgmentForm(forms.Form):
    key = forms.UUIDField()
    outcome = forms.ChoiceField(choices=Outcome.choices,
                                error_messages={"required": "Choose which response is better."})
    strength = forms.IntegerField(required=False, min_value=1)
    rationale = forms.CharField(required=False, strip=False)
    active_ms = forms.IntegerField(required=False, min_value=0)

    def __init__(self, *args, criteria: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.criteria = criteria
        for index, _name in enumerate(criteria):
            self.fields[f"criterion_{index}"] = forms.ChoiceField(
                required=False, choices=[("", "-"), *[(v, v) for v in CRITERION_VERDICTS]])

    def to_input(self) -> JudgmentInput:
        data = self.cleaned_data
        verdicts = {name: data[f"criterion_{index}"] for index, name in enumerate(self.criteria)
                    if data.get(f"criterion_{index}")}
        active_ms = data.get("active_ms")
        return JudgmentInput(
            outcome=data["outcome"], strength=data.get("strength"), criteria_outcomes=verdicts,
            rationale=data.get("rationale") or "",
            active_seconds=None if active_ms is None else active_ms / 1000.0)


class UndoForm(forms.Form):
    key = forms.UUIDField()
