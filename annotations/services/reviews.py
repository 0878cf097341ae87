"""Reviewers accept or reject judgments, with a reason. A rejected judgment is kept (and so
is the history, in the audit log) but fits and exports leave it out."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from annotations.models import JudgmentReview, PairwiseJudgment, ReviewVerdict
from annotations.services.audit import Actor, audit_record

MAX_REVIEW_REASON = 1000


def judgment_review(*, actor: Actor, judgment: PairwiseJudgment, verdict: str,
                    reason: str = "") -> JudgmentReview:
    """Record (or change) the verdict on ``judgment``. Rejections need a reason; nobody
    reviews their own judgments."""
    reason = reason.strip()
    errors: dict[str, str] = {}
    if verdict not in ReviewVerdict.values:
        errors["verdict"] = "Choose accept or reject."
    if verdict == ReviewVerdict.REJECTED and not reason:
        errors["reason"] = "Say why the judgment is rejected; the reason is kept with it."
    if len(reason) > MAX_REVIEW_REASON:
        errors["reason"] = f"Reasons are at most {MAX_REVIEW_REASON} characters."
    if actor.user is not None and judgment.rater_id == actor.user.pk:
        errors["verdict"] = "You cannot review your own judgments."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        review = JudgmentReview.objects.select_for_update().filter(judgment=judgment).first()
        before = _review_state(review)
        review = review or JudgmentReview(judgment=judgment)
        review.reviewer, review.verdict, review.reason = actor.user, verdict, reason
        review.save()
        audit_record(actor=actor, action="judgment.review", target=judgment,
                     project=judgment.project, before=before, after=_review_state(review))
    return review


def _review_state(review: JudgmentReview | None) -> dict[str, object]:
    if review is None:
        return {}
    return {"verdict": review.verdict, "reason": review.reason,
            "reviewer": review.reviewer.get_username()}
