"""Forms of the fine-grained task: the lead's settings (a line-based text format that reads
well in a textarea) and the rater's submission (and draft). Forms parse the shape of the
input; the services check the rules."""

from __future__ import annotations

import json
import re

from django import forms

from annotations.models import RationaleMode
from annotations.selectors.fine_grained import FineGrainedTask
from annotations.services.fine_grained import AnnotationInput, SpanInput
from annotations.services.fine_grained_config import (
    AttributeSpec,
    CategorySpec,
    FineGrainedSettings,
)

SCALE = re.compile(r"^\s*(-?\d+)\s*(?:-|\u2013|to|\.\.)\s*(-?\d+)\s*$")
DESCRIPTOR = re.compile(r"^\s*(-?\d+)\s*[:=]\s*(.*)$")
MAX_SPANS_JSON_CHARS = 200_000

CATEGORIES_HELP = ("One category per line: key | name | colour | description | severity "
                   "levels (comma-separated). Only key and name are needed, e.g. "
                   "“h | Hallucination | #e4572e | Not supported by the prompt | minor, major, "
                   "critical”. Keys 0-9 ? t r m are the page's own.")
ATTRIBUTES_HELP = ("One attribute per line: name | scale | description, then one line per "
                   "level “value: descriptor”, e.g. “Helpfulness | 0-4 | Does it do what was "
                   "asked?” followed by “0: Not helpful” … “4: Perfectly helpful”. All "
                   "attributes share one scale within 0-9.")


class FineGrainedSettingsForm(forms.Form):
    categories = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), required=False,
                                 label="Span categories", help_text=CATEGORIES_HELP)
    attributes = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), required=False,
                                 label="Rating attributes", help_text=ATTRIBUTES_HELP)
    overall_scale = forms.CharField(required=False, label="Overall rating scale",
                                    help_text="e.g. 1-5; empty for no overall rating.")
    overall_descriptors = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}), required=False,
        label="Overall level descriptors", help_text="One line per level: “1: Very poor”.")
    missing_flag = forms.BooleanField(required=False, initial=True,
                                      label="Offer a “something is missing” flag with a note")
    rationale = forms.ChoiceField(choices=RationaleMode.choices, initial=RationaleMode.OPTIONAL)

    def clean_categories(self) -> tuple[CategorySpec, ...]:
        specs, problems = [], []
        for number, line in _numbered_lines(self.cleaned_data["categories"]):
            parts = [part.strip() for part in line.split("|")]
            if len(parts) < 2 or len(parts) > 5:
                problems.append(f"Line {number}: write key | name | colour | description | "
                                f"severities (key and name needed).")
                continue
            parts += [""] * (5 - len(parts))
            severities = tuple(level.strip() for level in parts[4].split(",") if level.strip())
            specs.append(CategorySpec(key=parts[0], name=parts[1], color=parts[2],
                                      description=parts[3], severities=severities))
        if problems:
            raise forms.ValidationError(problems)
        return tuple(specs)

    def clean_attributes(self) -> tuple[AttributeSpec, ...]:
        blocks: list[tuple[int, str, list[tuple[int, str]]]] = []
        problems = []
        for number, line in _numbered_lines(self.cleaned_data["attributes"]):
            if DESCRIPTOR.match(line):
                if not blocks:
                    problems.append(f"Line {number}: a level descriptor needs an attribute "
                                    f"line (name | scale | description) above it.")
                else:
                    blocks[-1][2].append((number, line))
            else:
                blocks.append((number, line, []))
        specs = []
        for number, line, descriptor_lines in blocks:
            spec, found = _attribute(number, line, descriptor_lines)
            problems += found
            if spec:
                specs.append(spec)
        if problems:
            raise forms.ValidationError(problems)
        return tuple(specs)

    def clean_overall_scale(self) -> tuple[int, int] | None:
        text = self.cleaned_data["overall_scale"].strip()
        if not text:
            return None
        scale = _scale(text)
        if scale is None:
            raise forms.ValidationError(f"Write the scale as low-high, e.g. 1-5, not {text!r}.")
        return scale

    def clean_overall_descriptors(self) -> list[tuple[int, str]]:
        lines = _numbered_lines(self.cleaned_data["overall_descriptors"])
        parsed, problems = _descriptors(lines)
        if problems:
            raise forms.ValidationError(problems)
        return parsed

    def clean(self) -> dict[str, object]:
        data = super().clean()
        scale, descriptors = data.get("overall_scale"), data.get("overall_descriptors") or []
        if scale and descriptors:
            expected = list(range(scale[0], scale[1] + 1))
            if [value for value, _text in descriptors] != expected:
                self.add_error("overall_descriptors", "Give the levels in order, one per "
                               f"value of the scale ({', '.join(map(str, expected))}).")
        return data

    def to_settings(self) -> FineGrainedSettings:
        data = self.cleaned_data
        return FineGrainedSettings(
            categories=data["categories"], attributes=data["attributes"],
            overall=data["overall_scale"],
            overall_descriptors=tuple(text for _value, text in data["overall_descriptors"]),
            missing_flag=data["missing_flag"], rationale=data["rationale"])

    @classmethod
    def initial_from(cls, task: FineGrainedTask) -> dict[str, object]:
        if not task.configured:
            return {}
        config = task.config
        categories = [" | ".join([category.key, category.name, category.color,
                                  category.description, ", ".join(category.severities)])
                      .rstrip(" |") for category in task.categories]
        attributes = []
        for attribute in task.attributes:
            attributes.append(" | ".join([attribute.name,
                                          f"{attribute.scale_low}-{attribute.scale_high}",
                                          attribute.description]).rstrip(" |"))
            attributes += [f"  {value}: {text}" for value, text in attribute.levels
                           if attribute.descriptors]
        return {
            "categories": "\n".join(categories), "attributes": "\n".join(attributes),
            "overall_scale": (f"{config.overall_low}-{config.overall_high}"
                              if config.has_overall else ""),
            "overall_descriptors": "\n".join(f"{value}: {text}" for value, text
                                             in config.overall_levels
                                             if config.overall_descriptors),
            "missing_flag": config.missing_flag, "rationale": config.rationale,
        }


def _attribute(number: int, line: str, descriptor_lines: list[tuple[int, str]]
               ) -> tuple[AttributeSpec | None, list[str]]:
    parts = [part.strip() for part in line.split("|")]
    if len(parts) < 2 or len(parts) > 3:
        return None, [f"Line {number}: write name | scale | description (e.g. "
                      f"“Helpfulness | 0-4 | Does it do what was asked?”)."]
    scale = _scale(parts[1])
    if scale is None:
        return None, [f"Line {number}: write the scale as low-high, e.g. 0-4, not "
                      f"{parts[1]!r}."]
    descriptors, problems = _descriptors(descriptor_lines)
    expected = list(range(scale[0], scale[1] + 1))
    if descriptors and [value for value, _text in descriptors] != expected:
        problems.append(f"Line {number}: “{parts[0]}” needs its levels in order, one per "
                        f"value ({', '.join(map(str, expected))}).")
    spec = AttributeSpec(name=parts[0], low=scale[0], high=scale[1],
                         description=parts[2] if len(parts) > 2 else "",
                         descriptors=tuple(text for _value, text in descriptors))
    return spec, problems


def _descriptors(lines: list[tuple[int, str]]) -> tuple[list[tuple[int, str]], list[str]]:
    parsed, problems = [], []
    for number, line in lines:
        match = DESCRIPTOR.match(line)
        if match is None:
            problems.append(f"Line {number}: write a level as “value: descriptor”.")
        else:
            parsed.append((int(match.group(1)), match.group(2).strip()))
    return parsed, problems


def _scale(text: str) -> tuple[int, int] | None:
    match = SCALE.match(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _numbered_lines(text: str) -> list[tuple[int, str]]:
    return [(number, line) for number, line in enumerate(text.splitlines(), start=1)
            if line.strip()]


# ---------------------------------------------------------------------------- the task


class AnnotationForm(forms.Form):
    """The rater's answer; ``rating_<attribute id>`` fields are added per attribute."""

    key = forms.UUIDField()
    active_ms = forms.IntegerField(required=False, min_value=0)
    spans = forms.CharField(required=False, strip=False, max_length=MAX_SPANS_JSON_CHARS)
    overall = forms.IntegerField(required=False)
    missing = forms.BooleanField(required=False)
    missing_note = forms.CharField(required=False, strip=False)
    rationale = forms.CharField(required=False, strip=False)
    skip = forms.BooleanField(required=False)

    def __init__(self, *args: object, task: FineGrainedTask, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.task = task
        for attribute in task.attributes:
            self.fields[f"rating_{attribute.pk}"] = forms.IntegerField(required=False)

    def clean_spans(self) -> list[dict[str, object]]:
        return parse_spans(self.cleaned_data["spans"])

    def to_input(self) -> AnnotationInput:
        data = self.cleaned_data
        active_ms = data.get("active_ms")
        return AnnotationInput(
            ratings=self._ratings(), overall=data.get("overall"),
            spans=tuple(SpanInput(**span) for span in data["spans"]),
            missing=data["missing"], missing_note=data["missing_note"] or "",
            rationale=data["rationale"] or "", skipped=data["skip"],
            active_seconds=None if active_ms is None else active_ms / 1000.0)

    def to_draft(self) -> dict[str, object]:
        """What autosave keeps: the answer so far (unchecked against the rules)."""
        data = self.cleaned_data
        return {"spans": data["spans"], "ratings": {str(k): v for k, v in self._ratings().items()},
                "overall": data.get("overall"), "missing": data["missing"],
                "missing_note": data["missing_note"] or "", "rationale": data["rationale"] or "",
                "active_ms": data.get("active_ms")}

    @classmethod
    def initial_from_draft(cls, key: object, draft: dict[str, object]) -> dict[str, object]:
        initial: dict[str, object] = {"key": key}
        ratings = draft.get("ratings")
        for attribute_id, value in (ratings.items() if isinstance(ratings, dict) else []):
            initial[f"rating_{attribute_id}"] = value
        for name in ("overall", "missing", "missing_note", "rationale", "active_ms"):
            if draft.get(name) is not None:
                initial[name] = draft[name]
        initial["spans"] = json.dumps(draft.get("spans") or [])
        return initial

    def _ratings(self) -> dict[int, int]:
        return {attribute.pk: value for attribute in self.task.attributes
                if (value := self.cleaned_data.get(f"rating_{attribute.pk}")) is not None}


def parse_spans(text: str) -> list[dict[str, object]]:
    """The spans field: a JSON list of {start, end, category, severity?, note?} objects."""
    if not text.strip():
        return []
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        raise forms.ValidationError("The spans are not valid JSON.") from None
    if not isinstance(raw, list):
        raise forms.ValidationError("The spans must be a list.")
    spans = []
    for number, span in enumerate(raw, start=1):
        spans.append(_span(number, span))
    return spans


def _span(number: int, span: object) -> dict[str, object]:
    if not isinstance(span, dict) or not {"start", "end", "category"} <= span.keys():
        raise forms.ValidationError(f"Span {number} needs start, end and category.")
    numbers = [span[name] for name in ("start", "end", "category")]
    if any(isinstance(value, bool) or not isinstance(value, int) for value in numbers):
        raise forms.ValidationError(f"Span {number}: start, end and category must be whole "
                                    f"numbers.")
    severity, note = span.get("severity") or "", span.get("note") or ""
    if not isinstance(severity, str) or not isinstance(note, str):
        raise forms.ValidationError(f"Span {number}: severity and note must be text.")
    return {"start": numbers[0], "end": numbers[1], "category": numbers[2],
            "severity": severity, "note": note}
