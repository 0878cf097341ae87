"""Serving items for fine-grained annotation, saving drafts and recording submissions once.

An item task is an :class:`Assignment` with ``left_item`` set and ``right_item`` NULL (the
pairwise code ignores those rows), leased like a pair. The submission is validated as a
whole against the project's configuration; then the annotation, its ratings and spans are
written, the lease is closed and the rater's draft of the item is deleted, all in one
transaction under the assignment's key, so a retried POST stores nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from annotations.access import Task, project_require_task
from annotations.models import (
    Annotation,
    AnnotationDraft,
    Assignment,
    FitTrigger,
    Project,
    Rating,
    RationaleMode,
    Span,
)
from annotations.models.judgment import AssignmentStatus
from annotations.selectors.fine_grained import (
    FineGrainedTask,
    fine_grained_task,
    item_next_for_rater,
)
from annotations.selectors.fine_grained_fits import FINE_GRAINED_FIT_KINDS
from annotations.services.assignments import (
    assignment_active_seconds,
    assignment_close,
    assignment_open_or_new,
    lease_end,
)
from annotations.services.fits import FitRequest, fit_run_request, fit_trigger_for_kind

MAX_SPANS = 500
MAX_NOTE_CHARS = 2_000
MAX_RATIONALE_CHARS = 10_000
MAX_DRAFT_BYTES = 200_000


@dataclass(frozen=True)
class SpanInput:
    start: int
    end: int
    category: int  # SpanCategory id
    severity: str = ""
    note: str = ""


@dataclass(frozen=True)
class AnnotationInput:
    """What the rater answered, as parsed from the form (or an API call)."""

    ratings: dict[int, int] = field(default_factory=dict)  # RatingAttribute id -> value
    spans: tuple[SpanInput, ...] = ()
    overall: int | None = None
    missing: bool = False
    missing_note: str = ""
    rationale: str = ""
    skipped: bool = False
    active_seconds: float | None = None


@dataclass(frozen=True)
class AnnotationResult:
    annotation: Annotation
    created: bool  # False when this repeated an earlier submission


def item_assignment_for_rater(*, project: Project, rater: AbstractBaseUser) -> Assignment | None:
    """The rater's open item task (renewing its lease), or a newly chosen one; ``None`` when
    every item has been annotated by this rater."""
    project_require_task(project, Task.FINE_GRAINED)

    def new_item(now: datetime) -> Assignment | None:
        choice = item_next_for_rater(project=project, rater=rater, now=now)
        if choice is None:
            return None
        return Assignment.objects.create(
            project=project, rater=rater, left_item_id=choice.item_id, right_item=None,
            selection_strategy=choice.strategy, selection_probability=choice.probability,
            expires_at=lease_end(now))

    return assignment_open_or_new(project=project, rater=rater, pairwise=False, new=new_item)


def annotation_submit(*, assignment: Assignment, answer: AnnotationInput) -> AnnotationResult:
    """Record the rater's annotation of the assigned item once; a repeat returns the first."""
    previous = _annotation_for_key(assignment)
    if previous is not None:
        return AnnotationResult(previous, created=False)
    if assignment.status == AssignmentStatus.RELEASED:
        raise ValidationError("This task was withdrawn from you; it has not been recorded.")
    project_require_task(assignment.project, Task.FINE_GRAINED)
    task = fine_grained_task(assignment.project)
    _validate(task, assignment, answer)
    try:
        with transaction.atomic():
            annotation = _create_annotation(assignment, answer)
            assignment_close(assignment)
            AnnotationDraft.objects.filter(rater_id=assignment.rater_id,
                                           item_id=assignment.left_item_id).delete()
            project_id = assignment.project_id
            transaction.on_commit(lambda: _refit_when_due(project_id), robust=True)
    except IntegrityError:
        previous = _annotation_for_key(assignment)
        if previous is None:
            raise ValidationError("You have already annotated this item.") from None
        return AnnotationResult(previous, created=False)
    return AnnotationResult(annotation, created=True)


def annotation_draft_save(*, assignment: Assignment, data: dict[str, object]
                          ) -> AnnotationDraft | None:
    """Keep the rater's work in progress on the assigned item. A draft arriving after the
    task was submitted (a late autosave) is dropped: ``None``."""
    if len(repr(data)) > MAX_DRAFT_BYTES:
        raise ValidationError(f"The draft is too large (over {MAX_DRAFT_BYTES:,} bytes).")
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.status != AssignmentStatus.OPEN:
            return None
        draft, _created = AnnotationDraft.objects.update_or_create(
            rater_id=locked.rater_id, item_id=locked.left_item_id, defaults={"data": data})
    return draft


def fine_grained_fits_request(*, project: Project, requested_by: AbstractBaseUser
                              ) -> list[FitRequest]:
    """The lead's "Refit now": many-facet Rasch and Dawid-Skene (with agreement) on the
    annotations so far; a run that exists for this data already is reused."""
    return [fit_run_request(project=project, kind=kind, trigger=FitTrigger.MANUAL,
                            requested_by=requested_by) for kind in FINE_GRAINED_FIT_KINDS]


def _refit_when_due(project_id: int) -> None:
    """After a submission: request the fits whose data grew by ``fit_every_n``."""
    project = Project.objects.get(pk=project_id)
    for kind in FINE_GRAINED_FIT_KINDS:
        fit_trigger_for_kind(project=project, kind=kind)


# ---------------------------------------------------------------------------- validation


def _validate(task: FineGrainedTask, assignment: Assignment, answer: AnnotationInput) -> None:
    """Every problem at once, each under the name of what it is about: ``rating_<id>`` for
    an attribute (so that pages show it next to that attribute), ``ratings`` for unknown
    attributes, ``spans``, ``overall``, ``missing``, ``rationale``."""
    if assignment.right_item_id is not None:
        raise ValidationError("This is not a fine-grained task.")
    if not task.configured:
        raise ValidationError("This project's fine-grained task is not configured yet.")
    errors: dict[str, list[str]] = {}
    checks = [("rationale", _rationale_problems(task, answer))]
    if not answer.skipped:
        checks += [("spans", _span_problems(task, assignment.left_item.content, answer.spans)),
                   *_rating_problems(task, answer.ratings),
                   ("overall", _overall_problems(task, answer.overall)),
                   ("missing", _missing_problems(task, answer))]
    for name, problems in checks:
        if problems:
            errors.setdefault(name, []).extend(problems)
    if errors:
        raise ValidationError(errors)


def _span_problems(task: FineGrainedTask, text: str, spans: tuple[SpanInput, ...]) -> list[str]:
    if len(spans) > MAX_SPANS:
        return [f"At most {MAX_SPANS} spans per item."]
    categories = {category.pk: category for category in task.categories}
    problems = []
    for number, span in enumerate(spans, start=1):
        where = f"Span {number} (characters {span.start}-{span.end})"
        category = categories.get(span.category)
        if not 0 <= span.start < span.end <= len(text):
            problems.append(f"{where} is outside the text, which has {len(text)} characters "
                            f"(a span needs 0 <= start < end <= {len(text)}).")
        if category is None:
            problems.append(f"{where} has an unknown category ({span.category}).")
        elif category.severities and span.severity not in category.severities:
            problems.append(f"{where}: choose a severity of “{category.name}”: "
                            f"{', '.join(category.severities)} (got {span.severity!r}).")
        elif not category.severities and span.severity:
            problems.append(f"{where}: “{category.name}” has no severity levels.")
        if len(span.note) > MAX_NOTE_CHARS:
            problems.append(f"{where}: notes are at most {MAX_NOTE_CHARS:,} characters.")
    return problems


def _rating_problems(task: FineGrainedTask, ratings: dict[int, int]
                     ) -> list[tuple[str, list[str]]]:
    attributes = {attribute.pk: attribute for attribute in task.attributes}
    problems = [("ratings", [f"Unknown rating attribute ({key})." for key in ratings
                             if key not in attributes])]
    for attribute in task.attributes:
        value = ratings.get(attribute.pk)
        scale = f"{attribute.scale_low} to {attribute.scale_high}"
        if value is None:
            problems.append((f"rating_{attribute.pk}",
                             [f"Rate “{attribute.name}” ({scale})."]))
        elif not attribute.scale_low <= value <= attribute.scale_high:
            problems.append((f"rating_{attribute.pk}",
                             [f"“{attribute.name}” must be between {scale}, not {value}."]))
    return problems


def _overall_problems(task: FineGrainedTask, overall: int | None) -> list[str]:
    config = task.config
    if not task.has_overall:
        return [] if overall is None else ["This project has no overall rating."]
    scale = f"{config.overall_low} to {config.overall_high}"
    if overall is None:
        return [f"Give an overall rating ({scale})."]
    if not config.overall_low <= overall <= config.overall_high:
        return [f"The overall rating must be between {scale}, not {overall}."]
    return []


def _missing_problems(task: FineGrainedTask, answer: AnnotationInput) -> list[str]:
    if not task.config.missing_flag:
        return ["This project has no “something is missing” flag."] \
            if answer.missing or answer.missing_note.strip() else []
    if answer.missing and not answer.missing_note.strip():
        return ["Say what is missing (a short note)."]
    if not answer.missing and answer.missing_note.strip():
        return ["A note about something missing needs the “something is missing” flag."]
    if len(answer.missing_note) > MAX_NOTE_CHARS:
        return [f"The note is at most {MAX_NOTE_CHARS:,} characters."]
    return []


def _rationale_problems(task: FineGrainedTask, answer: AnnotationInput) -> list[str]:
    mode = task.config.rationale
    if len(answer.rationale) > MAX_RATIONALE_CHARS:
        return [f"The rationale is limited to {MAX_RATIONALE_CHARS:,} characters."]
    if mode == RationaleMode.REQUIRED and not answer.skipped and not answer.rationale.strip():
        return ["A rationale is required: explain your ratings before submitting."]
    if mode == RationaleMode.OFF and answer.rationale.strip():
        return ["This project does not collect rationales."]
    return []


# ---------------------------------------------------------------------------- writing


def _create_annotation(assignment: Assignment, answer: AnnotationInput) -> Annotation:
    annotation = Annotation.objects.create(
        project_id=assignment.project_id, rater_id=assignment.rater_id,
        item_id=assignment.left_item_id, assignment=assignment, skipped=answer.skipped,
        overall_rating=None if answer.skipped else answer.overall,
        missing=answer.missing and not answer.skipped,
        missing_note="" if answer.skipped else answer.missing_note.strip(),
        rationale=answer.rationale.strip(),
        active_seconds=assignment_active_seconds(assignment, answer.active_seconds),
        guideline_version=assignment.project.guideline_version,
        selection_strategy=assignment.selection_strategy,
        selection_probability=assignment.selection_probability,
        idempotency_key=assignment.key)
    if not answer.skipped:
        Rating.objects.bulk_create(
            Rating(annotation=annotation, attribute_id=attribute_id, value=value)
            for attribute_id, value in answer.ratings.items())
        Span.objects.bulk_create(
            Span(annotation=annotation, category_id=span.category, start=span.start,
                 end=span.end, severity=span.severity, note=span.note.strip())
            for span in answer.spans)
    return annotation


def _annotation_for_key(assignment: Assignment) -> Annotation | None:
    return Annotation.objects.filter(rater_id=assignment.rater_id,
                                     idempotency_key=assignment.key).first()


