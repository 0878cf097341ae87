"""Inter-rater agreement: Krippendorff's alpha and character-level span agreement.

Pure numpy: these statistics are one pass over the data, with no iteration to speed up.

References
----------
K. Krippendorff (2011). Computing Krippendorff's alpha-reliability. Annenberg School for
Communication, University of Pennsylvania. https://repository.upenn.edu/asc_papers/43
K. Krippendorff (2004). Content Analysis: An Introduction to Its Methodology, 2nd ed., ch. 11.

Examples
--------
>>> import numpy as np
>>> units = np.array([0, 0, 1, 1, 2, 2])
>>> values = np.array([1.0, 1.0, 2.0, 2.0, 1.0, 2.0])
>>> round(krippendorff_alpha(units, values, level="nominal").alpha, 4)
0.4444
>>> spans_a = [(0, 10, 0), (20, 30, 1)]
>>> spans_b = [(5, 10, 0), (20, 30, 1)]
>>> span_agreement(spans_a, spans_b, n_categories=2).f1.round(3).tolist()
[0.667, 1.0]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True, eq=False)
class AlphaResult:
    """Krippendorff's alpha with the quantities it is computed from.

    Attributes
    ----------
    alpha : float
        ``1 - observed_disagreement / expected_disagreement``; NaN when the pairable values
        show no variation at all (expected disagreement 0), where alpha is undefined.
    level : str
        Metric: nominal, ordinal, interval or ratio.
    observed_disagreement, expected_disagreement : float
        Krippendorff's D_o = sum_ck o_ck delta2_ck / n and
        D_e = sum_ck n_c n_k delta2_ck / (n (n - 1)).
    n_units : int
        Units with at least two values (the pairable units; others are dropped).
    n_values : int
        Pairable values n (values in those units).
    values : (V,) array
        The distinct values, sorted; rows and columns of ``coincidences``.
    coincidences : (V, V) float array
        Krippendorff's coincidence matrix o_ck (sums to n).
    """

    alpha: float
    level: str
    observed_disagreement: float
    expected_disagreement: float
    n_units: int
    n_values: int
    values: np.ndarray
    coincidences: np.ndarray


def krippendorff_alpha(units: np.ndarray, values: np.ndarray, *,
                       level: Level = "nominal") -> AlphaResult:
    """Krippendorff's alpha from long-format data, via the coincidence matrix.

    Parameters
    ----------
    units : int array
        Unit (task) code of each value. Missing data are simply absent rows; units with
        fewer than two values carry no pairable information and are dropped.
    values : array of the same length
        The values assigned. Any codes for ``"nominal"``; numbers for the other levels
        (non-negative for ``"ratio"``).
    level : {"nominal", "ordinal", "interval", "ratio"}
        The difference function (Krippendorff 2011, section D).

    Raises
    ------
    ValueError
        Unknown level, unequal lengths, non-finite or (ratio) negative values, or no unit
        with two values.
    """
    units, values = np.asarray(units), np.asarray(values)
    _check_alpha_input(units, values, level)
    distinct, value_codes = np.unique(values, return_inverse=True)
    coincidences, n_units = _coincidences(units, value_codes.ravel(), len(distinct))
    totals = coincidences.sum(axis=1)
    n = totals.sum()
    delta2 = _delta2(distinct, totals, level)
    observed = float((coincidences * delta2).sum() / n)
    expected = float((np.outer(totals, totals) * delta2).sum() / (n * (n - 1)))
    alpha = 1.0 - observed / expected if expected > 0 else float("nan")
    return AlphaResult(alpha=alpha, level=level, observed_disagreement=observed,
                       expected_disagreement=expected, n_units=n_units,
                       n_values=round(float(n)), values=distinct, coincidences=coincidences)


def _check_alpha_input(units: np.ndarray, values: np.ndarray, level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if units.ndim != 1 or units.shape != values.shape:
        raise ValueError("units and values must be 1-d arrays of the same length")
    if not np.issubdtype(units.dtype, np.integer):
        raise ValueError(f"units must be integer codes, got dtype {units.dtype}")
    if level != "nominal":
        if not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"{level} alpha needs numeric values, got dtype {values.dtype}")
        if not np.isfinite(values).all():
            raise ValueError("values must be finite numbers")
        if level == "ratio" and (values < 0).any():
            raise ValueError("ratio alpha needs non-negative values")


def _coincidences(units: np.ndarray, value_codes: np.ndarray,
                  n_distinct: int) -> tuple[np.ndarray, int]:
    """o_ck = sum over units of n_uc (n_uk - [c == k]) / (m_u - 1), on pairable units.

    Works on the distinct (unit, value) cells, pairing the cells of each unit with each
    other, so the cost grows with the number of labels, never with units x values.
    """
    cells, cell_counts = np.unique(units.astype(np.int64) * n_distinct + value_codes,
                                   return_counts=True)
    cell_unit, cell_value = np.divmod(cells, n_distinct)
    unit_starts = np.flatnonzero(np.r_[True, cell_unit[1:] != cell_unit[:-1]])
    unit_sizes = np.diff(np.r_[unit_starts, len(cells)])  # distinct values per unit
    unit_values = np.add.reduceat(cell_counts, unit_starts)  # m_u
    pairable = unit_values >= 2
    if not pairable.any():
        raise ValueError("no unit has two or more values: alpha needs pairable values")
    # every ordered pair (i, j) of cells within a unit
    cell_block = np.repeat(np.arange(len(unit_starts)), unit_sizes)
    n_partners = unit_sizes[cell_block]
    first = np.repeat(np.arange(len(cells)), n_partners)
    block_of_pair = cell_block[first]
    offset = np.arange(len(first)) - np.repeat(np.cumsum(n_partners) - n_partners, n_partners)
    second = unit_starts[block_of_pair] + offset
    weight = (cell_counts[first] * (cell_counts[second] - (first == second))
              / np.maximum(unit_values[block_of_pair] - 1, 1))
    weight[~pairable[block_of_pair]] = 0.0
    coincidences = np.bincount(cell_value[first] * n_distinct + cell_value[second],
                               weights=weight, minlength=n_distinct * n_distinct)
    return coincidences.reshape(n_distinct, n_distinct), int(pairable.sum())


def _delta2(distinct: np.ndarray, totals: np.ndarray, level: str) -> np.ndarray:
    """Squared difference function delta^2_ck between the sorted distinct values."""
    if level == "nominal":
        return 1.0 - np.eye(len(distinct))
    if level == "ordinal":
        # (sum of n_g for g from c to k) - (n_c + n_k) / 2, over the ranks of the values used
        cumulative = np.cumsum(totals)
        between = np.abs(cumulative[:, None] - cumulative[None, :])
        low = np.minimum(np.arange(len(totals))[:, None], np.arange(len(totals))[None, :])
        span = between + totals[low] - (totals[:, None] + totals[None, :]) / 2
        return np.where(np.eye(len(totals), dtype=bool), 0.0, span) ** 2
    numbers = distinct.astype(np.float64)
    difference = numbers[:, None] - numbers[None, :]
    if level == "interval":
        return difference**2
    total = numbers[:, None] + numbers[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, difference / np.where(total > 0, total, 1), 0.0) ** 2


@dataclass(frozen=True, eq=False)
class SpanAgreement:
    """Character-level agreement between two raters' spans of one text.

    Attributes
    ----------
    f1 : (n_categories,) float array
        Per category, 2 |A & B| / (|A| + |B|) over the characters each rater covered with that
        category; NaN when neither rater used the category.
    overlap : (n_categories,) int array
        Characters both raters covered with the category (|A & B|).
    chars_a, chars_b : (n_categories,) int arrays
        Characters each rater covered with the category (overlapping spans count once).
    micro_f1 : float
        2 sum |A & B| / (sum |A| + sum |B|) over categories; NaN when nobody marked anything.
    """

    f1: np.ndarray
    overlap: np.ndarray
    chars_a: np.ndarray
    chars_b: np.ndarray
    micro_f1: float

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the categories that at least one rater used (NaN if none)."""
        used = ~np.isnan(self.f1)
        return float(self.f1[used].mean()) if used.any() else float("nan")


def span_agreement(spans_a: Sequence[Sequence[int]] | np.ndarray,
                   spans_b: Sequence[Sequence[int]] | np.ndarray, *,
                   n_categories: int | None = None) -> SpanAgreement:
    """Character-level F1 per category between two raters' span sets on the same text.

    Parameters
    ----------
    spans_a, spans_b : sequences of (start, end, category)
        Character offsets with ``end`` exclusive and integer category codes; spans may
        overlap (a character counts once per category) and either set may be empty.
    n_categories : int, optional
        Number of category codes; defaults to the largest code used plus one.
    """
    coverage_a, coverage_b = _coverage_pair(_spans_array(spans_a), _spans_array(spans_b),
                                            n_categories)
    overlap = (coverage_a & coverage_b).sum(axis=1)
    chars_a, chars_b = coverage_a.sum(axis=1), coverage_b.sum(axis=1)
    marked = chars_a + chars_b
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * overlap / marked
    micro = 2 * overlap.sum() / marked.sum() if marked.sum() else float("nan")
    return SpanAgreement(f1=f1, overlap=overlap, chars_a=chars_a, chars_b=chars_b,
                         micro_f1=float(micro))


@dataclass(frozen=True, eq=False)
class PairwiseSpanAgreement:
    """Span agreement averaged over every pair of raters of one text.

    Attributes
    ----------
    f1 : (n_categories,) float array
        Per category, the mean F1 over the rater pairs in which the category was used
        (NaN when no pair used it).
    micro_f1 : float
        Mean over pairs of each pair's micro-F1 (pairs where neither marked anything are
        left out; NaN when that is every pair).
    pair_micro_f1 : (n_raters, n_raters) float array
        Micro-F1 of each pair (symmetric; NaN on the diagonal and for empty pairs).
    n_pairs : int
        Number of rater pairs, n_raters (n_raters - 1) / 2.
    """

    f1: np.ndarray
    micro_f1: float
    pair_micro_f1: np.ndarray
    n_pairs: int


def span_agreement_pairwise(spans_by_rater: Sequence[Sequence[Sequence[int]] | np.ndarray], *,
                            n_categories: int | None = None) -> PairwiseSpanAgreement:
    """Average `span_agreement` over all pairs of at least two raters of the same text."""
    spans = [_spans_array(rater_spans) for rater_spans in spans_by_rater]
    if len(spans) < 2:
        raise ValueError("pairwise span agreement needs at least two raters")
    if n_categories is None:
        n_categories = max((int(s[:, 2].max()) + 1 for s in spans if len(s)), default=0)
    pairs = list(itertools.combinations(range(len(spans)), 2))
    fits = [span_agreement(spans[i], spans[j], n_categories=n_categories) for i, j in pairs]
    matrix = np.full((len(spans), len(spans)), np.nan)
    for (i, j), fit in zip(pairs, fits, strict=True):
        matrix[i, j] = matrix[j, i] = fit.micro_f1
    f1_by_pair = np.array([fit.f1 for fit in fits]).reshape(len(pairs), n_categories)
    micro = np.array([fit.micro_f1 for fit in fits])
    return PairwiseSpanAgreement(f1=_nanmean(f1_by_pair), micro_f1=float(_nanmean(micro)),
                                 pair_micro_f1=matrix, n_pairs=len(pairs))


def _nanmean(array: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN, NaN where a column has no number (no warning)."""
    defined = ~np.isnan(array)
    count = defined.sum(axis=0)
    total = np.where(defined, array, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _spans_array(spans: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    try:
        array = np.asarray(spans, dtype=np.int64)
    except (TypeError, ValueError):
        raise ValueError("spans must be (start, end, category) triples of integers") from None
    if array.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError("spans must be (start, end, category) triples")
    start, end, category = array.T
    if (start < 0).any() or (end < start).any() or (category < 0).any():
        raise ValueError("spans need 0 <= start <= end and category codes >= 0")
    return array


def _coverage_pair(spans_a: np.ndarray, spans_b: np.ndarray,
                   n_categories: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (n_categories, text_length) masks of the characters each rater covered."""
    both = np.concatenate([spans_a, spans_b])
    used = int(both[:, 2].max()) + 1 if len(both) else 0
    if n_categories is None:
        n_categories = used
    elif used > n_categories:
        raise ValueError(f"category code {used - 1} is out of range for "
                         f"n_categories = {n_categories}")
    length = int(both[:, 1].max()) if len(both) else 0
    return (_coverage(spans_a, n_categories, length),
            _coverage(spans_b, n_categories, length))


def _coverage(spans: np.ndarray, n_categories: int, length: int) -> np.ndarray:
    """Mark span starts +1 and ends -1 per category; a running sum > 0 is covered."""
    steps = np.zeros((n_categories, length + 1), dtype=np.int64)
    np.add.at(steps, (spans[:, 2], spans[:, 0]), 1)
    np.add.at(steps, (spans[:, 2], spans[:, 1]), -1)
    return np.cumsum(steps, axis=1)[:, :length] > 0
