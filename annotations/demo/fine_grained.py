"""The fine-grained demo project: the demo answers with span categories, HelpSteer2-style
attributes and simulated raters of differing severity (one careless), so that the results
and rater pages have something to show. Deterministic (seeded) and idempotent."""

from __future__ import annotations

import json
import math
import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotations.demo.data import SOURCE_STRENGTH, demo_items
from annotations.fit_kinds import fit_kind_spec
from annotations.models import (
    Assignment,
    FitTrigger,
    Project,
    ProjectKind,
    RationaleMode,
    Role,
)
from annotations.selectors.fine_grained import fine_grained_task
from annotations.selectors.fine_grained_fits import FINE_GRAINED_FIT_KINDS
from annotations.services.fine_grained import (
    AnnotationInput,
    SpanInput,
    annotation_submit,
    item_assignment_for_rater,
)
from annotations.services.fine_grained_config import (
    AttributeSpec,
    CategorySpec,
    FineGrainedSettings,
    fine_grained_configure,
)
from annotations.services.fits import fit_run_request
from annotations.services.imports import project_import_items
from annotations.services.projects import TaskConfig, project_create, project_member_add

FINE_DEMO_PROJECT = "Demo: where do the answers go wrong?"
FINE_RATERS = {"sim-fine-1": -0.7, "sim-fine-2": 0.0, "sim-fine-3": 0.4, "sim-fine-4": 0.9}
CARELESS = "sim-fine-5"  # picks levels and spans at random: flagged by infit/outfit
PER_RATER = 30
INSTRUCTIONS = """Read the response to the prompt.

* **Mark** what is wrong: select the words (mouse, or `t` then arrow keys) and press the
  category key. Press it again to raise a hallucination's severity.
* **Rate** each attribute: press `r`, then the level's number.
* Flag with `m` when something important is *missing*. Press `?` for all shortcuts.
"""
LEVELS = ("Very poor", "Poor", "Adequate", "Good", "Excellent")
# Phrases in the demo answers that a careful rater marks, by source.
PROBLEMS = {
    "assistant-delta": [("Hallucination", "is about something else entirely"),
                        ("Hallucination", "Plants eat dirt to grow")],
    "assistant-gamma": [("Unclear", "It's complicated"),
                        ("Unclear", "it depends on the situation"),
                        ("Unclear", "via the Calvin cycle and photosystems I and II")],
    "assistant-beta": [("Incomplete", "leaves out some detail")],
}
THRESHOLDS = (-1.6, -0.6, 0.4, 1.4)


def fine_grained_settings() -> FineGrainedSettings:
    return FineGrainedSettings(
        categories=(
            CategorySpec(name="Hallucination", key="h", color="#e4572e",
                         description="A claim that is false or not supported",
                         severities=("minor", "major", "critical")),
            CategorySpec(name="Unclear", key="u", color="#669bbc",
                         description="Vague, evasive or too technical for the reader"),
            CategorySpec(name="Incomplete", key="i", color="#f3a712",
                         description="Stops short of what was asked"),
        ),
        attributes=tuple(AttributeSpec(name=name, low=0, high=4, description=description,
                                       descriptors=LEVELS)
                         for name, description in (
                             ("Helpfulness", "Does it do what the prompt asks?"),
                             ("Correctness", "Are all the facts right?"),
                             ("Coherence", "Is it clear and well organised?"))),
        overall=(1, 5), overall_descriptors=("Unusable", "Poor", "Fair", "Good", "Excellent"),
        missing_flag=True, rationale=RationaleMode.OPTIONAL)


def load_fine_grained_demo(*, lead: AbstractBaseUser, annotators: list[str]) -> Project:
    """Create the project (once) and simulate the raters; return it."""
    project = Project.objects.filter(name=FINE_DEMO_PROJECT).first()
    if project is not None:
        return project
    with transaction.atomic():
        project = project_create(creator=lead, config=TaskConfig(
            name=FINE_DEMO_PROJECT, kind=ProjectKind.FINE_GRAINED, instructions=INSTRUCTIONS))
        fine_grained_configure(project=project, settings=fine_grained_settings())
        lines = [json.dumps({**item, "external_id": f"fine-{item['external_id']}"})
                 for item in demo_items()]
        project_import_items(project=project, data="\n".join(lines).encode(),
                             filename="fine.jsonl")
        for username in [*annotators, *FINE_RATERS, CARELESS]:
            get_user_model().objects.get_or_create(username=username)
            project_member_add(project=project, username=username, role=Role.ANNOTATOR)
    with transaction.atomic():  # the automatic fits are requested once, after the commit
        _simulate(project, random.Random(2027))
    return project


def request_fine_grained_fits(project: Project) -> list[str]:
    """Ask for the fits (no-ops when they exist for this data); the demo's worker runs them."""
    lines = []
    for kind in FINE_GRAINED_FIT_KINDS:
        try:
            request = fit_run_request(project=project, kind=kind, trigger=FitTrigger.AUTO)
        except ValidationError:
            continue
        lines.append(f"{fit_kind_spec(request.run.kind).label} fit #{request.run.pk}: "
                     f"{request.run.status}")
    return lines


def _simulate(project: Project, rng: random.Random) -> None:
    task = fine_grained_task(project)
    categories = {category.name: category for category in task.categories}
    User = get_user_model()
    for username, severity in [*FINE_RATERS.items(), (CARELESS, 0.0)]:
        rater = User.objects.get(username=username)
        for _ in range(PER_RATER):
            assignment = item_assignment_for_rater(project=project, rater=rater)
            if assignment is None:
                break
            _backdate(assignment)  # simulated work took minutes, as active time says
            item = assignment.left_item
            careless = username == CARELESS
            missing = item.source == "assistant-beta" and rng.random() < 0.5
            annotation_submit(assignment=assignment, answer=AnnotationInput(
                ratings=_ratings(task, item.source, severity, rng, careless),
                overall=_level(rng, 1.5 * SOURCE_STRENGTH[item.source] - severity, careless) + 1,
                spans=_spans(item.content, item.source, categories, rng, careless),
                missing=missing, missing_note="No example or caveat." if missing else "",
                active_seconds=rng.uniform(20, 90)))


def _backdate(assignment: Assignment) -> None:
    assignment.created_at = timezone.now() - timedelta(minutes=5)
    Assignment.objects.filter(pk=assignment.pk).update(created_at=assignment.created_at)


def _level(rng: random.Random, location: float, careless: bool) -> int:
    if careless:
        return rng.randrange(5)
    latent = location + math.log(1 / rng.random() - 1) * 0.9  # logistic noise
    return sum(latent > threshold for threshold in THRESHOLDS)


def _ratings(task, source: str, severity: float, rng: random.Random, careless: bool
             ) -> dict[int, int]:
    quality = 1.5 * SOURCE_STRENGTH[source]
    offsets = {"Helpfulness": 0.0, "Correctness": -0.3, "Coherence": 0.4}
    return {attribute.pk: _level(rng, quality + offsets.get(attribute.name, 0.0) - severity,
                                 careless) for attribute in task.attributes}


def _spans(text: str, source: str, categories: dict, rng: random.Random, careless: bool
           ) -> list[SpanInput]:
    if careless:
        start = rng.randrange(max(len(text) - 10, 1))
        return [SpanInput(start=start, end=min(start + rng.randint(3, 15), len(text)),
                          category=categories["Unclear"].pk)] if rng.random() < 0.5 else []
    spans = []
    for name, phrase in PROBLEMS.get(source, []):
        at = text.find(phrase)
        if at < 0 or rng.random() > 0.85:
            continue
        end = at + len(phrase)
        if rng.random() < 0.3:  # a rater who marks a word less at the end
            end = text.rfind(" ", at + 1, end) if text.rfind(" ", at + 1, end) > at else end
        category = categories[name]
        spans.append(SpanInput(start=at, end=end, category=category.pk,
                               severity=rng.choice(category.severities)
                               if category.severities else ""))
    return spans
