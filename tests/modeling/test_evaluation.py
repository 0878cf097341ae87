"""Cross-validated predictive evaluation of pairwise models."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from modeling.bradley_terry import fit_bradley_terry
from modeling.evaluation import (
    calibration_bins,
    compare_models,
    cross_validate,
    default_variants,
    fold_assignment,
    learning_curve,
    log_loss_difference,
    pairwise_metrics,
    predict_outcomes,
)


def simulate(n_items: int, n_comparisons: int, *, seed: int, position_bias: float = 0.0,
             tie_parameter: float | None = None, spread: float = 1.0) -> dict:
    """Comparisons from Bradley-Terry (or Davidson when ``tie_parameter``), with a known
    position effect for the item shown on the left."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0.0, spread, n_items)
    left = rng.integers(0, n_items, n_comparisons)
    right = (left + rng.integers(1, n_items, n_comparisons)) % n_items
    shown = rng.random(n_comparisons) < 0.5
    delta = scores[left] - scores[right] + position_bias * np.where(shown, 1.0, -1.0)
    if tie_parameter is None:
        p_left, p_tie = 1.0 / (1.0 + np.exp(-delta)), np.zeros(n_comparisons)
    else:
        norm = np.exp(delta / 2) + np.exp(-delta / 2) + tie_parameter
        p_left, p_tie = np.exp(delta / 2) / norm, tie_parameter / norm
    draw = rng.random(n_comparisons)
    outcome = np.where(draw < p_left, 1, np.where(draw < p_left + p_tie, 0, -1))
    return {"left": left, "right": right, "outcome": outcome, "left_shown": shown,
            "scores": scores}


def test_fold_assignment_is_a_seeded_near_equal_partition():
    folds = fold_assignment(103, 5, seed=4)
    assert sorted(np.bincount(folds).tolist()) == [20, 20, 21, 21, 21]
    np.testing.assert_array_equal(folds, fold_assignment(103, 5, seed=4))
    assert not np.array_equal(folds, fold_assignment(103, 5, seed=5))
    with pytest.raises(ValueError, match="n_folds must be between 2"):
        fold_assignment(3, 5)


def test_pairwise_metrics_score_ties_as_half_and_skip_them_in_accuracy():
    p_left = np.array([0.8, 0.3, 0.5, 0.6])
    outcome = np.array([1, 1, -1, 0])
    metrics = pairwise_metrics(p_left, outcome)
    expected_loss = -(math.log(0.8) + math.log(0.3) + math.log(0.5)
                      + 0.5 * math.log(0.6) + 0.5 * math.log(0.4)) / 4
    assert metrics.log_loss == pytest.approx(expected_loss)
    assert metrics.accuracy == pytest.approx((1 + 0 + 0.5) / 3)  # 0.5 counts half; tie skipped
    assert metrics.brier == pytest.approx((0.04 + 0.49 + 0.25 + 0.01) / 4)
    assert metrics.n_decisive == 3
    assert metrics.outcome_log_loss is None  # a half-win model gives the tie no probability


def test_pairwise_metrics_use_the_tie_probability_when_the_model_has_one():
    p_left, p_tie = np.array([0.5, 0.2]), np.array([0.3, 0.4])
    metrics = pairwise_metrics(p_left, np.array([0, -1]), p_tie=p_tie)
    assert metrics.outcome_log_loss == pytest.approx(-(math.log(0.3) + math.log(0.4)) / 2)
    expected = np.array([0.65, 0.4])  # P(left) + P(tie) / 2
    loss = -(0.5 * math.log(0.65) + 0.5 * math.log(0.35) + math.log(0.6)) / 2
    assert metrics.log_loss == pytest.approx(loss)
    assert metrics.brier == pytest.approx(((expected - [0.5, 0.0]) ** 2).mean())


def test_weights_count_as_repeated_comparisons():
    weighted = pairwise_metrics(np.array([0.7, 0.4]), np.array([1, 1]), weights=np.array([3, 1]))
    repeated = pairwise_metrics(np.array([0.7, 0.7, 0.7, 0.4]), np.array([1, 1, 1, 1]))
    assert weighted.log_loss == pytest.approx(repeated.log_loss)
    assert weighted.accuracy == pytest.approx(repeated.accuracy)
    assert weighted.n == 4


def test_calibration_bins_and_expected_calibration_error():
    predicted = np.array([0.05, 0.15, 0.12, 0.95, 1.0])
    observed = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    calibration = calibration_bins(predicted, observed, n_bins=10)
    first, second, last = calibration.bins[0], calibration.bins[1], calibration.bins[9]
    assert (first.count, first.mean_predicted, first.observed) == (1, 0.05, 0.0)
    assert second.count == 2
    assert second.mean_predicted == pytest.approx(0.135)
    assert second.observed == pytest.approx(0.5)
    assert last.count == 2  # 1.0 falls in the closed last bin
    assert math.isnan(calibration.bins[4].mean_predicted)
    ece = (1 * 0.05 + 2 * abs(0.135 - 0.5) + 2 * abs(0.975 - 1.0)) / 5
    assert calibration.expected_calibration_error == pytest.approx(ece)


def test_true_model_family_beats_the_constant_predictor_and_is_calibrated():
    data = simulate(40, 3000, seed=1, spread=1.2)
    rows = compare_models(data["left"], data["right"], data["outcome"], 40,
                          {"Bradley-Terry": {}}, alpha=1.0, n_folds=5, seed=0)
    constant, model = rows
    assert constant.log_loss == pytest.approx(math.log(2))
    difference, se = log_loss_difference(model, constant)
    assert difference < -0.05
    assert difference < -5 * se
    assert model.accuracy > 0.65
    assert model.brier < constant.brier
    # a well-specified model: every well-filled bin lies near the diagonal
    for calibration_bin in model.calibration.bins:
        if calibration_bin.count >= 100:
            tolerance = 3 * math.sqrt(0.25 / calibration_bin.count) + 0.02
            assert abs(calibration_bin.mean_predicted - calibration_bin.observed) < tolerance
    assert model.expected_calibration_error < 0.04
    assert len(model.expected_score) == 3000


def test_position_bias_model_wins_on_data_with_a_position_bias():
    data = simulate(30, 3000, seed=2, position_bias=0.7)
    rows = compare_models(data["left"], data["right"], data["outcome"], 30,
                          left_shown=data["left_shown"], alpha=1.0, baseline=False)
    names = [row.name for row in rows]
    assert names == ["Bradley-Terry", "position bias"]
    plain, biased = rows
    difference, se = log_loss_difference(biased, plain)
    assert difference < -4 * se
    assert biased.accuracy > plain.accuracy


def test_position_bias_does_not_help_without_one():
    data = simulate(30, 2000, seed=3)
    plain, biased = compare_models(data["left"], data["right"], data["outcome"], 30,
                                   left_shown=data["left_shown"], alpha=1.0, baseline=False)
    difference, se = log_loss_difference(biased, plain)
    assert abs(difference) < max(3 * se, 0.005)


def test_davidson_predicts_ties_and_is_scored_on_them():
    data = simulate(20, 2000, seed=5, tie_parameter=1.2)
    rows = compare_models(data["left"], data["right"], data["outcome"], 20, alpha=1.0,
                          baseline=False)
    assert [row.name for row in rows] == ["Bradley-Terry", "Davidson ties"]
    half, davidson = rows
    assert half.outcome_log_loss is None
    assert davidson.outcome_log_loss is not None
    assert davidson.outcome_log_loss < math.log(3)  # beats a uniform three-way guess
    assert davidson.options == {"alpha": 1.0, "ties": "davidson"}


def test_items_unseen_in_training_get_the_prior_score():
    data = simulate(10, 400, seed=6)
    left, right, outcome = data["left"], data["right"], data["outcome"]
    left[0], right[0] = 10, 0  # item 10 appears in exactly one comparison
    fits = []

    def recording_fit(*args, **options):
        fits.append(fit_bradley_terry(*args, **options))
        return fits[-1]

    result = cross_validate(left, right, outcome, 11, alpha=1.0, fit=recording_fit)
    held_out_fold = fold_assignment(400, 5, seed=0)[0]
    unseen = fits[held_out_fold]
    assert unseen.scores[10] == pytest.approx(0.0, abs=1e-8)
    assert result.expected_score[0] == pytest.approx(1 / (1 + math.exp(unseen.scores[0])))


def test_crowd_bt_prediction_is_the_raters_answer():
    result = SimpleNamespace(rater_reliability=np.array([1.0, 0.5, 0.2]), tie_parameter=None,
                             thresholds=None)

    def predict(_result, left, right, left_shown=None):
        p = np.full(len(left), 0.9)
        return np.stack([p, 0 * p, 1 - p], axis=1)

    p_left, p_tie = predict_outcomes(result, np.zeros(4, int), np.ones(4, int),
                                     rater=np.array([0, 1, 2, 7]), predict=predict)
    np.testing.assert_allclose(p_left, [0.9, 0.5, 0.2 * 0.9 + 0.8 * 0.1, 0.9])
    assert p_tie is None


def test_crowd_bt_variant_runs_with_raters():
    data = simulate(15, 1200, seed=7)
    rater = np.random.default_rng(0).integers(0, 6, 1200)
    flipped = rater == 5  # one rater answers at random
    data["outcome"][flipped] = np.random.default_rng(1).choice([-1, 1], flipped.sum())
    assert set(default_variants(left_shown=False, rater=True, ties=False)) == {
        "Bradley-Terry", "Crowd-BT"}
    rows = compare_models(data["left"], data["right"], data["outcome"], 15, rater=rater,
                          alpha=1.0, baseline=False)
    plain, crowd = rows
    assert crowd.name == "Crowd-BT"
    assert crowd.log_loss <= plain.log_loss + 0.01


def test_learning_curve_improves_with_more_training_data():
    data = simulate(60, 2400, seed=8, spread=1.5)
    points = learning_curve(data["left"], data["right"], data["outcome"], 60, alpha=1.0)
    assert [p.fraction for p in points] == [0.25, 0.5, 0.75, 1.0]
    assert [p.n_train for p in points] == [480, 960, 1440, 1920]
    assert points[-1].log_loss < points[0].log_loss - 0.01
    assert all(p.log_loss < math.log(2) for p in points)


def test_mismatched_columns_are_rejected():
    with pytest.raises(ValueError, match="left_shown has 2 entries for 3 comparisons"):
        cross_validate([0, 1, 2], [1, 2, 0], [1, 1, -1], 3, left_shown=[True, False])
