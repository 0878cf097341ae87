"""Krippendorff's alpha (published worked example, NLTK as a peer) and span agreement."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest

from modeling.agreement import (
    krippendorff_alpha,
    span_agreement,
    span_agreement_pairwise,
)

CODINGS = (Path(__file__).resolve().parent.parent / "data" / "krippendorff_alpha_reliability"
           / "codings.csv")


def load_codings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The worked example: no header, rows = observers, columns = units, empty = missing.

    Returns long-format units, observers and values.
    """
    with CODINGS.open(newline="") as stream:
        rows = list(csv.reader(stream))
    cells = [(unit, observer, float(cell)) for observer, row in enumerate(rows)
             for unit, cell in enumerate(row) if cell.strip()]
    units, observers, values = zip(*cells, strict=True)
    return np.array(units), np.array(observers), np.array(values)


# --- Krippendorff (2011) worked example --------------------------------------------------------

def test_nominal_alpha_is_exactly_904_over_1216() -> None:
    units, _, values = load_codings()
    fit = krippendorff_alpha(units, values, level="nominal")
    assert fit.alpha == pytest.approx(904 / 1216, rel=1e-12)
    assert round(fit.alpha, 3) == 0.743
    # 12 units, one of them with a single value (dropped); 40 pairable values
    assert fit.n_units == 11
    assert fit.n_values == 40
    # Evalica reports the unnormalised sums: observed 8.0, expected 31.179487
    assert fit.observed_disagreement * fit.n_values == pytest.approx(8.0)
    assert fit.expected_disagreement * fit.n_values == pytest.approx(31.179487, abs=1e-6)
    assert fit.coincidences.sum() == pytest.approx(40)
    np.testing.assert_allclose(fit.coincidences, fit.coincidences.T)


@pytest.mark.parametrize(("level", "published"),
                         [("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)])
def test_other_levels_match_published_values(level: str, published: float) -> None:
    units, _, values = load_codings()
    fit = krippendorff_alpha(units, values, level=level)
    assert fit.level == level
    assert round(fit.alpha, 3) == published


def test_alpha_does_not_depend_on_row_order_or_lone_values() -> None:
    units, _, values = load_codings()
    reference = krippendorff_alpha(units, values, level="interval").alpha
    order = np.random.default_rng(0).permutation(len(units))
    assert krippendorff_alpha(units[order], values[order],
                              level="interval").alpha == pytest.approx(reference)
    # a unit coded once has no pairable value and is dropped
    extra = krippendorff_alpha(np.r_[units, 99], np.r_[values, 5.0], level="interval")
    assert extra.alpha == pytest.approx(reference)
    assert extra.n_units == 11


@pytest.mark.parametrize("level", ["nominal", "interval"])
def test_agrees_with_nltk_on_random_data_with_missing_values(level: str) -> None:
    from nltk.metrics.agreement import AnnotationTask
    from nltk.metrics.distance import binary_distance, interval_distance

    rng = np.random.default_rng(4)
    units, coders = np.meshgrid(np.arange(60), np.arange(5), indexing="ij")
    truth = rng.integers(1, 6, size=60)
    values = np.where(rng.random((60, 5)) < 0.7, truth[:, None],
                      rng.integers(1, 6, size=(60, 5)))
    kept = rng.random((60, 5)) < 0.75  # about a quarter missing
    units, coders, values = units[kept], coders[kept], values[kept]
    paired = np.bincount(units, minlength=60)[units] >= 2  # NLTK needs pairable units
    distance = binary_distance if level == "nominal" else interval_distance
    peer = AnnotationTask(data=list(zip(coders[paired], units[paired],
                                        values[paired].tolist(), strict=True)),
                          distance=distance).alpha()
    ours = krippendorff_alpha(units, values.astype(float), level=level).alpha
    assert ours == pytest.approx(peer, abs=1e-9)


def test_brute_force_pair_definition_for_ordinal() -> None:
    # D_o and D_e from every ordered pair of values, straight from the definition
    units, _, values = load_codings()
    fit = krippendorff_alpha(units, values, level="ordinal")
    kept = np.bincount(units)[units] >= 2
    units, values = units[kept], values[kept]
    distinct = np.unique(values)
    counts = np.array([(values == value).sum() for value in distinct])

    def delta2(c: float, k: float) -> float:
        low, high = sorted((int(np.searchsorted(distinct, c)), int(np.searchsorted(distinct, k))))
        return (counts[low:high + 1].sum() - (counts[low] + counts[high]) / 2) ** 2 if low != high \
            else 0.0

    observed = sum(delta2(values[i], values[j]) / (np.sum(units == units[i]) - 1)
                   for i, j in itertools.permutations(range(len(values)), 2)
                   if units[i] == units[j]) / len(values)
    expected = sum(delta2(values[i], values[j])
                   for i, j in itertools.permutations(range(len(values)), 2)) \
        / (len(values) * (len(values) - 1))
    assert fit.observed_disagreement == pytest.approx(observed)
    assert fit.expected_disagreement == pytest.approx(expected)


def test_perfect_agreement_and_no_variation() -> None:
    units = np.repeat(np.arange(4), 3)
    agreed = krippendorff_alpha(units, np.repeat([1.0, 2.0, 3.0, 2.0], 3), level="interval")
    assert agreed.alpha == pytest.approx(1.0)
    constant = krippendorff_alpha(units, np.ones(12), level="nominal")
    assert np.isnan(constant.alpha)  # undefined: no variation to be reliable about


def test_ratio_treats_a_pair_of_zeros_as_agreement() -> None:
    fit = krippendorff_alpha(np.array([0, 0, 1, 1, 2, 2]), np.array([0.0, 0.0, 2.0, 2.0, 4.0, 4.0]),
                             level="ratio")
    assert fit.alpha == pytest.approx(1.0)


@pytest.mark.parametrize(("units", "values", "level", "message"), [
    ([0, 1, 2], [1.0, 2.0, 3.0], "nominal", "two or more values"),
    ([0, 0], [1.0, np.nan], "interval", "finite"),
    ([0, 0], [1.0, -2.0], "ratio", "non-negative"),
    ([0, 0], [1.0, 2.0], "cardinal", "level"),
    ([0, 0, 1], [1.0, 2.0], "nominal", "same length"),
])
def test_alpha_rejects_bad_input(units: list, values: list, level: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        krippendorff_alpha(np.array(units), np.array(values), level=level)


# --- span agreement ------------------------------------------------------------------------------

def test_span_f1_per_category_and_micro() -> None:
    rater_a = [(0, 10, 0), (20, 30, 1)]
    rater_b = [(5, 10, 0), (20, 30, 1), (40, 44, 2)]
    fit = span_agreement(rater_a, rater_b)
    # category 0: A covers 10 chars, B 5, overlap 5 -> 2*5/15
    np.testing.assert_allclose(fit.f1, [10 / 15, 1.0, 0.0])
    np.testing.assert_array_equal(fit.overlap, [5, 10, 0])
    np.testing.assert_array_equal(fit.chars_a, [10, 10, 0])
    np.testing.assert_array_equal(fit.chars_b, [5, 10, 4])
    assert fit.micro_f1 == pytest.approx(2 * 15 / (20 + 19))
    assert fit.macro_f1 == pytest.approx((10 / 15 + 1.0 + 0.0) / 3)


def test_overlapping_spans_count_each_character_once() -> None:
    fit = span_agreement([(0, 6, 0), (4, 10, 0)], [(0, 10, 0)])
    assert fit.chars_a[0] == 10
    assert fit.f1[0] == pytest.approx(1.0)


def test_spans_of_different_categories_do_not_match() -> None:
    fit = span_agreement([(0, 10, 0)], [(0, 10, 1)], n_categories=3)
    np.testing.assert_allclose(fit.f1[:2], [0.0, 0.0])
    assert np.isnan(fit.f1[2])  # nobody used category 2
    assert fit.micro_f1 == 0.0


def test_end_is_exclusive() -> None:
    fit = span_agreement([(0, 5, 0)], [(5, 10, 0)])
    assert fit.overlap[0] == 0
    assert fit.chars_a[0] == 5


def test_no_spans_at_all() -> None:
    fit = span_agreement([], [], n_categories=2)
    assert np.isnan(fit.f1).all()
    assert np.isnan(fit.micro_f1)
    assert np.isnan(fit.macro_f1)


def test_pairwise_average_over_raters() -> None:
    raters = [[(0, 10, 0)], [(0, 10, 0)], [(5, 10, 0), (12, 14, 1)]]
    fit = span_agreement_pairwise(raters)
    pairs = [span_agreement(raters[i], raters[j], n_categories=2)
             for i, j in [(0, 1), (0, 2), (1, 2)]]
    assert fit.n_pairs == 3
    assert fit.micro_f1 == pytest.approx(np.mean([pair.micro_f1 for pair in pairs]))
    assert fit.f1[0] == pytest.approx(np.mean([pair.f1[0] for pair in pairs]))
    # category 1 was used in the two pairs with rater 2 only; both score 0
    assert fit.f1[1] == 0.0
    assert fit.pair_micro_f1[0, 1] == pytest.approx(1.0)
    assert fit.pair_micro_f1[1, 0] == fit.pair_micro_f1[0, 1]
    assert np.isnan(fit.pair_micro_f1[0, 0])


@pytest.mark.parametrize("spans", [[(5, 3, 0)], [(-1, 3, 0)], [(0, 3, -1)], [(0, 3)],
                                   [(0, 3, 0), (1, 2)]])
def test_malformed_spans_are_rejected(spans: list) -> None:
    with pytest.raises(ValueError, match="spans"):
        span_agreement(spans, [])


def test_pairwise_needs_two_raters() -> None:
    with pytest.raises(ValueError, match="two raters"):
        span_agreement_pairwise([[(0, 1, 0)]])
