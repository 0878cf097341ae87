"""Gold questions for pairwise projects: pairs with a known answer, served now and then.

A gold pair is two ordinary items of the project with the expected outcome. Serving draws a
gold pair the rater has not judged with probability ``GoldSettings.rate`` (the assignment
records the strategy ``gold``; the rater sees an ordinary task). Gold accuracy counts every
live, non-skip judgment of a gold pair, however it was served: the winner must be the
expected item (or the outcome a tie when a tie is expected).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from annotations.models.project import Item, Project


class GoldQuestion(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="gold_questions")
    item_low = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    item_high = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    expected_winner = models.ForeignKey(Item, null=True, blank=True, on_delete=models.CASCADE,
                                        related_name="+", help_text="Empty: a tie is expected.")
    explanation = models.TextField(blank=True, help_text="For leads; never shown to raters.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "item_low", "item_high"],
                                    name="goldquestion_unique_pair"),
            models.CheckConstraint(condition=Q(item_low__lt=F("item_high")),
                                   name="goldquestion_pair_ordered"),
        ]

    def __str__(self) -> str:
        return f"gold pair {self.item_low_id}/{self.item_high_id}"


class GoldSettings(models.Model):
    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="gold_settings")
    rate = models.FloatField(default=0.1, help_text="Share of served tasks that are gold pairs.")

    def __str__(self) -> str:
        return f"gold rate {self.rate:.0%} in {self.project}"
