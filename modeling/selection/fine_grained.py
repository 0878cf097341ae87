"""Which fine-grained item should the next rater annotate, and when an item is done.

An item's uncertainty is what the fits say about it: for categorical labels the entropy of
its Dawid-Skene posterior (averaged over its tasks, e.g. one per rated attribute), for
severity-corrected scores (many-facet Rasch) its standard error. Uncertainty sampling gives
the next rater the most uncertain item; **adaptive overlap** stops an item once its label
is confident (posterior maximum at least ``confidence``) or its standard error is at most a
target, never before ``min_overlap`` annotations and never after ``max_overlap``. Items
with fewer than ``min_overlap`` annotations come first (their uncertainty is not measured
yet), the fewest annotated first.

Example
-------
>>> import numpy as np
>>> posteriors = np.array([[0.98, 0.02], [0.6, 0.4], [0.5, 0.5]])
>>> plan = plan_items(uncertainty=posterior_entropy(posteriors), counts=np.array([3, 3, 1]),
...                   open_items=~confident_labels(posteriors, 0.95), size=2, min_overlap=2,
...                   max_overlap=5)
>>> plan.items.tolist()
[2, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class ItemPlan:
    """Items in the order to serve them, their uncertainty and the plan's probability of
    each (their share of the plan's slots)."""

    items: np.ndarray
    uncertainty: np.ndarray
    slots: np.ndarray
    probability: np.ndarray


def posterior_entropy(posteriors: ArrayLike) -> np.ndarray:
    """Entropy (nats) of each row of a (tasks, classes) posterior matrix."""
    p = np.clip(np.asarray(posteriors, dtype=float), 1e-300, 1.0)
    return -(p * np.log(p)).sum(axis=1)


def item_entropy(task_item: ArrayLike, posteriors: ArrayLike, n_items: int) -> np.ndarray:
    """Mean posterior entropy of each item's tasks (e.g. one task per attribute); NaN for an
    item without tasks."""
    item = np.asarray(task_item, dtype=np.int64)
    entropy = posterior_entropy(posteriors)
    totals = np.bincount(item, weights=entropy, minlength=n_items)
    counts = np.bincount(item, minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, totals / counts, np.nan)


def confident_labels(posteriors: ArrayLike, confidence: float) -> np.ndarray:
    """True where the most probable class has at least ``confidence`` posterior mass."""
    return np.asarray(posteriors, dtype=float).max(axis=1) >= confidence


def confident_items(task_item: ArrayLike, posteriors: ArrayLike, n_items: int,
                    confidence: float) -> np.ndarray:
    """An item is confident when every one of its tasks is."""
    item = np.asarray(task_item, dtype=np.int64)
    unsure = np.bincount(item, weights=~confident_labels(posteriors, confidence),
                         minlength=n_items)
    counts = np.bincount(item, minlength=n_items)
    return (counts > 0) & (unsure == 0)


def adaptive_open(counts: ArrayLike, confident: ArrayLike, *, min_overlap: int,
                  max_overlap: int) -> np.ndarray:
    """Items that still want annotations: below ``min_overlap``, or below ``max_overlap``
    and not confident."""
    counts, confident = np.asarray(counts), np.asarray(confident, dtype=bool)
    if not 1 <= min_overlap <= max_overlap:
        raise ValueError("need 1 <= min_overlap <= max_overlap")
    return (counts < min_overlap) | ((counts < max_overlap) & ~confident)


def plan_items(*, uncertainty: ArrayLike, counts: ArrayLike, open_items: ArrayLike, size: int,
               min_overlap: int, max_overlap: int) -> ItemPlan:
    """Up to ``size`` open items: first those below ``min_overlap`` (fewest annotations
    first), then by uncertainty, highest first. Each gets the slots it may still take
    (``max_overlap`` - count, capped by what remains of ``size``)."""
    uncertainty = np.nan_to_num(np.asarray(uncertainty, dtype=float), nan=np.inf)
    counts = np.asarray(counts, dtype=np.int64)
    candidates = np.flatnonzero(np.asarray(open_items, dtype=bool))
    under = counts[candidates] < min_overlap
    order = np.lexsort((-uncertainty[candidates], counts[candidates], ~under))
    ranked = candidates[order]
    room = np.minimum(np.where(counts[ranked] < min_overlap, min_overlap, max_overlap)
                      - counts[ranked], max_overlap - counts[ranked])
    slots, total = [], 0
    for extra in room:
        take = int(min(max(extra, 0), size - total))
        slots.append(take)
        total += take
    slots_array = np.asarray(slots, dtype=np.int64)
    keep = slots_array > 0
    ranked, slots_array = ranked[keep], slots_array[keep]
    probability = slots_array / slots_array.sum() if slots_array.sum() else slots_array * 0.0
    return ItemPlan(ranked, uncertainty[ranked], slots_array, probability)
