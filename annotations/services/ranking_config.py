"""A lead's ranking settings, and the ranking tasks they imply (the design).

Rankings are a task shape of pairwise projects, not a project kind of their own: they
rank the same items within the same groups as pairs, and both land on one scale (the
Bradley-Terry fit uses each ranking's implied pairwise wins, Plackett-Luce fits the
rankings themselves), so the dashboard, leaderboards and exports stay one per project.

The design: a group with at most k items is one task (ranked whole; at least two items);
a larger group is split, in a random order fixed per design, into windows of k items
that overlap in one item and wrap around (a ring), so every item is ranked and the group
stays connected with ceil((n - 1) / (k - 1)) tasks. Tasks are rebuilt for a group whose items
or k changed; the old tasks stay (inactive) with their rankings, which fits still use.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from annotations.access import Task, project_require_task
from annotations.models import Item, Project, RankingMode, RankingTask
from annotations.models.project import MAX_RANKING_OVERLAP, RANKING_SIZES
from annotations.services.audit import Actor, audit_record

RANKING_FIELDS = ("ranking_mode", "ranking_size", "ranking_overlap")


@dataclass(frozen=True)
class RankingSettings:
    mode: str
    size: int
    overlap: int


def project_ranking_configure(*, actor: Actor, project: Project,
                              settings: RankingSettings) -> Project:
    """Change the project's ranking settings (audited) and build the tasks they imply."""
    project_require_task(project, Task.PAIRWISE)
    _validate(settings)
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        wanted = {"ranking_mode": settings.mode, "ranking_size": settings.size,
                  "ranking_overlap": settings.overlap}
        changed = {name: value for name, value in wanted.items()
                   if getattr(locked, name) != value}
        if not changed:
            return locked
        before = {name: getattr(locked, name) for name in changed}
        for name, value in changed.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*changed, "updated_at"])
        created = ranking_tasks_sync(project=locked)
        audit_record(actor=actor, action="project.ranking", target=locked, project=locked,
                     before=before, after={**changed, "tasks_created": created})
    return locked


def _validate(settings: RankingSettings) -> None:
    errors = {}
    if settings.mode not in RankingMode.values:
        errors["mode"] = f"Unknown ranking mode {settings.mode!r}."
    low, high = RANKING_SIZES
    if not low <= settings.size <= high:
        errors["size"] = f"Rank between {low} and {high} responses at a time."
    if not 1 <= settings.overlap <= MAX_RANKING_OVERLAP:
        errors["overlap"] = f"Between 1 and {MAX_RANKING_OVERLAP} raters per ranking task."
    if errors:
        raise ValidationError(errors)


def ranking_tasks_sync(*, project: Project, groups: Iterable[str] | None = None) -> int:
    """Build the ranking tasks of ``project`` (of ``groups`` only, e.g. after an import)
    whose design is missing or out of date; returns how many were created. Nothing while
    the project serves no rankings (the design is built when they are turned on)."""
    if not project.serves_rankings:
        return 0
    items = Item.objects.filter(project=project)
    tasks = RankingTask.objects.filter(project=project, active=True)
    if groups is not None:
        wanted = sorted(set(groups))
        items, tasks = items.filter(group__in=wanted), tasks.filter(group__in=wanted)
    current = dict(tasks.values_list("group", "design").distinct())
    stale: list[str] = []
    new: list[RankingTask] = []
    for group, ids in _item_ids_by_group(items):
        design = _design(project.ranking_size, ids)
        if len(ids) < 2 or current.get(group) == design:
            continue
        if group in current:
            stale.append(group)
        new.extend(_group_tasks(project, group, ids, design))
    RankingTask.objects.filter(project=project, active=True, group__in=stale).update(
        active=False)
    RankingTask.objects.bulk_create(new, batch_size=2000)
    return len(new)


def _item_ids_by_group(items: QuerySet[Item]) -> Iterator[tuple[str, list[int]]]:
    rows = items.order_by("group", "id").values_list("group", "id")
    for group, pairs in groupby(rows.iterator(chunk_size=10_000), key=lambda row: row[0]):
        yield group, [item_id for _group, item_id in pairs]


def _design(size: int, ids: list[int]) -> str:
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:40]
    return f"k{size}:n{len(ids)}:{digest}"


def _group_tasks(project: Project, group: str, ids: list[int], design: str
                 ) -> list[RankingTask]:
    rng = random.Random(f"{project.pk}:{group}:{design}")
    return [RankingTask(project=project, group=group, item_ids=window, design=design,
                        sort_key=rng.random())
            for window in ring_windows(ids, project.ranking_size, rng)]


def ring_windows(ids: list[int], size: int, rng: random.Random) -> list[list[int]]:
    """All of ``ids`` when there are at most ``size``; else windows of ``size`` over a
    shuffled ring, each starting on the last item of the one before."""
    if len(ids) <= size:
        return [list(ids)]
    ring = list(ids)
    rng.shuffle(ring)
    stride = size - 1
    starts = range(0, len(ring) - 1, stride)  # the last window reaches the last item
    return [[ring[(start + offset) % len(ring)] for offset in range(size)] for start in starts]
