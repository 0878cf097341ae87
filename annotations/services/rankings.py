"""Serving ranking tasks to raters and recording their rankings, exactly once.

Serving (:func:`ranking_assignment_lease`): the rater's open ranking lease, else a new one
on a task they have not ranked (or skipped), whose live rankings plus open leases of other
raters are under ``Project.ranking_overlap``, with the fewest live rankings; among those,
the first at or after a uniform random pivot in the tasks' random ``sort_key`` order (so
the choice is random, and its probability, the pivot's arc, is recorded). The candidate
row is locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` (concurrent raters take other
tasks instead of waiting) and its room is counted again after the lock, in a new
statement, so concurrent raters never exceed the overlap. Each step is an index-ordered
scan that stops at the first fit: no scan of all tasks, and nothing grows with the group
size squared.

Recording (:func:`ranking_submit`): idempotency key first, one transaction (the ranking,
its places, the task's live count, the lease closed), the unique-constraint race
answered with the first result, fits requested after the commit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotations.access import Task, project_require_task
from annotations.fit_kinds import KINDS
from annotations.models import (
    Membership,
    Project,
    Ranking,
    RankingAssignment,
    RankingPlace,
    RankingTask,
)
from annotations.models.judgment import AssignmentStatus
from annotations.selectors.rankings import ranking_last_for_rater
from annotations.services.assignments import assignment_active_seconds, lease_end
from annotations.services.fits import fit_trigger_for_kind
from annotations.services.raters import rater_serving_check

FEWEST_RANKINGS = "fewest_rankings"
UNDO = "undo"
MAX_LOCK_TRIES = 8  # candidates whose room vanished under a concurrent lease, then give up


@dataclass(frozen=True)
class RankingInput:
    """What the rater answered: item ids best first (all of the task's), or a skip."""

    order: tuple[int, ...] = ()
    skip: bool = False
    active_seconds: float | None = None


@dataclass(frozen=True)
class RankingResult:
    ranking: Ranking
    created: bool  # False when this was a repeat of an earlier submission


@dataclass(frozen=True)
class TaskChoice:
    task: RankingTask
    strategy: str
    probability: float


def ranking_assignment_lease(*, project: Project, rater: AbstractBaseUser
                             ) -> RankingAssignment | None:
    """The rater's open ranking lease (renewed while its task has room), or a new one;
    ``None`` when no task is left for this rater. Creates or renews a lease."""
    project_require_task(project, Task.RANKING)
    now = timezone.now()
    with transaction.atomic():
        # One rater's concurrent requests (two tabs) queue here and share one lease.
        Membership.objects.select_for_update().filter(project=project, user=rater).first()
        lease = ranking_lease_open(project=project, rater=rater)
        if lease is not None and _renewed(lease, now):
            return lease
        rater_serving_check(project=project, rater=rater)
        choice = ranking_task_choose(project=project, rater=rater, now=now)
        if choice is None:
            return None
        return RankingAssignment.objects.create(
            project=project, rater=rater, task=choice.task,
            shown_order=random.sample(choice.task.item_ids, choice.task.size),
            selection_strategy=choice.strategy, selection_probability=choice.probability,
            expires_at=lease_end(now))


def ranking_lease_open(*, project: Project, rater: AbstractBaseUser
                       ) -> RankingAssignment | None:
    return (RankingAssignment.objects.select_related("task")
            .filter(project=project, rater=rater, status=AssignmentStatus.OPEN)
            .order_by("-id").first())


def _renewed(lease: RankingAssignment, now: datetime) -> bool:
    """Keep a current lease; renew an expired one only if its task still has room (others
    may have taken its place meanwhile), else release it."""
    if lease.expires_at > now:
        return True
    try:
        with transaction.atomic():  # a savepoint: no room, and the task's lock is let go
            task = RankingTask.objects.select_for_update().get(pk=lease.task_id)
            if not _has_room(task, lease.rater, now, lease.project.ranking_overlap):
                raise _NoRoom(task.pk)
            lease.expires_at = lease_end(now)
            lease.save(update_fields=["expires_at"])
            return True
    except _NoRoom:
        _close(lease, AssignmentStatus.RELEASED)
        return False


class _NoRoom(Exception):
    def __init__(self, task_id: int) -> None:
        super().__init__(task_id)
        self.task_id = task_id


def ranking_task_choose(*, project: Project, rater: AbstractBaseUser, now: datetime
                        ) -> TaskChoice | None:
    """Lock and return the next task for ``rater`` (see the module docstring); call inside
    the transaction that creates the lease.

    Each candidate is tried in a savepoint: one whose room vanished under a concurrent
    lease is let go (rolling the savepoint back releases its lock) before the next is
    tried, so waiting for a lock never happens while holding another: no deadlocks.
    """
    eligible = _eligible(project, rater, now)
    pivot = random.random()
    tried: list[int] = []
    for _ in range(MAX_LOCK_TRIES):
        candidates = eligible.exclude(pk__in=tried)
        fewest = (candidates.order_by("n_live", "sort_key")
                  .values_list("n_live", flat=True).first())
        if fewest is None:
            return None
        level = candidates.filter(n_live=fewest)
        try:
            with transaction.atomic():
                task = (_lock_at_or_after(level, pivot, skip_locked=True)
                        # every candidate is being leased right now: wait for the first
                        or _lock_at_or_after(level, pivot, skip_locked=False))
                if task is None:
                    continue
                if not _has_room(task, rater, now, project.ranking_overlap):
                    raise _NoRoom(task.pk)
                return TaskChoice(task, FEWEST_RANKINGS, _arc(level, task))
        except _NoRoom as no_room:
            tried.append(no_room.task_id)
    return None


def _eligible(project: Project, rater: AbstractBaseUser, now: datetime
              ) -> QuerySet[RankingTask]:
    """Active tasks the rater has not ranked or skipped, with room under the overlap as far
    as this statement can see (rechecked after the lock)."""
    leased = (RankingAssignment.objects
              .filter(task=OuterRef("pk"), status=AssignmentStatus.OPEN, expires_at__gt=now)
              .exclude(rater=rater).order_by().values("task").annotate(n=Count("pk"))
              .values("n"))
    mine = Ranking.objects.filter(task=OuterRef("pk"), rater=rater, undone_at__isnull=True)
    return (RankingTask.objects.filter(project=project, active=True,
                                       n_live__lt=project.ranking_overlap)
            .annotate(leased=Coalesce(Subquery(leased), Value(0)))
            .filter(leased__lt=project.ranking_overlap - F("n_live"))
            .exclude(Exists(mine)))


def _lock_at_or_after(level: QuerySet[RankingTask], pivot: float, *, skip_locked: bool
                      ) -> RankingTask | None:
    """The first (unlocked, with ``skip_locked``) task at or after ``pivot`` in
    ``sort_key`` order, wrapping around."""
    locking = level.order_by("sort_key").select_for_update(skip_locked=skip_locked,
                                                           of=("self",))
    return (locking.filter(sort_key__gte=pivot).first()
            or locking.filter(sort_key__lt=pivot).first())


def _arc(level: QuerySet[RankingTask], task: RankingTask) -> float:
    """The chance the pivot picked ``task``: the arc from the previous candidate's key."""
    keys = level.order_by("sort_key").values_list("sort_key", flat=True)
    before = keys.filter(sort_key__lt=task.sort_key).last()
    if before is None:
        last = keys.last()
        before = (last - 1.0) if last is not None and last != task.sort_key else None
    return 1.0 if before is None else task.sort_key - before


def _has_room(task: RankingTask, rater: AbstractBaseUser, now: datetime, overlap: int
              ) -> bool:
    """Counted in fresh statements after the task's row is locked, so every lease of this
    task committed before is seen."""
    live = RankingTask.objects.filter(pk=task.pk).values_list("n_live", flat=True).get()
    leased = (RankingAssignment.objects
              .filter(task=task, status=AssignmentStatus.OPEN, expires_at__gt=now)
              .exclude(rater=rater).count())
    return live + leased < overlap


def ranking_submit(*, assignment: RankingAssignment, answer: RankingInput) -> RankingResult:
    """Record the rater's ranking of ``assignment`` once; repeats return the first result."""
    previous = _ranking_for_key(assignment)
    if previous is not None:
        return RankingResult(previous, created=False)
    if assignment.status == AssignmentStatus.RELEASED:
        raise ValidationError("This task was withdrawn from you; it has not been recorded.")
    project = assignment.project
    project_require_task(project, Task.PAIRWISE)
    _validate(assignment, answer)
    try:
        with transaction.atomic():
            ranking = _create_ranking(assignment, answer)
            if not answer.skip:
                RankingTask.objects.filter(pk=assignment.task_id).update(
                    n_live=F("n_live") + 1)
            _close(assignment, AssignmentStatus.DONE)
            transaction.on_commit(lambda: ranking_fits_after_commit(project=project),
                                  robust=True)
    except IntegrityError:
        # A concurrent identical submission won the race: answer with its result.
        previous = _ranking_for_key(assignment)
        if previous is None:
            raise
        return RankingResult(previous, created=False)
    return RankingResult(ranking, created=True)


def ranking_fits_after_commit(*, project: Project) -> None:
    """Request each kind of fit that reads rankings when enough new ones arrived."""
    for spec in KINDS.values():
        if spec.rows is Ranking:
            fit_trigger_for_kind(project=project, kind=spec.kind)


def _validate(assignment: RankingAssignment, answer: RankingInput) -> None:
    if answer.skip:
        if answer.order:
            raise ValidationError({"order": "A skipped task has no ranking."})
        return
    expected = set(assignment.task.item_ids)
    if len(answer.order) != len(expected) or set(answer.order) != expected:
        raise ValidationError({"order": f"Give each of the {len(expected)} responses its own "
                                        "place, from 1 (best) down."})


def _create_ranking(assignment: RankingAssignment, answer: RankingInput) -> Ranking:
    ranking = Ranking.objects.create(
        project_id=assignment.project_id, rater_id=assignment.rater_id,
        task_id=assignment.task_id, assignment=assignment,
        size=0 if answer.skip else len(answer.order), skipped=answer.skip,
        active_seconds=assignment_active_seconds(assignment, answer.active_seconds),
        guideline_version=assignment.project.guideline_version,
        selection_strategy=assignment.selection_strategy,
        selection_probability=assignment.selection_probability,
        idempotency_key=assignment.key)
    shown = {item_id: position for position, item_id in enumerate(assignment.shown_order, 1)}
    RankingPlace.objects.bulk_create([
        RankingPlace(ranking=ranking, item_id=item_id, rank=rank, shown=shown[item_id])
        for rank, item_id in enumerate(answer.order, 1)])
    return ranking


def _ranking_for_key(assignment: RankingAssignment) -> Ranking | None:
    return Ranking.objects.filter(rater_id=assignment.rater_id,
                                  idempotency_key=assignment.key).first()


def _close(lease: RankingAssignment, status: str) -> None:
    lease.status, lease.closed_at = status, timezone.now()
    lease.save(update_fields=["status", "closed_at"])


def ranking_undo(*, project: Project, rater: AbstractBaseUser, key: str
                 ) -> RankingAssignment | None:
    """Withdraw the rater's ranking with idempotency ``key`` if it is their latest, and
    serve its task again, starting from the order they gave. Repeating changes nothing."""
    with transaction.atomic():
        ranking = (Ranking.objects.select_for_update()
                   .filter(project=project, rater=rater, idempotency_key=key).first())
        latest = ranking_last_for_rater(project=project, rater=rater)
        if ranking is None or (ranking.undone_at is None and ranking != latest):
            raise ValidationError("Only your most recent ranking can be undone.")
        if ranking.undone_at is not None:
            return ranking_lease_open(project=project, rater=rater)
        ranking.undone_at = timezone.now()
        ranking.save(update_fields=["undone_at"])
        task = RankingTask.objects.select_for_update().get(pk=ranking.task_id)
        if not ranking.skipped:
            RankingTask.objects.filter(pk=task.pk).update(n_live=F("n_live") - 1)
        for lease in RankingAssignment.objects.filter(project=project, rater=rater,
                                                      status=AssignmentStatus.OPEN):
            _close(lease, AssignmentStatus.RELEASED)
        return RankingAssignment.objects.create(
            project=project, rater=rater, task=task, shown_order=_given_order(ranking),
            selection_strategy=UNDO, selection_probability=None,
            expires_at=lease_end(ranking.undone_at))


def _given_order(ranking: Ranking) -> list[int]:
    if ranking.skipped:
        lease = ranking.assignment
        return list(lease.shown_order) if lease else list(ranking.task.item_ids)
    return list(ranking.places.order_by("rank").values_list("item_id", flat=True))
