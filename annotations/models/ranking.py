"""k-way ranking: a rater orders k responses of one group (one prompt), best first.

Rankings are a task shape of pairwise projects (``Project.ranking_mode``): they rank the
same items within the same groups, and both feed one scale (Plackett-Luce generalizes
Bradley-Terry; each ranking implies its pairwise wins).

* :class:`RankingTask`: a set of items of one group that raters rank; the unit of overlap
  (at most ``Project.ranking_overlap`` live rankings, open leases included) and of "not
  ranked by this rater before". A group with at most k items is one task; a larger group
  is split into tasks of k that overlap in one item (a ring), so its ranking stays
  connected. Tasks are rebuilt when the group's items or k change (the old ones are kept,
  inactive, with their rankings).
* :class:`RankingAssignment`: a lease of a task to a rater (its own shape: pairs and
  single items lease :class:`~annotations.models.judgment.Assignment`), with the order in
  which the items were shown.
* :class:`Ranking` with one :class:`RankingPlace` per item: the answer, once per task key.
  There are no ties: Plackett-Luce has none (each place is a choice of the best of what
  is left), so every place is strict.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotations.models.judgment import AssignmentStatus
from annotations.models.project import Item, Project


class RankingTask(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="ranking_tasks")
    group = models.CharField(max_length=255)
    item_ids = models.JSONField(help_text="The items to rank (ids, in design order).")
    design = models.CharField(max_length=64, help_text="k and the group's items when this "
                                                       "task was built; a change rebuilds.")
    n_live = models.PositiveIntegerField(
        default=0, help_text="Live rankings of this task (not skipped, not undone); with the "
                             "open leases, what the overlap bounds.")
    sort_key = models.FloatField(help_text="Uniform random: serving order among equals.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "active", "n_live", "sort_key"],
                         name="rankingtask_serving"),
            models.Index(fields=["project", "group"], name="rankingtask_group"),
        ]

    def __str__(self) -> str:
        return f"ranking task {self.pk} ({self.group}, {len(self.item_ids)} items)"

    @property
    def size(self) -> int:
        return len(self.item_ids)


class RankingAssignment(models.Model):
    """A ranking task leased to one rater until ``expires_at``; ``key`` is the idempotency
    key the submission carries (two tabs or a retried POST give one ranking)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE,
                                related_name="ranking_assignments")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="ranking_assignments")
    task = models.ForeignKey(RankingTask, on_delete=models.CASCADE, related_name="leases")
    shown_order = models.JSONField(help_text="Item ids in the order first shown (random).")
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=10, choices=AssignmentStatus,
                              default=AssignmentStatus.OPEN)
    selection_strategy = models.CharField(max_length=50)
    selection_probability = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "rater", "status"], name="rankinglease_rater"),
            models.Index(fields=["task", "status", "expires_at"], name="rankinglease_task"),
        ]

    def __str__(self) -> str:
        return f"ranking lease {self.pk} for {self.rater}"


class Ranking(models.Model):
    """One rater's order of a task's items (``places``), or a skip (no places)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rankings")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="rankings")
    task = models.ForeignKey(RankingTask, on_delete=models.PROTECT, related_name="rankings")
    assignment = models.OneToOneField(RankingAssignment, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="ranking")
    size = models.PositiveSmallIntegerField(help_text="Items ranked (0 for a skip).")
    skipped = models.BooleanField(default=False)
    active_seconds = models.FloatField(help_text="Time the rater spent active on this task.")
    guideline_version = models.PositiveIntegerField()
    selection_strategy = models.CharField(max_length=50)
    selection_probability = models.FloatField(null=True, blank=True)
    idempotency_key = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rater", "idempotency_key"],
                                    name="ranking_unique_idempotency_key"),
            models.CheckConstraint(condition=Q(skipped=True, size=0) | Q(skipped=False,
                                                                         size__gte=2),
                                   name="ranking_size_or_skip"),
        ]
        indexes = [
            models.Index(fields=["task", "rater"], name="ranking_task_rater"),
            models.Index(fields=["project", "rater", "created_at"], name="ranking_rater_time"),
        ]

    def __str__(self) -> str:
        return f"ranking {self.pk}" + (" (skipped)" if self.skipped else "")


class RankingPlace(models.Model):
    """Item ``item`` at place ``rank`` (1 = best) of ``ranking``; ``shown`` is where it was
    first shown (1 = top), so a lead can see how often the shown order was kept."""

    ranking = models.ForeignKey(Ranking, on_delete=models.CASCADE, related_name="places")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    rank = models.PositiveSmallIntegerField()
    shown = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["ranking_id", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["ranking", "item"], name="rankingplace_item_once"),
            models.UniqueConstraint(fields=["ranking", "rank"], name="rankingplace_rank_once"),
            models.CheckConstraint(condition=Q(rank__gte=1) & Q(shown__gte=1),
                                   name="rankingplace_from_one"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} at {self.rank}"
