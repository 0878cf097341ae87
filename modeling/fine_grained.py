"""Summaries for fine-grained annotation: many-facet Rasch scores on the original rating
scale, Krippendorff's alpha per criterion and span agreement per item.

Pure numpy/torch on integer codes (no Django); :mod:`modeling.reports.fine_grained` turns
long-format annotations into these arrays and the summaries into reports.

Scales with unused categories are squeezed as the Facets program does by default: the
observed values are renumbered 0..K'-1 in order (a category nobody used has no finite
threshold), and scores are mapped back to the original values, so a corrected score is
always on the scale the raters saw.

Examples
--------
>>> import numpy as np
>>> codes, used = squeeze_scale(np.array([1, 3, 3, 5]), low=1, high=5)
>>> codes.tolist(), used.tolist()
([0, 1, 1, 2], [1, 3, 5])
>>> round(float(expected_scores(np.array([0.0]), np.array([0.0, 0.0]), used)[0]), 3)
3.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from modeling.agreement import krippendorff_alpha, span_agreement_pairwise
from modeling.errors import ModelError

Z_95 = 1.959963984540054


def squeeze_scale(values: np.ndarray, *, low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..K'-1 of ``values`` over the observed values, and those values (sorted)."""
    values = np.asarray(values, dtype=np.int64)
    if values.size and (values.min() < low or values.max() > high):
        raise ValueError(f"ratings must be on the scale {low}..{high}")
    used = np.unique(values)
    if used.size < 2:
        raise ModelError(f"every rating is {int(used[0]) if used.size else 'missing'}: a "
                         "rating model needs at least two different values")
    return np.searchsorted(used, values), used


def expected_scores(eta: np.ndarray, thresholds: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Expected rating on the original scale at logit ``eta`` under one set of Rasch-Andrich
    ``thresholds`` (K'-1 of them) for categories worth ``values`` (K')."""
    eta = np.asarray(eta, dtype=np.float64)
    tau = np.concatenate([[0.0], np.cumsum(np.asarray(thresholds, dtype=np.float64))])
    steps = np.arange(tau.size, dtype=np.float64)
    logits = eta.reshape(-1, 1) * steps - tau
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    return (prob @ np.asarray(values, dtype=np.float64)).reshape(eta.shape)


@dataclass(frozen=True, eq=False)
class FacetsSummary:
    """A many-facet Rasch fit with severity-corrected scores on the original scale.

    ``item_corrected[i]``: expected rating of item i by a rater of severity 0 on a criterion
    of difficulty 0 (thresholds averaged over criteria in the partial-credit form), with
    ``item_low``/``item_high`` the same at the measure -/+ 1.96 SE. ``cell_*`` are the same
    per (item, criterion) at ``measure - difficulty``, the interval from the item's SE
    only. Raw means are of the original values. ``fit`` is the underlying FacetsResult.
    """

    fit: object
    values: np.ndarray
    unused_values: list[int]
    item_raw_mean: np.ndarray
    item_corrected: np.ndarray
    item_low: np.ndarray
    item_high: np.ndarray
    cell_raw_mean: np.ndarray  # (n_items, n_criteria)
    cell_corrected: np.ndarray
    cell_low: np.ndarray
    cell_high: np.ndarray
    cell_n: np.ndarray


def facets_summary(items: np.ndarray, raters: np.ndarray, criteria: np.ndarray,
                   values: np.ndarray, *, n_items: int, n_raters: int, n_criteria: int,
                   low: int, high: int, form: str = "rating-scale",
                   fit_bounds: tuple[float, float] = (0.5, 1.5),
                   device: str | None = None) -> FacetsSummary:
    """Fit the many-facet Rasch model (facets: item, rater, criterion) to ratings on
    ``low..high`` and express item scores on that scale."""
    from modeling.facets import fit_facets

    codes, used = squeeze_scale(values, low=low, high=high)
    fit = fit_facets(items, raters, criteria, codes, n_items=n_items, n_raters=n_raters,
                     n_criteria=n_criteria, categories=(0, used.size - 1), form=form,
                     fit_bounds=fit_bounds, device=device)
    thresholds = np.asarray(fit.thresholds, dtype=np.float64)
    mean_thresholds = thresholds.mean(axis=0)
    measure, se = np.asarray(fit.item_measure), np.asarray(fit.item_se)
    difficulty = np.nan_to_num(np.asarray(fit.criterion_difficulty))
    cell_raw, cell_n = _cell_means(items, criteria, values, n_items, n_criteria)
    cells = [_interval(measure - difficulty[c], se, thresholds[c if form == "partial-credit"
                                                               else 0], used)
             for c in range(n_criteria)]
    item_corrected, item_low, item_high = _interval(measure, se, mean_thresholds, used)
    n = np.bincount(items, minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.bincount(items, weights=values, minlength=n_items) / n
    return FacetsSummary(
        fit=fit, values=used, unused_values=sorted(set(range(low, high + 1)) - set(used.tolist())),
        item_raw_mean=raw, item_corrected=item_corrected, item_low=item_low,
        item_high=item_high, cell_raw_mean=cell_raw,
        cell_corrected=np.stack([cell[0] for cell in cells], axis=1),
        cell_low=np.stack([cell[1] for cell in cells], axis=1),
        cell_high=np.stack([cell[2] for cell in cells], axis=1), cell_n=cell_n)


def _interval(measure: np.ndarray, se: np.ndarray, thresholds: np.ndarray,
              values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    defined = np.isfinite(measure)
    safe = np.where(defined, measure, 0.0)
    half = np.where(np.isfinite(se), Z_95 * se, np.nan)
    point = np.where(defined, expected_scores(safe, thresholds, values), np.nan)
    lower = np.where(defined & np.isfinite(half),
                     expected_scores(safe - np.nan_to_num(half), thresholds, values), np.nan)
    upper = np.where(defined & np.isfinite(half),
                     expected_scores(safe + np.nan_to_num(half), thresholds, values), np.nan)
    return point, lower, upper


def _cell_means(items: np.ndarray, criteria: np.ndarray, values: np.ndarray, n_items: int,
                n_criteria: int) -> tuple[np.ndarray, np.ndarray]:
    cell = np.asarray(items) * n_criteria + np.asarray(criteria)
    n = np.bincount(cell, minlength=n_items * n_criteria)
    total = np.bincount(cell, weights=values, minlength=n_items * n_criteria)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return mean.reshape(n_items, n_criteria), n.reshape(n_items, n_criteria)


def alpha_by_criterion(units: np.ndarray, criteria: np.ndarray, values: np.ndarray, *,
                       n_criteria: int, level: str = "ordinal") -> list[tuple[float, int] | None]:
    """Krippendorff's alpha of each criterion's ratings (units: the items), with the number
    of pairable units; ``None`` where no item has two ratings on that criterion."""
    units, criteria, values = (np.asarray(a) for a in (units, criteria, values))
    results: list[tuple[float, int] | None] = []
    for criterion in range(n_criteria):
        mask = criteria == criterion
        try:
            fit = krippendorff_alpha(units[mask], values[mask].astype(np.float64), level=level)
        except ValueError:
            results.append(None)
        else:
            results.append((fit.alpha, fit.n_units))
    return results


@dataclass(frozen=True, eq=False)
class SpanAgreementSummary:
    """Pairwise character-level span agreement per item (items with two or more raters).

    ``item_micro_f1``: item id -> mean micro-F1 over rater pairs (NaN when no pair marked
    anything); ``category_f1``: mean over items of each category's pairwise F1 (NaN where
    never used); ``micro_f1``: mean of the items' micro-F1 values that are defined.
    """

    item_micro_f1: dict[int, float]
    category_f1: np.ndarray
    micro_f1: float
    n_items: int


def span_agreement_by_item(spans: Mapping[int, Sequence[np.ndarray]], *,
                           n_categories: int) -> SpanAgreementSummary:
    """``spans``: item id -> one (n, 3) array of (start, end, category) per rater of it."""
    per_item: dict[int, float] = {}
    by_category = []
    for item, rater_spans in spans.items():
        if len(rater_spans) < 2:
            continue
        fit = span_agreement_pairwise(list(rater_spans), n_categories=n_categories)
        per_item[item] = fit.micro_f1
        by_category.append(fit.f1)
    table = np.array(by_category).reshape(len(by_category), n_categories)
    with np.errstate(invalid="ignore"):
        counts = (~np.isnan(table)).sum(axis=0)
        category = np.where(counts > 0, np.nansum(table, axis=0) / np.maximum(counts, 1),
                            np.nan)
    defined = [value for value in per_item.values() if np.isfinite(value)]
    micro = float(np.mean(defined)) if defined else float("nan")
    return SpanAgreementSummary(per_item, category, micro, len(per_item))
