"""Automatic quality gates and the notices they leave for leads."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotations.models.project import Project


class GateSignal(models.TextChoices):
    """Where a gate reads its number; each is a pluggable source in services/gating.py."""

    GOLD_ACCURACY = "gold_accuracy", "Gold accuracy"
    CROWD_BT_RELIABILITY = "crowd_bt_reliability", "Crowd-BT reliability"
    RASCH_INFIT = "rasch_infit", "Rasch infit mean-square"
    RASCH_OUTFIT = "rasch_outfit", "Rasch outfit mean-square"


class GateComparison(models.TextChoices):
    BELOW = "below", "pause when below"
    ABOVE = "above", "pause when above"


class QualityGate(models.Model):
    """Pause a rater whose ``signal`` is strictly below (or above) ``threshold`` once it
    rests on at least ``min_judgments`` judgments. A value equal to the threshold passes."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="quality_gates")
    signal = models.CharField(max_length=30, choices=GateSignal)
    comparison = models.CharField(max_length=10, choices=GateComparison)
    threshold = models.FloatField()
    min_judgments = models.PositiveIntegerField(default=10)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["signal", "comparison"]
        constraints = [
            models.UniqueConstraint(fields=["project", "signal", "comparison"],
                                    name="qualitygate_unique_signal"),
        ]

    def __str__(self) -> str:
        return f"{self.get_signal_display()} {self.get_comparison_display()} {self.threshold:g}"


class GateTrip(models.Model):
    """One time a gate paused a rater; ``resolved_at`` is set when the rater is resumed.
    After a resume the same gate trips again only on ``min_judgments`` more evidence."""

    gate = models.ForeignKey(QualityGate, on_delete=models.CASCADE, related_name="trips")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="+")
    value = models.FloatField()
    n = models.PositiveIntegerField()
    tripped_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.gate} tripped for rater {self.rater_id} at {self.value:g} (n={self.n})"


class Notification(models.Model):
    """A banner for the project's leads on the project page until someone dismisses it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="notifications")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30)
    message = models.CharField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "dismissed_at"], name="notification_open")]

    def __str__(self) -> str:
        return self.message
