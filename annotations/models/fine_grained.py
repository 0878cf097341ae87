"""Fine-grained annotation: the lead's configuration and the raters' submissions.

A fine-grained project (``Project.kind`` fine_grained or both) asks each rater to mark spans of
one item's text with categories (optionally with a severity), rate it on a few attributes
with a Likert scale, optionally give an overall rating, flag that something is missing, and
explain. One submission is one :class:`Annotation` with its :class:`Rating` and :class:`Span`
rows, written in one transaction under the rater's idempotency key.

Span offsets are Unicode code point indices into ``Item.content`` as stored (what Python
slicing uses), ``end`` exclusive; the text is never normalized (NFC/NFD) on the way.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from annotations.models.judgment import Assignment
from annotations.models.project import Item, Project, RationaleMode


class FineGrainedConfig(models.Model):
    """What the lead configures beyond the span categories and the rating attributes."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE,
                                   related_name="fine_grained_config")
    overall_low = models.SmallIntegerField(null=True, blank=True,
                                           help_text="Lowest overall rating; empty: no overall.")
    overall_high = models.SmallIntegerField(null=True, blank=True)
    overall_descriptors = models.JSONField(default=list, blank=True,
                                           help_text="One descriptor per overall level.")
    missing_flag = models.BooleanField(default=True,
                                       help_text='Offer a "something is missing" flag.')
    rationale = models.CharField(max_length=10, choices=RationaleMode,
                                 default=RationaleMode.OPTIONAL)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(overall_low__isnull=True, overall_high__isnull=True)
                           | Q(overall_low__lt=F("overall_high"))),
                name="fine_config_overall_scale"),
        ]

    def __str__(self) -> str:
        return f"fine-grained settings of {self.project}"

    @property
    def has_overall(self) -> bool:
        return self.overall_low is not None

    @property
    def overall_levels(self) -> list[tuple[int, str]]:
        if not self.has_overall:
            return []
        values = range(self.overall_low, self.overall_high + 1)
        descriptors = list(self.overall_descriptors) + [""] * len(values)
        return list(zip(values, descriptors, strict=False))


class SpanCategory(models.Model):
    """A kind of problem (or merit) a rater marks in the text, with its key and colour."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE,
                                related_name="span_categories")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    color = models.CharField(max_length=7, help_text="#rrggbb")
    key = models.CharField(max_length=1, help_text="Keyboard shortcut (one character).")
    severities = models.JSONField(default=list, blank=True,
                                  help_text="Severity levels, mildest first; empty for none.")

    class Meta:
        ordering = ["project", "position"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="span_category_unique_name"),
            models.UniqueConstraint(fields=["project", "key"], name="span_category_unique_key"),
        ]

    def __str__(self) -> str:
        return self.name


class RatingAttribute(models.Model):
    """A criterion rated on a Likert scale ``scale_low..scale_high`` with level descriptors."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE,
                                related_name="rating_attributes")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    scale_low = models.SmallIntegerField()
    scale_high = models.SmallIntegerField()
    descriptors = models.JSONField(default=list, blank=True,
                                   help_text="One descriptor per level, lowest first.")

    class Meta:
        ordering = ["project", "position"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"],
                                    name="rating_attribute_unique_name"),
            models.CheckConstraint(condition=Q(scale_low__lt=F("scale_high")),
                                   name="rating_attribute_scale"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def levels(self) -> list[tuple[int, str]]:
        values = range(self.scale_low, self.scale_high + 1)
        descriptors = list(self.descriptors) + [""] * len(values)
        return list(zip(values, descriptors, strict=False))


class Annotation(models.Model):
    """One rater's fine-grained judgment of one item (ratings and spans hang off it)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotations")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="annotations")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="annotations")
    assignment = models.OneToOneField(Assignment, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="annotation")
    skipped = models.BooleanField(default=False)
    overall_rating = models.SmallIntegerField(null=True, blank=True)
    missing = models.BooleanField(default=False, help_text="Something is missing.")
    missing_note = models.TextField(blank=True)
    rationale = models.TextField(blank=True)
    active_seconds = models.FloatField(help_text="Time the rater spent active on this task.")
    guideline_version = models.PositiveIntegerField()
    selection_strategy = models.CharField(max_length=50)
    selection_probability = models.FloatField(null=True, blank=True)
    idempotency_key = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rater", "idempotency_key"],
                                    name="annotation_unique_idempotency_key"),
            models.UniqueConstraint(fields=["rater", "item"], name="annotation_unique_rater_item"),
        ]
        indexes = [
            models.Index(fields=["project", "item"], name="annotation_project_item"),
            models.Index(fields=["project", "created_at"], name="annotation_project_time"),
        ]

    def __str__(self) -> str:
        return f"annotation {self.pk} of item {self.item_id} by {self.rater_id}"


class Rating(models.Model):
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="ratings")
    attribute = models.ForeignKey(RatingAttribute, on_delete=models.PROTECT,
                                  related_name="ratings")
    value = models.SmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["annotation", "attribute"],
                                    name="rating_unique_attribute"),
        ]

    def __str__(self) -> str:
        return f"{self.attribute_id}={self.value}"


class Span(models.Model):
    """Characters ``start <= i < end`` (code points) of the item's text, marked by a rater."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="spans")
    category = models.ForeignKey(SpanCategory, on_delete=models.PROTECT, related_name="spans")
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    severity = models.CharField(max_length=100, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["start", "end", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(start__lt=F("end")), name="span_not_empty"),
        ]

    def __str__(self) -> str:
        return f"[{self.start}, {self.end}) {self.category_id}"


class AnnotationDraft(models.Model):
    """Work in progress, saved while the rater works and restored on reload; deleted in the
    transaction that stores the submission."""

    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="annotation_drafts")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rater", "item"], name="draft_unique_rater_item"),
        ]

    def __str__(self) -> str:
        return f"draft of item {self.item_id} by {self.rater_id}"

