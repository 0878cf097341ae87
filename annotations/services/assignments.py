"""Leases of tasks to raters, shared by the pairwise and the fine-grained tasks.

An :class:`Assignment` with a ``right_item`` is a pair; without one, a single item. A rater
has at most one open task of each shape in a project; asking again returns it (renewing an
expired lease) so a reload or a second tab shows the same task.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotations.models import Assignment, Membership, Project
from annotations.models.judgment import AssignmentStatus
from annotations.services.raters import rater_serving_check

UNMEASURED_ACTIVE_CAP_SECONDS = 600.0


def assignment_open_or_new(*, project: Project, rater: AbstractBaseUser, pairwise: bool,
                           new: Callable[[datetime], Assignment | None]) -> Assignment | None:
    """The rater's open task of this shape, else ``new(now)`` (``None``: nothing left).

    Pauses, blocks and workload caps are checked before a new task is chosen.
    """
    now = timezone.now()
    with transaction.atomic():
        # One rater's concurrent requests (two tabs) queue here and share one assignment.
        Membership.objects.select_for_update().filter(project=project, user=rater).first()
        assignment = assignment_open_for_rater(project=project, rater=rater, pairwise=pairwise)
        if assignment is not None:
            if assignment.expires_at <= now:
                assignment.expires_at = lease_end(now)
                assignment.save(update_fields=["expires_at"])
            return assignment
        rater_serving_check(project=project, rater=rater)
        return new(now)


def assignment_open_for_rater(*, project: Project, rater: AbstractBaseUser, pairwise: bool
                              ) -> Assignment | None:
    return (Assignment.objects.select_related("left_item", "right_item")
            .filter(project=project, rater=rater, status=AssignmentStatus.OPEN,
                    right_item__isnull=not pairwise)
            .order_by("-id").first())


def assignment_close(assignment: Assignment) -> None:
    assignment.status, assignment.closed_at = AssignmentStatus.DONE, timezone.now()
    assignment.save(update_fields=["status", "closed_at"])


def assignment_active_seconds(assignment: Assignment, reported: float | None) -> float:
    """The client's measure of active time, never more than the time since serving; without
    one (no JavaScript), the time since serving, capped."""
    elapsed = max((timezone.now() - assignment.created_at).total_seconds(), 0.0)
    if reported is None:
        return min(elapsed, UNMEASURED_ACTIVE_CAP_SECONDS)
    return min(max(reported, 0.0), elapsed)


def lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.ASSIGNMENT_LEASE_SECONDS)
