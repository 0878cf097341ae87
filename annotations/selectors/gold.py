"""Gold pairs: which one to serve, and each rater's accuracy on them."""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)

from annotations.models import (
    GoldQuestion,
    GoldSettings,
    Outcome,
    PairwiseJudgment,
    Project,
)
from annotations.selectors.pairs import PairChoice

GOLD = "gold"


@dataclass(frozen=True)
class GoldScore:
    correct: int
    answered: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.answered if self.answered else None


def gold_rate(project: Project) -> float:
    settings = GoldSettings.objects.filter(project=project).first()
    return settings.rate if settings else 0.0


def gold_choice_for_rater(*, project: Project, rater: AbstractBaseUser,
                          rng: random.Random | None = None) -> PairChoice | None:
    """With probability equal to the project's gold rate, a gold pair this rater has not
    judged; ``None`` otherwise or when none is left. (Serving asks only when the rater holds
    no open pair.)"""
    rate = gold_rate(project)
    if rate <= 0 or (rng or random).random() >= rate:
        return None
    judged = PairwiseJudgment.objects.filter(project=project, rater=rater, undone_at__isnull=True,
                                             pair_low=OuterRef("item_low_id"),
                                             pair_high=OuterRef("item_high_id"))
    candidates = list(GoldQuestion.objects.filter(project=project).exclude(Exists(judged))
                      .values_list("item_low_id", "item_high_id"))
    if not candidates:
        return None
    low, high = (rng or random).choice(candidates)
    return PairChoice(low, high, GOLD, rate / len(candidates))


def gold_scores(*, project: Project, rater_ids: Collection[int] | None = None
                ) -> dict[int, GoldScore]:
    """Per rater: live, non-skip judgments of gold pairs, and how many were right."""
    rows = (gold_judgments(project, rater_ids).values("rater_id")
            .annotate(answered=Count("id"), correct=Sum(_correct())))
    return {row["rater_id"]: GoldScore(row["correct"] or 0, row["answered"]) for row in rows}


def gold_judgments(project: Project, rater_ids: Collection[int] | None = None
                   ) -> QuerySet[PairwiseJudgment]:
    gold = GoldQuestion.objects.filter(project=project, item_low_id=OuterRef("pair_low"),
                                       item_high_id=OuterRef("pair_high"))
    judgments = (PairwiseJudgment.objects.filter(project=project, undone_at__isnull=True)
                 .exclude(outcome=Outcome.SKIP)
                 .annotate(expected=Subquery(gold.values("expected_winner_id")[:1]))
                 .filter(Exists(gold)))
    return judgments if rater_ids is None else judgments.filter(rater_id__in=rater_ids)


def gold_questions_for_project(project: Project) -> QuerySet[GoldQuestion]:
    return (GoldQuestion.objects.filter(project=project)
            .select_related("item_low", "item_high", "expected_winner"))


def _correct() -> Case:
    return Case(
        When(Q(expected__isnull=True, outcome=Outcome.TIE), then=Value(1)),
        When(Q(outcome=Outcome.LEFT, left_item_id=F("expected")), then=Value(1)),
        When(Q(outcome=Outcome.RIGHT, right_item_id=F("expected")), then=Value(1)),
        default=Value(0), output_field=IntegerField())

