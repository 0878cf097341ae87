"""Projects, their members and the items they judge."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ProjectKind(models.TextChoices):
    PAIRWISE = "pairwise", "Pairwise comparison"
    FINE_GRAINED = "fine_grained", "Fine-grained annotation"
    BOTH = "both", "Pairwise and fine-grained"


class RationaleMode(models.TextChoices):
    OFF = "off", "Off"
    OPTIONAL = "optional", "Optional"
    REQUIRED = "required", "Required"


class RankingMode(models.TextChoices):
    """Whether a pairwise project also serves k-way rankings (annotations/models/ranking.py)."""

    OFF = "off", "Off: pairs only"
    ALONGSIDE = "alongside", "Rankings alongside pairs"
    ONLY = "only", "Rankings instead of pairs"


RANKING_SIZES = (3, 6)  # the k a lead may choose
MAX_RANKING_OVERLAP = 50


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    kind = models.CharField(max_length=20, choices=ProjectKind, default=ProjectKind.PAIRWISE)
    instructions = models.TextField(blank=True, help_text="Markdown; sanitized when shown.")
    criteria = models.JSONField(default=list, blank=True,
                                help_text="Names of the criteria judged per pair.")
    allow_ties = models.BooleanField(default=True)
    allow_both_bad = models.BooleanField(default=False)
    strength_scale = models.JSONField(
        default=list, blank=True,
        help_text="Labels of the preference strength levels, weakest first; empty for none.",
    )
    rationale = models.CharField(max_length=10, choices=RationaleMode, default=RationaleMode.OFF)
    guideline_version = models.PositiveIntegerField(default=1)
    fit_every_n = models.PositiveIntegerField(
        default=20, help_text="Refit the models after this many new judgments."
    )
    ranking_mode = models.CharField(
        max_length=10, choices=RankingMode, default=RankingMode.OFF,
        help_text="Pairwise projects only: also (or instead) serve rankings of k responses "
                  "of one group.")
    ranking_size = models.PositiveSmallIntegerField(
        default=4, help_text="k: responses per ranking (3 to 6); a group with fewer is ranked "
                             "whole.")
    ranking_overlap = models.PositiveSmallIntegerField(
        default=3, help_text="Raters per ranking task, at most (open leases count).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_pairwise(self) -> bool:
        return self.kind in (ProjectKind.PAIRWISE, ProjectKind.BOTH)

    @property
    def is_fine_grained(self) -> bool:
        return self.kind in (ProjectKind.FINE_GRAINED, ProjectKind.BOTH)

    @property
    def serves_rankings(self) -> bool:
        return self.is_pairwise and self.ranking_mode != RankingMode.OFF

    @property
    def serves_pairs(self) -> bool:
        return self.is_pairwise and self.ranking_mode != RankingMode.ONLY

    @property
    def has_strength(self) -> bool:
        return bool(self.strength_scale)


class Role(models.TextChoices):
    LEAD = "lead", "Lead"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"


class MembershipStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    BLOCKED = "blocked", "Blocked"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships")
    role = models.CharField(max_length=10, choices=Role)
    status = models.CharField(max_length=10, choices=MembershipStatus,
                              default=MembershipStatus.ACTIVE)
    status_reason = models.CharField(max_length=500, blank=True)
    excluded_from_fits = models.BooleanField(
        default=False, help_text="Keep this rater's judgments, but leave them out of fits and "
                                 "exports (annotations.selectors.fits.LIVE_JUDGMENT).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"


class Item(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=255)
    group = models.CharField(max_length=255, db_column="item_group",
                             help_text="Items in one group answer the same prompt; pairs are "
                                       "drawn within a group.")
    source = models.CharField(max_length=255, help_text="Who produced it, e.g. a model name.")
    prompt = models.TextField(blank=True)
    content = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"],
                                    name="item_unique_external_id"),
        ]
        indexes = [
            models.Index(fields=["project", "group"], name="item_project_group"),
            models.Index(fields=["project", "source"], name="item_project_source"),
        ]

    def __str__(self) -> str:
        return self.external_id
