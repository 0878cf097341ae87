"""What raters are served (assignments) and what they answer (judgments)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from annotations.models.project import Item, Project


class AssignmentStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    RELEASED = "released", "Released"


class Assignment(models.Model):
    """A task leased to one rater until ``expires_at``.

    ``key`` is the idempotency key the rater's submission carries: two tabs or a retried
    POST showing the same assignment submit the same key and produce one judgment.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="assignments")
    left_item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    right_item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+",
                                   null=True, blank=True)
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
            models.Index(fields=["project", "rater", "status"], name="assignment_rater_status"),
            models.Index(fields=["project", "status", "expires_at"], name="assignment_open"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} for {self.rater}"


class Outcome(models.TextChoices):
    LEFT = "left", "Left is better"
    RIGHT = "right", "Right is better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both bad"
    SKIP = "skip", "Skip"


class PairwiseJudgment(models.Model):
    """One rater's verdict on two items, as they were shown (left and right).

    ``pair_low``/``pair_high`` hold the two item ids in ascending order (checked by the
    database) so that "has this pair been judged" is an indexed lookup.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judgments")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="judgments")
    assignment = models.OneToOneField(Assignment, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="judgment")
    left_item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    right_item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    pair_low = models.BigIntegerField()
    pair_high = models.BigIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome)
    strength = models.PositiveSmallIntegerField(null=True, blank=True,
                                                help_text="1 = weakest level of the scale.")
    criteria_outcomes = models.JSONField(default=dict, blank=True)
    rationale = models.TextField(blank=True)
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
                                    name="judgment_unique_idempotency_key"),
            models.CheckConstraint(condition=~Q(left_item=F("right_item")),
                                   name="judgment_two_items"),
            models.CheckConstraint(
                condition=Q(pair_low__lt=F("pair_high"))
                & (
                    Q(pair_low=F("left_item"), pair_high=F("right_item"))
                    | Q(pair_low=F("right_item"), pair_high=F("left_item"))
                ),
                name="judgment_pair_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "pair_low", "pair_high"], name="judgment_pair"),
            models.Index(fields=["rater", "project", "pair_low", "pair_high"],
                         name="judgment_rater_pair"),
            models.Index(fields=["project", "created_at"], name="judgment_project_time"),
        ]

    def __str__(self) -> str:
        return f"judgment {self.pk}: {self.outcome}"

    @property
    def winner(self) -> Item | None:
        return {Outcome.LEFT: self.left_item, Outcome.RIGHT: self.right_item}.get(self.outcome)
