"""Reads for the pool pages: members, attached projects, activity and quality."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from annotations.models import (
    Outcome,
    PairwiseJudgment,
    PoolMembership,
    Project,
    RaterPool,
    RaterState,
    RaterStatus,
)
from annotations.selectors.gold import gold_scores

ACTIVITY_DAYS = 14
ACTIVE_WITHIN_DAYS = 7
QUALITY_BINS = ((0.0, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0001))


@dataclass(frozen=True)
class PoolRow:
    pool: RaterPool
    members: int
    projects: int


@dataclass(frozen=True)
class QualityBin:
    low: float
    high: float
    raters: int


@dataclass(frozen=True)
class PoolStats:
    members: int
    active_raters: int  # not paused/blocked globally, and judged in the last 7 days
    suspended: int  # paused or blocked globally
    per_day: list[tuple[date, int]]  # judgments in attached projects, last 14 days
    quality: list[QualityBin]  # gold accuracy of members (pooled over attached projects)
    no_gold: int  # members without gold answers yet

    @property
    def max_per_day(self) -> int:
        return max((count for _day, count in self.per_day), default=0)


def pool_rows(pools: QuerySet[RaterPool]) -> list[PoolRow]:
    annotated = pools.annotate(n_members=Count("memberships", distinct=True),
                               n_projects=Count("attachments", distinct=True)).order_by("name")
    return [PoolRow(pool, pool.n_members, pool.n_projects) for pool in annotated]


def pool_members(pool: RaterPool) -> QuerySet[PoolMembership]:
    return pool.memberships.select_related("user").order_by("user__username")


def pool_projects(pool: RaterPool) -> QuerySet[Project]:
    return Project.objects.filter(pool_attachments__pool=pool).order_by("name")


def pool_stats(pool: RaterPool) -> PoolStats:
    member_ids = list(pool.memberships.values_list("user_id", flat=True))
    projects = list(pool_projects(pool))
    judgments = (PairwiseJudgment.objects.filter(rater_id__in=member_ids, project__in=projects,
                                                 undone_at__isnull=True)
                 .exclude(outcome=Outcome.SKIP))
    today = timezone.now().date()
    since = today - timedelta(days=ACTIVITY_DAYS - 1)
    counts = dict(judgments.filter(created_at__date__gte=since)
                  .annotate(day=TruncDate("created_at")).values_list("day")
                  .annotate(n=Count("id")).values_list("day", "n"))
    recent = set(judgments.filter(
        created_at__gte=timezone.now() - timedelta(days=ACTIVE_WITHIN_DAYS))
        .values_list("rater_id", flat=True).distinct())
    suspended = set(RaterStatus.objects.filter(user_id__in=member_ids).exclude(
        status=RaterState.ACTIVE).values_list("user_id", flat=True))
    accuracies = _pooled_gold_accuracy(projects, member_ids)
    return PoolStats(
        members=len(member_ids), active_raters=len(recent - suspended), suspended=len(suspended),
        per_day=[(since + timedelta(days=offset), counts.get(since + timedelta(days=offset), 0))
                 for offset in range(ACTIVITY_DAYS)],
        quality=[QualityBin(low, min(high, 1.0), sum(low <= value < high
                                                     for value in accuracies.values()))
                 for low, high in QUALITY_BINS],
        no_gold=len(set(member_ids) - set(accuracies)))


def pools_for_member(user: AbstractBaseUser) -> QuerySet[RaterPool]:
    return RaterPool.objects.filter(memberships__user=user)


def _pooled_gold_accuracy(projects: list[Project], member_ids: list[int]) -> dict[int, float]:
    correct: dict[int, int] = {}
    answered: dict[int, int] = {}
    for project in projects:
        for rater, score in gold_scores(project=project, rater_ids=member_ids).items():
            correct[rater] = correct.get(rater, 0) + score.correct
            answered[rater] = answered.get(rater, 0) + score.answered
    return {rater: correct[rater] / answered[rater] for rater in answered if answered[rater]}
