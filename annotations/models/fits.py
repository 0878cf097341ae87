"""Model fits as recorded runs, and the results that belong to each run.

A :class:`FitRun` is one fit of one model ``kind`` to a project's data as of
``data_version`` (the highest id of the rows that kind reads: judgments for Bradley-Terry)
and ``data_digest`` (count and id sum of the usable rows up to it, which changes when a
judgment is undone, a review rejects one or a rater is excluded from fits, none of which
adds an id). (project, kind, data_version, data_digest) is unique, so asking twice for the
same fit is a no-op. The
results (item, source and rater scores) are written together with the flip to
``succeeded`` in one transaction; readers take the latest succeeded run of a kind, so they
never see a half-written run and the previous results stay visible until a newer run lands.

The framework is generic: each kind of fit is one module in ``annotations/fit_kinds/``
(registered there in ``KINDS``), which keeps its extra per-item or per-rater numbers in
the ``details`` JSON of the score rows and its summaries in ``FitRun.metrics`` (their
shapes: ``modeling/reports/types.py``).
"""

from __future__ import annotations

import enum

from django.conf import settings
from django.db import models

from annotations.models.project import Item, Project


class FitKind(enum.StrEnum):
    """Ids of the built-in kinds, for code that names one. The list of kinds (with their
    labels) is the registry, ``annotations.fit_kinds.KINDS``."""

    BRADLEY_TERRY = "bradley_terry"
    DAWID_SKENE = "dawid_skene"
    FACETS = "facets"


class FitStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded"  # skipped: a run on newer data was queued


class FitTrigger(models.TextChoices):
    AUTO = "auto", "Automatic"  # after project.fit_every_n new judgments
    MANUAL = "manual", "Manual"  # the lead's "Refit now" button or the `fit` command


INTERNAL_ERROR = "Internal error"  # how a failure that is a bug (not the data's) is recorded
ACTIVE_FIT_STATUSES = (FitStatus.QUEUED, FitStatus.RUNNING)
FINISHED_FIT_STATUSES = (FitStatus.SUCCEEDED, FitStatus.FAILED, FitStatus.SUPERSEDED)


class FitRun(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="fit_runs")
    kind = models.CharField(max_length=30, help_text="A kind in annotations.fit_kinds.KINDS.")
    options = models.JSONField(default=dict, blank=True,
                               help_text="Hyperparameters (ties, alpha, position_bias, ...).")
    data_version = models.BigIntegerField(
        help_text="The highest id of the rows this kind reads (judgments for Bradley-Terry) "
                  "when the run was requested; the fit reads rows up to it.")
    data_digest = models.CharField(
        max_length=64, default="", blank=True,
        help_text="Count and id sum of the usable rows up to data_version (undone, rejected "
                  "and excluded rows change it without a new id).")
    n_data = models.PositiveIntegerField(
        null=True, blank=True, help_text="Rows the fit used (e.g. judgments, skips excluded).")
    status = models.CharField(max_length=12, choices=FitStatus, default=FitStatus.QUEUED)
    trigger = models.CharField(max_length=10, choices=FitTrigger)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True,
                                       help_text="Last time the task was sent to the broker.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="Wall time of the last attempt.")
    device = models.CharField(max_length=40, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    n_iter = models.PositiveIntegerField(null=True, blank=True)
    converged = models.BooleanField(null=True, blank=True)
    log_likelihood = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True,
                               help_text="Kind-specific summaries: timings, position bias, "
                                         "cross-validated evaluation, ...")
    warnings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0,
                                                help_text="Deliveries of the task so far.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "kind", "data_version", "data_digest"],
                                    name="fitrun_unique_data_version"),
        ]
        indexes = [
            models.Index(fields=["project", "kind", "status", "data_version"],
                         name="fitrun_current"),
            models.Index(fields=["status", "enqueued_at"], name="fitrun_stale"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} fit {self.pk} of project {self.project_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_FIT_STATUSES

    @property
    def failed_internally(self) -> bool:
        """Failed by a bug (logged with its traceback), not by what the data support."""
        return self.status == FitStatus.FAILED and self.error.startswith(INTERNAL_ERROR)


class ItemScore(models.Model):
    """An item's score in a run; ``rating``/``lower``/``upper`` on the 400-point scale,
    ``score``/``se`` on the model's own scale. ``details`` holds kind-specific numbers."""

    run = models.ForeignKey(FitRun, on_delete=models.CASCADE, related_name="item_scores")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()
    se = models.FloatField(null=True, blank=True)
    rating = models.FloatField(null=True, blank=True)
    lower = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    rank = models.PositiveIntegerField(null=True, blank=True, help_text="Rank by upper bound.")
    n = models.FloatField(default=0)
    wins = models.FloatField(default=0)
    losses = models.FloatField(default=0)
    ties = models.FloatField(default=0)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "item"], name="itemscore_unique_item"),
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} in run {self.run_id}: {self.score:.3f}"

    @property
    def plus(self) -> float | None:
        return None if self.upper is None or self.rating is None else self.upper - self.rating

    @property
    def minus(self) -> float | None:
        return None if self.lower is None or self.rating is None else self.rating - self.lower


class SourceScore(models.Model):
    """A source's (e.g. a model's) Arena-style entry: rating with +plus/-minus (95 %),
    rank by upper bound and vote counts."""

    run = models.ForeignKey(FitRun, on_delete=models.CASCADE, related_name="source_scores")
    source = models.CharField(max_length=255)
    score = models.FloatField()
    se = models.FloatField(null=True, blank=True)
    rating = models.FloatField()
    lower = models.FloatField()
    upper = models.FloatField()
    rank_ub = models.PositiveIntegerField()
    n = models.FloatField(default=0)
    wins = models.FloatField(default=0)
    losses = models.FloatField(default=0)
    ties = models.FloatField(default=0)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-rating"]
        constraints = [
            models.UniqueConstraint(fields=["run", "source"], name="sourcescore_unique_source"),
        ]

    def __str__(self) -> str:
        return f"{self.source} in run {self.run_id}: {self.rating:.0f}"

    @property
    def plus(self) -> float:
        return self.upper - self.rating

    @property
    def minus(self) -> float:
        return self.rating - self.lower


class RaterScore(models.Model):
    """A rater's quality in a run. Bradley-Terry: ``reliability`` is Crowd-BT's eta (the
    probability of answering by the model rather than flipping). Other kinds keep their own
    numbers in ``details`` (e.g. severity, infit, outfit, accuracy) and may set
    ``reliability`` to their headline measure; ``flagged`` marks raters below the bar."""

    run = models.ForeignKey(FitRun, on_delete=models.CASCADE, related_name="rater_scores")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="+")
    reliability = models.FloatField(null=True, blank=True)
    n = models.PositiveIntegerField(default=0)
    flagged = models.BooleanField(default=False)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "rater"], name="raterscore_unique_rater"),
        ]

    def __str__(self) -> str:
        return f"rater {self.rater_id} in run {self.run_id}: {self.reliability}"
