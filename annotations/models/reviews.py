"""A reviewer's verdict on one judgment. Rejected judgments are kept but left out of fits
and exports (annotations.selectors.raters.judgments_for_fit)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotations.models.judgment import PairwiseJudgment


class ReviewVerdict(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class JudgmentReview(models.Model):
    judgment = models.OneToOneField(PairwiseJudgment, on_delete=models.CASCADE,
                                    related_name="review")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="+")
    verdict = models.CharField(max_length=10, choices=ReviewVerdict)
    reason = models.CharField(max_length=1000, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.verdict} judgment {self.judgment_id}"
