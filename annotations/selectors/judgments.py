"""Reads of judgments."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from annotations.models import PairwiseJudgment, Project


def judgment_last_for_rater(*, project: Project, rater: AbstractBaseUser
                            ) -> PairwiseJudgment | None:
    """The rater's most recent judgment that has not been undone (what ``u`` undoes)."""
    return (PairwiseJudgment.objects.filter(project=project, rater=rater, undone_at__isnull=True)
            .order_by("-id").first())

