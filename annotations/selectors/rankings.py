"""Reads for k-way ranking tasks: a lease's items as shown, the prompt, a rater's progress
and last ranking (what ``u`` undoes)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q

from annotations.models import Item, Project, Ranking, RankingAssignment, RankingTask

LIVE_RANKING_OF_RATER = Q(undone_at__isnull=True)


@dataclass(frozen=True)
class RankingProgress:
    """Ranking tasks a rater has answered (skips included) of the project's tasks."""

    done: int
    total: int
    skipped: int
    noun: str = "rankings"

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def ranking_lease_items(assignment: RankingAssignment) -> list[Item]:
    """The lease's items in the order they were first shown."""
    by_id = Item.objects.in_bulk(assignment.shown_order)
    return [by_id[item_id] for item_id in assignment.shown_order]


def ranking_prompt(items: list[Item]) -> str:
    """The prompt shown once above the items: imports keep one prompt per group; for items
    imported before that rule, the prompt of the item imported first is the group's."""
    return min(items, key=lambda item: item.pk).prompt if items else ""


def ranking_last_for_rater(*, project: Project, rater: AbstractBaseUser) -> Ranking | None:
    """The rater's most recent ranking (or skip) that has not been undone."""
    return (Ranking.objects.filter(LIVE_RANKING_OF_RATER, project=project, rater=rater)
            .order_by("-id").first())


def rater_ranking_progress(*, project: Project, rater: AbstractBaseUser) -> RankingProgress:
    answered = (Ranking.objects.filter(LIVE_RANKING_OF_RATER, project=project, rater=rater,
                                       task__active=True)
                .aggregate(done=Count("id"), skipped=Count("id", filter=Q(skipped=True))))
    total = RankingTask.objects.filter(project=project, active=True).count()
    return RankingProgress(answered["done"], total, answered["skipped"])


def ranking_progress_by_project(*, rater: AbstractBaseUser, project_ids: list[int]
                                ) -> dict[int, tuple[int, int]]:
    """(answered, tasks) per project, for the project list."""
    done = dict(Ranking.objects.filter(LIVE_RANKING_OF_RATER, rater=rater, task__active=True,
                                       project_id__in=project_ids)
                .values_list("project").annotate(n=Count("id")).order_by())
    totals = dict(RankingTask.objects.filter(project_id__in=project_ids, active=True)
                  .values_list("project").annotate(n=Count("id")).order_by())
    return {project_id: (done.get(project_id, 0), total)
            for project_id, total in totals.items()}
