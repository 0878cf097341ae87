"""Serving pairs to raters and recording their judgments, exactly once."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotations.access import Task, project_require_task
from annotations.models import (
    Assignment,
    Outcome,
    PairwiseJudgment,
    Project,
    RationaleMode,
)
from annotations.models.judgment import AssignmentStatus
from annotations.selectors.gold import gold_choice_for_rater
from annotations.selectors.judgments import judgment_last_for_rater
from annotations.selectors.pairs import pair_next_for_rater
from annotations.services.assignments import (
    assignment_active_seconds,
    assignment_close,
    assignment_open_for_rater,
    assignment_open_or_new,
    lease_end,
)
from annotations.services.fits import fit_trigger_after_judgment
from annotations.services.gating import quality_gate_after_judgment

MAX_RATIONALE_CHARS = 10_000
PREFERENCES = (Outcome.LEFT, Outcome.RIGHT)
CRITERION_VERDICTS = (Outcome.LEFT, Outcome.RIGHT, Outcome.TIE)


@dataclass(frozen=True)
class JudgmentInput:
    """What the rater answered, as parsed from a form or an API call."""

    outcome: str
    strength: int | None = None
    criteria_outcomes: dict[str, str] = field(default_factory=dict)
    rationale: str = ""
    active_seconds: float | None = None


@dataclass(frozen=True)
class SubmitResult:
    judgment: PairwiseJudgment
    created: bool  # False when this was a repeat of an earlier submission


def assignment_for_rater(*, project: Project, rater: AbstractBaseUser) -> Assignment | None:
    """The rater's open pair (renewing its lease), or a newly chosen one; ``None`` if done."""
    project_require_task(project, Task.PAIRWISE)
    if not project.serves_pairs:
        raise ValidationError("This project serves rankings instead of pairs.")

    def new_pair(now: datetime) -> Assignment | None:
        choice = (gold_choice_for_rater(project=project, rater=rater)
                  or pair_next_for_rater(project=project, rater=rater, now=now))
        if choice is None:
            return None
        left, right = random.sample((choice.item_low, choice.item_high), 2)
        return Assignment.objects.create(
            project=project, rater=rater, left_item_id=left, right_item_id=right,
            selection_strategy=choice.strategy, selection_probability=choice.probability,
            expires_at=lease_end(now))

    return assignment_open_or_new(project=project, rater=rater, pairwise=True, new=new_pair)


def judgment_submit(*, assignment: Assignment, answer: JudgmentInput) -> SubmitResult:
    """Record the rater's answer to ``assignment`` once; repeats return the first result."""
    previous = _judgment_for_key(assignment)
    if previous is not None:
        return SubmitResult(previous, created=False)
    if assignment.status == AssignmentStatus.RELEASED:
        raise ValidationError("This task was withdrawn from you; it has not been recorded.")
    project = assignment.project
    project_require_task(project, Task.PAIRWISE)
    _validate_answer(project, answer)
    try:
        with transaction.atomic():
            judgment = _create_judgment(assignment, answer)
            assignment_close(assignment)
            transaction.on_commit(lambda: fit_trigger_after_judgment(project=project),
                                  robust=True)
            transaction.on_commit(lambda: quality_gate_after_judgment(judgment=judgment))
    except IntegrityError:
        # A concurrent identical submission won the race: answer with its result.
        previous = _judgment_for_key(assignment)
        if previous is None:
            raise
        return SubmitResult(previous, created=False)
    return SubmitResult(judgment, created=True)


def judgment_undo(*, project: Project, rater: AbstractBaseUser, key: str
                  ) -> Assignment | None:
    """Withdraw the rater's judgment with idempotency ``key`` if it is their latest, and
    serve that pair again (same sides). Repeating the undo changes nothing more.
    """
    with transaction.atomic():
        judgment = (PairwiseJudgment.objects.select_for_update()
                    .filter(project=project, rater=rater, idempotency_key=key).first())
        latest = judgment_last_for_rater(project=project, rater=rater)
        if judgment is None or (judgment.undone_at is None and judgment != latest):
            raise ValidationError("Only your most recent judgment can be undone.")
        if judgment.undone_at is not None:
            return assignment_open_for_rater(project=project, rater=rater, pairwise=True)
        judgment.undone_at = timezone.now()
        judgment.save(update_fields=["undone_at"])
        _release_open_assignments(project, rater)
        return Assignment.objects.create(
            project=project, rater=rater, left_item_id=judgment.left_item_id,
            right_item_id=judgment.right_item_id, selection_strategy="undo",
            selection_probability=None, expires_at=lease_end(judgment.undone_at))


def _validate_answer(project: Project, answer: JudgmentInput) -> None:
    errors: dict[str, str] = {}
    allowed = {Outcome.LEFT, Outcome.RIGHT, Outcome.SKIP}
    allowed |= {Outcome.TIE} if project.allow_ties else set()
    allowed |= {Outcome.BOTH_BAD} if project.allow_both_bad else set()
    if answer.outcome not in allowed:
        errors["outcome"] = f"Choose one of: {', '.join(sorted(allowed))}."
    if problem := _strength_problem(project, answer):
        errors["strength"] = problem
    if problem := _criteria_problem(project, answer.criteria_outcomes):
        errors["criteria"] = problem
    if problem := _rationale_problem(project, answer):
        errors["rationale"] = problem
    if errors:
        raise ValidationError(errors)


def _strength_problem(project: Project, answer: JudgmentInput) -> str:
    if answer.outcome not in PREFERENCES:
        return "" if answer.strength is None else "Strength applies only to a preference."
    levels = len(project.strength_scale)
    if not levels:
        return "" if answer.strength is None else "This project has no strength scale."
    if answer.strength is None:
        return "Say how much better: choose a strength."
    if not 1 <= answer.strength <= levels:
        return f"Strength must be between 1 and {levels}."
    return ""


def _criteria_problem(project: Project, verdicts: dict[str, str]) -> str:
    unknown = sorted(set(verdicts) - set(project.criteria))
    if unknown:
        return f"Unknown criteria: {', '.join(unknown)}."
    bad = sorted(name for name, verdict in verdicts.items() if verdict not in CRITERION_VERDICTS)
    if bad:
        return f"Each criterion verdict must be left, right or tie ({', '.join(bad)})."
    return ""


def _rationale_problem(project: Project, answer: JudgmentInput) -> str:
    if len(answer.rationale) > MAX_RATIONALE_CHARS:
        return f"The rationale is limited to {MAX_RATIONALE_CHARS:,} characters."
    needs_rationale = project.rationale == RationaleMode.REQUIRED and answer.outcome != Outcome.SKIP
    if needs_rationale and not answer.rationale.strip():
        return "A rationale is required: explain your choice before submitting."
    if project.rationale == RationaleMode.OFF and answer.rationale.strip():
        return "This project does not collect rationales."
    return ""


def _create_judgment(assignment: Assignment, answer: JudgmentInput) -> PairwiseJudgment:
    left, right = assignment.left_item_id, assignment.right_item_id
    return PairwiseJudgment.objects.create(
        project_id=assignment.project_id, rater_id=assignment.rater_id, assignment=assignment,
        left_item_id=left, right_item_id=right, pair_low=min(left, right),
        pair_high=max(left, right), outcome=answer.outcome, strength=answer.strength,
        criteria_outcomes=answer.criteria_outcomes, rationale=answer.rationale.strip(),
        active_seconds=assignment_active_seconds(assignment, answer.active_seconds),
        guideline_version=assignment.project.guideline_version,
        selection_strategy=assignment.selection_strategy,
        selection_probability=assignment.selection_probability,
        idempotency_key=assignment.key)


def _judgment_for_key(assignment: Assignment) -> PairwiseJudgment | None:
    return PairwiseJudgment.objects.filter(rater_id=assignment.rater_id,
                                           idempotency_key=assignment.key).first()


def _release_open_assignments(project: Project, rater: AbstractBaseUser) -> None:
    Assignment.objects.filter(project=project, rater=rater, status=AssignmentStatus.OPEN,
                              right_item__isnull=False).update(
        status=AssignmentStatus.RELEASED, closed_at=timezone.now())


