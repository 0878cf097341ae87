"""Reads for k-way ranking tasks: a lease's items as shown, the prompt, a rater's progress
and last ranking (what ``u`` undoes)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q

from annotations.models import (
    Item,
    Project,
    Ranking,
    RankingAssignment,
    RankingPlace,
    RankingTask,
)

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


@dataclass(frozen=True)
class RankingDesignSummary:
    """What the lead's settings page says about the current ranking tasks."""

    tasks: int
    full: int  # tasks with as many live rankings as the overlap allows
    rankings: int  # live rankings of the current tasks
    whole: int  # groups ranked whole (one task)
    short: int  # ... of them with fewer than k items
    split: int  # groups split into several tasks
    single: int  # groups of one item (nothing to rank)


def ranking_design_summary(*, project: Project) -> RankingDesignSummary:
    tasks = RankingTask.objects.filter(project=project, active=True)
    sizes = dict(Item.objects.filter(project=project).values_list("group")
                 .annotate(n=Count("id")).order_by())
    per_group = dict(tasks.values_list("group").annotate(n=Count("id")).order_by())
    whole = [group for group, count in per_group.items() if count == 1]
    return RankingDesignSummary(
        tasks=sum(per_group.values()),
        full=tasks.filter(n_live__gte=project.ranking_overlap).count(),
        rankings=Ranking.objects.filter(task__in=tasks, skipped=False,
                                        undone_at__isnull=True).count(),
        whole=len(whole),
        short=sum(1 for group in whole if sizes.get(group, 0) < project.ranking_size),
        split=len(per_group) - len(whole),
        single=sum(1 for size in sizes.values() if size == 1))


def live_ranking_orders(*, project: Project) -> dict[int, list[tuple[int, list[int]]]]:
    """Per task: (rater, item ids best first) of each live ranking (skips and undone ones
    left out), for agreement measures."""
    orders: dict[int, dict[int, tuple[int, list[int]]]] = {}
    places = (RankingPlace.objects.filter(ranking__project=project, ranking__skipped=False,
                                          ranking__undone_at__isnull=True)
              .order_by("ranking_id", "rank")
              .values_list("ranking__task_id", "ranking_id", "ranking__rater_id", "item_id"))
    for task_id, ranking_id, rater_id, item_id in places.iterator(chunk_size=10_000):
        orders.setdefault(task_id, {}).setdefault(ranking_id, (rater_id, []))[1].append(item_id)
    return {task_id: list(rankings.values()) for task_id, rankings in orders.items()}


def ranking_consensus_agreement(*, project: Project, min_others: int
                                ) -> dict[int, tuple[int, int]]:
    """Per rater: (agreed, compared) over the pairs their rankings imply on tasks that at
    least ``min_others`` other raters ranked: a pair agrees when the strict majority of
    the others ordered it the same way (pairs without one are not counted)."""
    tally: dict[int, list[int]] = {}
    for rankings in live_ranking_orders(project=project).values():
        if len(rankings) <= min_others:
            continue
        positions = [(rater, {item: place for place, item in enumerate(order)})
                     for rater, order in rankings]
        for rater, mine in positions:
            counts = tally.setdefault(rater, [0, 0])
            for first, second in combinations(sorted(mine), 2):
                above = sum(1 for who, other in positions if who != rater
                            and first in other and second in other
                            and other[first] < other[second])
                below = len(positions) - 1 - above
                if above != below:
                    counts[0] += (mine[first] < mine[second]) == (above > below)
                    counts[1] += 1
    return {rater: (agreed, compared) for rater, (agreed, compared) in tally.items()}
