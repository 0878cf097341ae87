"""Reads for the reviewer queue."""

from __future__ import annotations

from django.db.models import QuerySet

from annotations.models import PairwiseJudgment, Project, ReviewVerdict

REVIEW_FILTERS = {"unreviewed": "Not reviewed", ReviewVerdict.ACCEPTED: "Accepted",
                  ReviewVerdict.REJECTED: "Rejected", "all": "All"}


def judgments_for_review(project: Project, *, show: str = "unreviewed"
                         ) -> QuerySet[PairwiseJudgment]:
    """Live judgments of the project, newest first, filtered by review state."""
    judgments = (PairwiseJudgment.objects.filter(project=project, undone_at__isnull=True)
                 .select_related("rater", "left_item", "right_item", "review",
                                 "review__reviewer").order_by("-id"))
    if show == "unreviewed":
        return judgments.filter(review__isnull=True)
    if show in (ReviewVerdict.ACCEPTED, ReviewVerdict.REJECTED):
        return judgments.filter(review__verdict=show)
    return judgments
