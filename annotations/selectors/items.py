"""Reads of items: the prompt a pair is shown under, and the lead's item browser."""

from __future__ import annotations

from annotations.models import Assignment


def pair_prompt(assignment: Assignment) -> str:
    """The prompt shown above a pair: the same whichever item is on the left. Imports keep
    one prompt per group; for items imported before that rule, the prompt of the item
    imported first (the lower id) is the group's."""
    left, right = assignment.left_item, assignment.right_item
    first = left if right is None or left.pk < right.pk else right
    return first.prompt
